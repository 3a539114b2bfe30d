//! The namespace init: waits for the launcher to finish its id maps, runs the
//! setup steps, forks the final child, then (with no capabilities left) reaps
//! every process of the run until the command itself exits. Its exit as PID 1
//! makes the kernel kill whatever the command left behind.

use std::os::fd::RawFd;

use nix::errno::Errno;
use script_sandbox_spec::{LaunchSpec, LauncherEvent, CONTROL_FD};

use crate::child::{self, Context};
use crate::error::{guard, StepError};
use crate::{caps, fds, ids, setup, spec_io};

/// Body of the namespace init; returns its exit status.
pub fn run(spec: &LaunchSpec, ctx: &Context, sync_r: RawFd) -> i32 {
    arm_death_signal();
    // The launcher writes one byte once the maps are in place; end of file
    // means it failed (and reported) or died. Either way, stop here. This
    // also covers a launcher that died before PDEATHSIG was armed.
    if !matches!(fds::read_byte(sync_r), Ok(Some(_))) {
        return 1;
    }
    let result = guard("init", || {
        if let (true, Some(map)) = (spec.namespaces.user, &spec.id_map) {
            ids::enter_mapped(map)?;
            // A credential change disarms the death signal: re-arm it, then
            // make sure the launcher did not die in between (it keeps its
            // end of the sync pipe open for as long as it lives).
            arm_death_signal();
        }
        if fds::peer_closed(sync_r) {
            return Ok(1);
        }
        fds::close(sync_r);
        supervise(spec, ctx)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            spec_io::report_error(&e);
            1
        }
    }
}

fn arm_death_signal() {
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
}

fn supervise(spec: &LaunchSpec, ctx: &Context) -> Result<i32, StepError> {
    setup::run(&spec.setup)?;

    let init = init_pid();
    let (exec_r, exec_w) =
        fds::pipe().map_err(|e| StepError::sys("fork", "exec status pipe", e))?;
    // SAFETY: single-threaded; the child only runs our own code until exec.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(StepError::sys("fork", "fork the command", Errno::last()));
    }
    if pid == 0 {
        fds::close(exec_r);
        let err = match guard("exec", || Ok(child::run(&spec.process, ctx, init))) {
            Ok(e) | Err(e) => e,
        };
        spec_io::report_error(&err);
        // Tell the init the command never started, so it reports no exit.
        let _ = fds::write_byte(exec_w, 1);
        // SAFETY: leaving the forked child without running destructors.
        unsafe { libc::_exit(if err.step == "exec" { 127 } else { 1 }) };
    }
    fds::close(exec_w);

    // From here the init only waits: keep nothing the command could abuse.
    fds::close(CONTROL_FD);
    fds::detach_stdio();
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    // Defence in depth only (the command dropped its own capabilities and
    // cannot ptrace a non-dumpable init): a failure here changes nothing
    // the command can do, so it does not fail the run.
    let _ = caps::drop_bounding(None).and_then(|_| caps::clear_all());

    let failed_before_exec = matches!(fds::read_byte(exec_r), Ok(Some(_)));
    fds::close(exec_r);
    let status = reap_until(pid)?;
    if failed_before_exec {
        return Ok(1);
    }
    let event = if libc::WIFSIGNALED(status) {
        LauncherEvent::Exited {
            code: None,
            signal: Some(libc::WTERMSIG(status)),
        }
    } else {
        LauncherEvent::Exited {
            code: Some(libc::WEXITSTATUS(status)),
            signal: None,
        }
    };
    spec_io::report(&event);
    Ok(0)
}

fn init_pid() -> libc::pid_t {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

/// Reap every child (as PID 1 the init inherits all orphans) until `command`
/// is among them; return its wait status.
fn reap_until(command: libc::pid_t) -> Result<libc::c_int, StepError> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status of a reaped child.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == command {
            return Ok(status);
        }
        if pid < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                e => return Err(StepError::sys("init", "waitpid", e)),
            }
        }
    }
}
