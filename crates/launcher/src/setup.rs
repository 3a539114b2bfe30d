//! Walk the plan's `SetupOp`s in order inside the namespace init, while it
//! still holds its capabilities in the new user namespace.

use nix::errno::Errno;
use nix::unistd::sethostname;
use script_sandbox_spec::{LauncherEvent, SetupOp, CONTROL_FD};

use crate::error::{Step, StepError, StepResult};
use crate::mounts::Mounts;
use crate::{fds, net, spec_io};

pub fn run(ops: &[SetupOp]) -> StepResult<()> {
    let mut mounts = Mounts::new();
    for op in ops {
        run_one(op, &mut mounts)?;
    }
    mounts.check_complete()
}

fn run_one(op: &SetupOp, mounts: &mut Mounts) -> StepResult<()> {
    match op {
        SetupOp::LoopbackUp => net::loopback_up(),
        SetupOp::NftRuleset {
            nft,
            ruleset,
            table,
        } => {
            let listing = net::load_nft(nft, ruleset, table)?;
            spec_io::report(&LauncherEvent::RulesetLoaded { listing });
            Ok(())
        }
        SetupOp::AwaitEgress => await_egress(),
        SetupOp::Hostname { name } => {
            sethostname(name).step(&format!("hostname {name}"), "sethostname")
        }
        SetupOp::NewRoot => mounts.new_root(),
        SetupOp::Bind {
            source,
            dest,
            readonly,
        } => mounts.bind(source, dest, *readonly),
        SetupOp::Tmpfs { dest, size_bytes } => mounts.tmpfs(dest, *size_bytes),
        SetupOp::Proc { dest } => mounts.proc(dest),
        SetupOp::Dev { dest } => mounts.dev(dest),
        SetupOp::FinishRoot => mounts.finish_root(),
    }
}

/// Tell the supervisor the filter is in place, then wait for its go-ahead
/// (egress attached). End of file means the supervisor gave up.
fn await_egress() -> StepResult<()> {
    let step = "await egress";
    if !spec_io::report(&LauncherEvent::EgressWait) {
        return Err(Errno::EPIPE).step(step, "report egressWait");
    }
    match fds::read_byte(CONTROL_FD) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(StepError::msg(
            step,
            "control pipe closed before the go-ahead",
        )),
        Err(e) => Err(e).step(step, "read control fd"),
    }
}
