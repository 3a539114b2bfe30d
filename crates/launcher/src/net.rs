//! Network setup inside the run's own network namespace: bring `lo` up, and
//! load the egress filter with the `nft` binary before any interface with a
//! route exists (fail closed: a ruleset that does not load aborts the run).

use std::ffi::CString;
use std::os::fd::RawFd;

use nix::errno::Errno;

use crate::caps;
use crate::error::{Step, StepError, StepResult};
use crate::fds;

/// `ip link set lo up`, with the two classic ioctls.
pub fn loopback_up() -> StepResult<()> {
    let step = "loopback";
    // SAFETY: creating a socket only to carry interface ioctls.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(Errno::last()).step(step, "socket(AF_INET)");
    }
    let result = (|| {
        // SAFETY: ifreq is plain data; zeroed is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        // SAFETY: SIOCGIFFLAGS fills ifr_flags of the ifreq we own.
        if unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS as _, &mut req) } < 0 {
            return Err(Errno::last()).step(step, "SIOCGIFFLAGS lo");
        }
        // SAFETY: the flags member is the one SIOCGIFFLAGS just filled.
        unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
        // SAFETY: SIOCSIFFLAGS reads the ifreq.
        if unsafe { libc::ioctl(sock, libc::SIOCSIFFLAGS as _, &req) } < 0 {
            return Err(Errno::last()).step(step, "SIOCSIFFLAGS lo up");
        }
        Ok(())
    })();
    fds::close(sock);
    result
}

/// Load `ruleset` with `nft -f -`, then list `table inet <table>` back in a
/// second exec (a `list` inside the same batch would run before the batch is
/// committed and show the chains empty); returns that listing, which proves
/// the table is in force.
pub fn load_nft(nft: &str, ruleset: &str, table: &str) -> StepResult<String> {
    let step = format!("nft {table}");
    let (status, output) = run_nft(&step, nft, &["-f", "-"], Some(ruleset))?;
    if status != 0 {
        return Err(StepError::msg(
            &step,
            format!("nft -f failed ({}): {}", describe(status), output.trim()),
        ));
    }
    let (status, output) = run_nft(&step, nft, &["list", "table", "inet", table], None)?;
    if status != 0 {
        return Err(StepError::msg(
            &step,
            format!(
                "table inet {table} is not loaded ({}): {}",
                describe(status),
                output.trim()
            ),
        ));
    }
    Ok(output)
}

fn describe(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exit status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status}")
    }
}

/// Run `nft args...` with CAP_NET_ADMIN as its only capability, `input` on
/// stdin (a memfd, so a large ruleset cannot deadlock against its output),
/// stdout+stderr captured. Returns the wait status and the output text.
fn run_nft(
    step: &str,
    nft: &str,
    args: &[&str],
    input: Option<&str>,
) -> StepResult<(libc::c_int, String)> {
    let stdin_fd = match input {
        Some(text) => memfd_with(step, text)?,
        // SAFETY: open with a static path.
        None => unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) },
    };
    if stdin_fd < 0 {
        return Err(Errno::last()).step(step, "stdin for nft");
    }
    let (out_r, out_w) = match fds::pipe() {
        Ok(p) => p,
        Err(e) => {
            fds::close(stdin_fd);
            return Err(e).step(step, "pipe");
        }
    };
    let mut argv: Vec<CString> =
        vec![CString::new(nft).map_err(|_| StepError::msg(step, "nft path contains NUL"))?];
    argv.extend(args.iter().map(|a| CString::new(*a).unwrap_or_default()));

    // SAFETY: the launcher is single-threaded, so the child may do anything.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        fds::close(stdin_fd);
        fds::close(out_r);
        fds::close(out_w);
        return Err(Errno::last()).step(step, "fork nft");
    }
    if pid == 0 {
        nft_child(step, stdin_fd, out_w, &argv);
    }
    fds::close(stdin_fd);
    fds::close(out_w);
    let output = read_capped(out_r, 16 * 1024);
    fds::close(out_r);
    let mut status = 0;
    loop {
        // SAFETY: waiting for the child we just forked.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && Errno::last() != Errno::EINTR {
            return Err(Errno::last()).step(step, "waitpid nft");
        }
    }
    Ok((status, output))
}

/// The forked helper: wire stdio, keep only CAP_NET_ADMIN, exec nft.
fn nft_child(step: &str, stdin_fd: RawFd, out_w: RawFd, argv: &[CString]) -> ! {
    // SAFETY: dup2/prctl/execve/_exit in a freshly forked single-threaded child.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        libc::dup2(stdin_fd, 0);
        libc::dup2(out_w, 1);
        libc::dup2(out_w, 2);
    }
    let msg = match caps::keep_only_across_exec(caps::CAP_NET_ADMIN, step) {
        Err(e) => format!("cannot set up capabilities for nft: {}\n", e.message),
        Ok(()) => {
            let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
            ptrs.push(std::ptr::null());
            let env = [std::ptr::null::<libc::c_char>()];
            // SAFETY: NULL-terminated arrays of valid C strings.
            unsafe { libc::execve(argv[0].as_ptr(), ptrs.as_ptr(), env.as_ptr()) };
            format!(
                "cannot execute {}: {}\n",
                argv[0].to_string_lossy(),
                Errno::last().desc()
            )
        }
    };
    // SAFETY: writing to our stderr (the capture pipe), then leaving.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(127)
    }
}

fn memfd_with(step: &str, text: &str) -> StepResult<RawFd> {
    // SAFETY: memfd_create with a static name.
    let fd = unsafe { libc::memfd_create(c"nft-ruleset".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last()).step(step, "memfd_create");
    }
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        // SAFETY: writing from a valid slice.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            let e = Errno::last();
            fds::close(fd);
            return Err(e).step(step, "write ruleset");
        }
        rest = &rest[n as usize..];
    }
    // SAFETY: rewinding our own memfd.
    unsafe { libc::lseek(fd, 0, libc::SEEK_SET) };
    Ok(fd)
}

/// Read to end of file, keeping at most `cap` bytes (the rest is drained).
fn read_capped(fd: RawFd, cap: usize) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reading into a local buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && Errno::last() == Errno::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        let n = n as usize;
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&buf[..n.min(room)]);
    }
    String::from_utf8_lossy(&out).into_owned()
}
