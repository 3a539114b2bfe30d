//! The final child: restrict itself in a fixed order, then exec the command.
//!
//! Order matters: the bounding set is emptied while CAP_SETPCAP is still
//! held, the uid switch happens while CAP_SETUID is held, and only then are
//! the remaining capabilities cleared; no_new_privs precedes Landlock and
//! seccomp, and seccomp comes last because it refuses calls the earlier
//! steps make.

use nix::errno::Errno;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::unistd::{chdir, setsid};
use script_sandbox_spec::ProcessSpec;

use crate::error::{Step, StepError, StepResult};
use crate::{caps, exec, fds, ids, landlock, rlimits, seccomp};

/// Facts the launcher learned that the child needs.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The user namespace was created with setgroups "deny".
    pub setgroups_denied: bool,
    /// The run has its own PID namespace. Only then does the command get its
    /// own session: without one, the supervisor kills the run through the
    /// launcher's process group, which the command must stay in.
    pub own_session: bool,
}

/// Apply every restriction and exec. Returns only the error that stopped it.
/// `init` is the pid of the namespace init (our parent).
pub fn run(process: &ProcessSpec, ctx: &Context, init: libc::pid_t) -> StepError {
    match restrict(process, ctx, init) {
        Ok(()) => exec::exec(process),
        Err(e) => e,
    }
}

fn restrict(process: &ProcessSpec, ctx: &Context, init: libc::pid_t) -> StepResult<()> {
    reset_signals()?;
    if ctx.own_session {
        // No controlling terminal to inject keystrokes into (TIOCSTI).
        setsid().step("setsid", "setsid")?;
    }
    caps::clear_ambient()?;
    caps::drop_bounding(None)?;
    if let Some(ids) = &process.switch_to {
        ids::switch_to(ids, ctx.setgroups_denied)?;
    }
    caps::clear_all()?;
    // A credential change clears the death signal; set it afterwards.
    // SAFETY: prctl with integer arguments.
    if unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    } < 0
    {
        return Err(Errno::last()).step("pdeathsig", "prctl(PR_SET_PDEATHSIG)");
    }
    if nix::unistd::getppid().as_raw() != init {
        return Err(StepError::msg("pdeathsig", "the namespace init is gone"));
    }
    // Limits after the uid switch: RLIMIT_NPROC then governs what the
    // command forks, not whether the switch itself may happen.
    rlimits::apply(&process.rlimits)?;
    if let Some(cwd) = &process.cwd {
        chdir(cwd.as_str()).step(&format!("chdir {cwd}"), "chdir")?;
    }
    caps::set_no_new_privs()?;
    if let Some(rules) = &process.landlock {
        landlock::apply(rules)?;
    }
    fds::cloexec_from(3).step("fds", "mark inherited fds close-on-exec")?;
    if let Some(profile) = &process.seccomp {
        seccomp::install(profile)?;
    }
    Ok(())
}

/// Default dispositions and an empty mask: the Rust runtime ignores SIGPIPE,
/// and an ignored signal would otherwise survive into the command.
fn reset_signals() -> StepResult<()> {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: resetting a disposition to SIG_DFL; failures (the libc's
        // reserved real-time signals) are harmless.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .step("signals", "sigprocmask")
}
