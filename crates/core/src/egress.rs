//! Rootless egress: attach slirp4netns to a run's network namespace once
//! the launcher has loaded the nftables filter, and stop it with the run.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::plan::EgressPlan;

/// How long slirp4netns may take to configure the tap device.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// fds slirp4netns sees for its ready and exit pipes.
const READY_FD: i32 = 3;
const EXIT_FD: i32 = 4;

/// A running slirp4netns; dropping `exit_w` tells it to exit.
pub struct EgressHandle {
    child: Child,
    exit_w: Option<OwnedFd>,
}

impl EgressHandle {
    /// Ask slirp4netns to exit, then make sure it did.
    pub async fn stop(mut self) {
        self.exit_w.take();
        let mut child = self.child;
        let _ = tokio::task::spawn_blocking(move || {
            for _ in 0..100 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        })
        .await;
    }
}

fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

fn above_ten(fd: &OwnedFd) -> io::Result<OwnedFd> {
    fd.try_clone().and_then(|f| {
        // SAFETY: fcntl on an fd we own.
        let n = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            // SAFETY: fresh fd.
            Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(n) })
        }
    })
}

/// The argv for one attachment (exposed for inspection and tests).
pub fn slirp_args(plan: &EgressPlan, pid: i32) -> Vec<String> {
    vec![
        "--configure".into(),
        format!("--mtu={}", plan.mtu),
        "--disable-host-loopback".into(),
        format!("--ready-fd={READY_FD}"),
        format!("--exit-fd={EXIT_FD}"),
        pid.to_string(),
        "tap0".into(),
    ]
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
    let ready_w_hi = above_ten(&ready_w).map_err(|e| io_err("dup", e))?;
    let exit_r_hi = above_ten(&exit_r).map_err(|e| io_err("dup", e))?;
    drop((ready_w, exit_r));
    let fds = [
        (ready_w_hi.as_raw_fd(), READY_FD),
        (exit_r_hi.as_raw_fd(), EXIT_FD),
    ];

    let mut cmd = Command::new(&plan.slirp4netns);
    cmd.args(slirp_args(plan, pid))
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: only async-signal-safe calls (prctl, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            for (from, to) in fds {
                if libc::dup2(from, to) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| io_err(&format!("cannot start {}", plan.slirp4netns), e))?;
    drop(cmd);
    drop((ready_w_hi, exit_r_hi));

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
        let _ = child.kill();
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        let _ = child.wait();
        let why = if rc == 0 {
            "timed out waiting for it to become ready".to_string()
        } else {
            "it exited before becoming ready".to_string()
        };
        let detail = stderr.trim();
        return Err(if detail.is_empty() {
            format!("slirp4netns: {why}")
        } else {
            format!("slirp4netns: {why}: {detail}")
        });
    }
    // slirp4netns logs to stderr while running; nobody reads it now.
    child.stderr.take();
    Ok(EgressHandle {
        child,
        exit_w: Some(exit_w),
    })
}
