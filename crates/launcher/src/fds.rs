//! File-descriptor hygiene: which fds survive into the command (only 0, 1, 2),
//! and the one-byte handshakes on the sync, exec-status and control pipes.

use std::os::fd::RawFd;

use nix::errno::Errno;

/// Mark `fd` close-on-exec; EBADF when it is not open.
pub fn set_cloexec(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: fcntl on an integer fd touches only the descriptor table.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(Errno::last());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Put /dev/null on each of `fds` that is not open, so the numbers stay
/// taken: otherwise our own pipes could land on 0-2 (and reach the command
/// as its stdio) or on the status/control numbers.
pub fn reserve(fds: &[RawFd]) {
    for &fd in fds {
        // SAFETY: fcntl/open/dup2/close on plain integers we own.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) >= 0 {
                continue;
            }
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if null >= 0 && null != fd {
                libc::dup2(null, fd);
                libc::close(null);
            }
        }
    }
}

/// Make every fd from `first` up close-on-exec, so nothing the supervisor or
/// we opened leaks into the command. `close_range` (Linux 5.11) does it in
/// one call; otherwise walk the possible fd numbers.
pub fn cloexec_from(first: RawFd) -> Result<(), Errno> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur.min(1 << 20) as RawFd
    } else {
        1024
    };
    for fd in first..max {
        match set_cloexec(fd) {
            Ok(()) | Err(Errno::EBADF) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Point 0, 1 and 2 at /dev/null (or close them when there is none) in the
/// helper processes, so only the command holds the run's pipes open and the
/// supervisor sees end-of-file as soon as the command's tree is gone.
pub fn detach_stdio() {
    // SAFETY: open/dup2/close on fds we own.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        for fd in 0..3 {
            if null >= 0 {
                libc::dup2(null, fd);
            } else {
                libc::close(fd);
            }
        }
        if null > 2 {
            libc::close(null);
        }
    }
}

/// True when every writer of the pipe `fd` is gone (POLLHUP).
pub fn peer_closed(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    };
    // SAFETY: polling one pollfd with a zero timeout.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n > 0 && pfd.revents & libc::POLLHUP != 0
}

/// Read one byte; `Ok(None)` at end of file.
pub fn read_byte(fd: RawFd) -> Result<Option<u8>, Errno> {
    let mut b = [0u8; 1];
    loop {
        // SAFETY: reading into a 1-byte local buffer.
        let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
        match n {
            1 => return Ok(Some(b[0])),
            0 => return Ok(None),
            _ if Errno::last() == Errno::EINTR => continue,
            _ => return Err(Errno::last()),
        }
    }
}

pub fn write_byte(fd: RawFd, byte: u8) -> Result<(), Errno> {
    loop {
        // SAFETY: writing a 1-byte local buffer.
        let n = unsafe { libc::write(fd, [byte].as_ptr().cast(), 1) };
        match n {
            1 => return Ok(()),
            _ if n < 0 && Errno::last() == Errno::EINTR => continue,
            _ if n < 0 => return Err(Errno::last()),
            _ => return Err(Errno::EIO),
        }
    }
}

/// A pipe whose both ends are close-on-exec, as raw fds (these cross
/// `clone`/`fork`, where each process closes the ends it does not use).
pub fn pipe() -> Result<(RawFd, RawFd), Errno> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Errno::last());
    }
    Ok((fds[0], fds[1]))
}

pub fn close(fd: RawFd) {
    // SAFETY: closing an fd this process owns; errors are irrelevant here.
    unsafe { libc::close(fd) };
}
