//! Rootless egress: attach slirp4netns to a run's network namespace once
//! the launcher has loaded the nftables filter, and stop it with the run.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use crate::plan::EgressPlan;
use crate::spawn::{self, high_fd, SpawnSpec};

/// How long slirp4netns may take to configure the tap device.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopped slirp4netns may take to exit before it is killed
/// (closing a tap device waits on RCU in the kernel: tens of ms).
const EXIT_GRACE: Duration = Duration::from_secs(5);
/// fds slirp4netns sees for its ready and exit pipes.
const READY_FD: i32 = 3;
const EXIT_FD: i32 = 4;

/// A running slirp4netns. It exits when `exit_w` closes — when the run ends,
/// or when the supervisor dies, whichever is first.
pub struct EgressHandle {
    pid: libc::pid_t,
    exit_w: OwnedFd,
    /// Held open so a late log line cannot kill slirp4netns with SIGPIPE.
    stderr: OwnedFd,
}

impl EgressHandle {
    /// Tell slirp4netns to exit and reap it in the background: the run's
    /// result does not wait for the kernel to tear the tap device down.
    pub fn stop(self) {
        let EgressHandle {
            pid,
            exit_w,
            stderr,
        } = self;
        drop((exit_w, stderr));
        tokio::task::spawn_blocking(move || reap(pid));
    }
}

/// Wait for `pid`, killing it if it outstays `EXIT_GRACE`.
fn reap(pid: libc::pid_t) {
    let step = Duration::from_millis(5);
    let mut waited = Duration::ZERO;
    let mut status = 0;
    while waited < EXIT_GRACE {
        // SAFETY: non-blocking wait on our own child.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } != 0 {
            return;
        }
        std::thread::sleep(step);
        waited += step;
    }
    // SAFETY: our own unreaped child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, &mut status, 0);
    }
}

fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// The argv for one attachment (exposed for inspection and tests).
pub fn slirp_args(plan: &EgressPlan, pid: i32) -> Vec<String> {
    let mut args = vec![
        plan.slirp4netns.clone(),
        "--configure".into(),
        format!("--mtu={}", plan.mtu),
        "--disable-host-loopback".into(),
        // slirp4netns parses the script's packets outside the sandbox: it
        // gets a seccomp filter, and as root (where its own sandbox works:
        // a private mount namespace, capabilities dropped) that sandbox too.
        "--enable-seccomp".into(),
    ];
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        args.push("--enable-sandbox".into());
    }
    args.extend([
        format!("--ready-fd={READY_FD}"),
        format!("--exit-fd={EXIT_FD}"),
        pid.to_string(),
        "tap0".into(),
    ]);
    args
}

/// Start slirp4netns on `pid`'s namespaces and wait until it reports the
/// interface configured. Any failure is returned as a message; the caller
/// ends the run.
pub async fn attach(plan: &EgressPlan, pid: i32) -> Result<EgressHandle, String> {
    let plan = plan.clone();
    tokio::task::spawn_blocking(move || attach_blocking(&plan, pid))
        .await
        .map_err(|e| format!("slirp4netns attach task failed: {e}"))?
}

fn attach_blocking(plan: &EgressPlan, pid: i32) -> Result<EgressHandle, String> {
    let io_err = |what: &str, e: io::Error| format!("slirp4netns: {what}: {e}");
    let (ready_r, ready_w) = pipe_cloexec().map_err(|e| io_err("pipe", e))?;
    let (exit_r, exit_w) = pipe_cloexec().map_err(|e| io_err("pipe", e))?;
    let (err_r, err_w) = pipe_cloexec().map_err(|e| io_err("pipe", e))?;
    let high = |fd| high_fd(fd).map_err(|e| io_err("dup", e));
    let (ready_w, exit_r, err_w) = (high(ready_w)?, high(exit_r)?, high(err_w)?);
    let null = high(OwnedFd::from(
        std::fs::File::options()
            .write(true)
            .open("/dev/null")
            .map_err(|e| io_err("open /dev/null", e))?,
    ))?;

    let argv = slirp_args(plan, pid);
    let child = spawn::spawn(&SpawnSpec {
        program: &plan.slirp4netns,
        argv: &argv,
        env: &[],
        fds: &[
            (null.as_raw_fd(), 1),
            (err_w.as_raw_fd(), 2),
            (ready_w.as_raw_fd(), READY_FD),
            (exit_r.as_raw_fd(), EXIT_FD),
        ],
        stdin_null: true,
        cwd: None,
        new_group: true,
    })
    .map_err(|e| io_err(&format!("cannot start {}", plan.slirp4netns), e))?;
    drop((ready_w, exit_r, err_w, null));

    // Wait for "1" on the ready pipe, bounded by READY_TIMEOUT.
    let mut pfd = libc::pollfd {
        fd: ready_r.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: polling one valid fd.
    let rc = unsafe { libc::poll(&mut pfd, 1, READY_TIMEOUT.as_millis() as libc::c_int) };
    let mut byte = [0u8; 1];
    let ready = rc == 1
        && std::fs::File::from(ready_r)
            .read(&mut byte)
            .map(|n| n == 1 && byte[0] == b'1')
            .unwrap_or(false);
    if !ready {
        // SAFETY: our own unreaped child.
        unsafe { libc::kill(child, libc::SIGKILL) };
        reap(child);
        let mut stderr = String::new();
        let _ = std::fs::File::from(err_r)
            .take(4096)
            .read_to_string(&mut stderr);
        let why = if rc == 0 {
            "timed out waiting for it to become ready"
        } else {
            "it exited before becoming ready"
        };
        let detail = stderr.trim();
        return Err(if detail.is_empty() {
            format!("slirp4netns: {why}")
        } else {
            format!("slirp4netns: {why}: {detail}")
        });
    }
    // slirp4netns logs only a few lines at start-up, well under the pipe's
    // capacity; the pipe stays open until the run ends.
    Ok(EgressHandle {
        pid: child,
        exit_w,
        stderr: err_r,
    })
}
