//! The launcher process itself: read the spec, create the namespace init,
//! map its ids from outside, release it, and stay until it is gone so the
//! supervisor's handle on the run (our pid, our exit) stays meaningful.

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{geteuid, getppid, setgroups, Pid};
use script_sandbox_spec::{LaunchSpec, LauncherEvent, CONTROL_FD, STATUS_FD};

use crate::child::Context;
use crate::error::{guard, Step, StepError, StepResult};
use crate::namespaces::{clone_flags, clone_init, write_id_maps, Forked};
use crate::{fds, init, spec_io};

/// Exit status of the launcher: 0 when the command ran and its outcome was
/// reported, 1 otherwise.
pub fn run() -> i32 {
    // Die with the supervisor. Compare parents around the prctl: if ours
    // changed, the supervisor is already gone.
    let parent = getppid();
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
    if getppid() != parent {
        return 1;
    }
    // Keep the well-known numbers taken (the spec fd is checked on read).
    fds::reserve(&[0, 1, 2, STATUS_FD, CONTROL_FD]);
    // The command must never inherit the status or control pipe.
    let _ = fds::set_cloexec(STATUS_FD);
    let _ = fds::set_cloexec(CONTROL_FD);
    let result = guard("launcher", || {
        let spec = spec_io::read_spec()?;
        launch(&spec)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            spec_io::report_error(&e);
            1
        }
    }
}

fn launch(spec: &LaunchSpec) -> StepResult<i32> {
    if spec.clear_supplementary_groups {
        setgroups(&[]).step("setgroups", "clear the launcher's supplementary groups")?;
    }
    let ctx = Context {
        setgroups_denied: spec.namespaces.user && !geteuid().is_root(),
        own_session: spec.namespaces.pid,
    };
    let (sync_r, sync_w) = fds::pipe().step("clone", "sync pipe")?;
    let init_pid = match clone_init(clone_flags(&spec.namespaces)) {
        Ok(Forked::Child) => {
            fds::close(sync_w);
            let code = init::run(spec, &ctx, sync_r);
            // SAFETY: leave the init without running the launcher's atexit
            // handlers or destructors.
            unsafe { libc::_exit(code) }
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => {
            fds::close(sync_r);
            fds::close(sync_w);
            return Err(e);
        }
    };
    fds::close(sync_r);
    fds::close(CONTROL_FD);
    spec_io::report(&LauncherEvent::Started {
        pid: init_pid.as_raw(),
    });

    let released = (|| {
        if let (true, Some(map)) = (spec.namespaces.user, &spec.id_map) {
            write_id_maps(init_pid, map, ctx.setgroups_denied)?;
        }
        fds::write_byte(sync_w, 1).step("sync", "release the namespace init")
    })();
    // `sync_w` stays open while we live: the init checks it to know we are
    // still here after re-arming its death signal.
    if let Err(e) = released {
        spec_io::report_error(&e);
        let _ = kill(init_pid, Signal::SIGKILL);
        let _ = wait_for(init_pid);
        return Ok(1);
    }
    // Only the command should hold the run's stdio open.
    fds::detach_stdio();
    let status =
        wait_for(init_pid).map_err(|e| StepError::sys("wait", "waitpid namespace init", e))?;
    if libc::WIFEXITED(status) {
        return Ok(if libc::WEXITSTATUS(status) == 0 { 0 } else { 1 });
    }
    let signal = if libc::WIFSIGNALED(status) {
        libc::WTERMSIG(status)
    } else {
        0
    };
    spec_io::report_error(&StepError::msg(
        "init",
        format!("namespace init killed by signal {signal}"),
    ));
    Ok(1)
}

fn wait_for(pid: Pid) -> Result<libc::c_int, Errno> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the child's status.
        let r = unsafe { libc::waitpid(pid.as_raw(), &mut status, 0) };
        if r == pid.as_raw() {
            return Ok(status);
        }
        if r < 0 && Errno::last() != Errno::EINTR {
            return Err(Errno::last());
        }
    }
}
