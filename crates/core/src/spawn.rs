//! Starting child processes with `posix_spawn`: the kernel's vfork path, so
//! the multi-threaded supervisor (Node) is never forked — a fork would copy
//! its page tables and hold every malloc lock while it does, stalling the
//! event loop — and exactly the fds we map reach the child.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// One child to start.
pub struct SpawnSpec<'a> {
    /// Absolute path of the executable.
    pub program: &'a str,
    /// argv, including argv[0].
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    /// `(source, target)`: the child gets `source` as fd `target`. Sources
    /// must be >= 10 (see `high_fd`) so no mapping clobbers a later source.
    pub fds: &'a [(RawFd, RawFd)],
    /// Open /dev/null as fd 0 (when no mapping targets 0).
    pub stdin_null: bool,
    pub cwd: Option<&'a str>,
    /// Put the child in a new process group of its own (pgid = pid).
    pub new_group: bool,
}

/// Move an fd to a number >= 10 (close-on-exec), so child-side `dup2`s onto
/// low numbers never collide with a source fd.
pub fn high_fd(fd: OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl on an fd we own; the result is a new fd we then own.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh, valid fd.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

fn cstring(s: &str) -> io::Result<CString> {
    CString::new(s)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in an argument"))
}

/// Start the child; returns its pid (the caller reaps it).
pub fn spawn(spec: &SpawnSpec) -> io::Result<libc::pid_t> {
    let program = cstring(spec.program)?;
    let argv: Vec<CString> = spec
        .argv
        .iter()
        .map(|a| cstring(a))
        .collect::<io::Result<_>>()?;
    let env: Vec<CString> = spec
        .env
        .iter()
        .map(|(k, v)| cstring(&format!("{k}={v}")))
        .collect::<io::Result<_>>()?;
    let cwd = spec.cwd.map(cstring).transpose()?;
    let mut argv_ptrs: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr() as *mut _).collect();
    argv_ptrs.push(std::ptr::null_mut());
    let mut env_ptrs: Vec<*mut libc::c_char> = env.iter().map(|e| e.as_ptr() as *mut _).collect();
    env_ptrs.push(std::ptr::null_mut());

    let check = |rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(rc))
        }
    };
    // SAFETY: the file actions and attributes are initialised before use and
    // destroyed on every path; all pointers outlive the posix_spawn call.
    unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        check(libc::posix_spawn_file_actions_init(&mut actions))?;
        if let Err(e) = check(libc::posix_spawnattr_init(&mut attr)) {
            libc::posix_spawn_file_actions_destroy(&mut actions);
            return Err(e);
        }
        let result = (|| {
            if spec.stdin_null {
                check(libc::posix_spawn_file_actions_addopen(
                    &mut actions,
                    0,
                    c"/dev/null".as_ptr(),
                    libc::O_RDONLY,
                    0,
                ))?;
            }
            for &(source, target) in spec.fds {
                debug_assert!(source >= 10, "source fds must be moved above 9 first");
                check(libc::posix_spawn_file_actions_adddup2(
                    &mut actions,
                    source,
                    target,
                ))?;
            }
            if let Some(dir) = &cwd {
                check(libc::posix_spawn_file_actions_addchdir_np(
                    &mut actions,
                    dir.as_ptr(),
                ))?;
            }
            // A clean signal state: nothing blocked, every signal default.
            let mut empty: libc::sigset_t = std::mem::zeroed();
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigfillset(&mut all);
            check(libc::posix_spawnattr_setsigmask(&mut attr, &empty))?;
            check(libc::posix_spawnattr_setsigdefault(&mut attr, &all))?;
            let mut flags = libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
            if spec.new_group {
                check(libc::posix_spawnattr_setpgroup(&mut attr, 0))?;
                flags |= libc::POSIX_SPAWN_SETPGROUP;
            }
            check(libc::posix_spawnattr_setflags(
                &mut attr,
                flags as libc::c_short,
            ))?;
            let mut pid: libc::pid_t = 0;
            check(libc::posix_spawn(
                &mut pid,
                program.as_ptr(),
                &actions,
                &attr,
                argv_ptrs.as_ptr(),
                env_ptrs.as_ptr(),
            ))?;
            Ok(pid)
        })();
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attr);
        result
    }
}

/// The absolute path `name` resolves to through `path` (a PATH value), as
/// `execvp` would: names with a `/` are taken as they are.
pub fn resolve_program(name: &str, path: Option<&str>) -> Option<String> {
    if name.contains('/') {
        return Some(name.to_string());
    }
    let path = path.unwrap_or("/usr/local/bin:/usr/bin:/bin");
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| format!("{d}/{name}"))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &str) -> bool {
    let Ok(c) = CString::new(path) else {
        return false;
    };
    // SAFETY: access on a valid C string.
    let executable = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
    executable
        && std::fs::metadata(path)
            .map(|m| m.is_file())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
    }

    fn wait(pid: libc::pid_t) -> libc::c_int {
        let mut status = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        status
    }

    fn run_capturing(
        program: &str,
        argv: &[&str],
        extra: &[(RawFd, RawFd)],
        cwd: Option<&str>,
    ) -> String {
        use std::io::Read;
        let (r, w) = pipe();
        let w = high_fd(w).unwrap();
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        let mut fds = vec![(w.as_raw_fd(), 1)];
        fds.extend_from_slice(extra);
        let pid = spawn(&SpawnSpec {
            program,
            argv: &argv,
            env: &[
                ("A".into(), "x".into()),
                ("PATH".into(), "/usr/bin:/bin".into()),
            ],
            fds: &fds,
            stdin_null: true,
            cwd,
            new_group: true,
        })
        .unwrap();
        drop(w);
        let mut out = String::new();
        std::fs::File::from(r).read_to_string(&mut out).unwrap();
        assert!(libc::WIFEXITED(wait(pid)));
        out
    }

    #[test]
    fn maps_the_given_fds_and_closes_their_sources() {
        let (extra_r, _extra_w) = pipe();
        let extra = high_fd(extra_r).unwrap();
        let ls = resolve_program("ls", None).unwrap();
        let out = run_capturing(
            &ls,
            &["ls", "/proc/self/fd"],
            &[(extra.as_raw_fd(), 7)],
            None,
        );
        let fds: Vec<&str> = out.split_whitespace().collect();
        assert!(
            fds.contains(&"0") && fds.contains(&"1") && fds.contains(&"7"),
            "{out}"
        );
        assert!(
            !fds.contains(&extra.as_raw_fd().to_string().as_str()),
            "a source fd leaked: {out}"
        );
    }

    #[test]
    fn sets_env_cwd_and_a_new_process_group() {
        let sh = resolve_program("sh", None).unwrap();
        let out = run_capturing(
            &sh,
            &[
                "sh",
                "-c",
                "echo \"$A $(pwd)\"; test $(ps -o pgid= -p $$) -eq $$ && echo own-group",
            ],
            &[],
            Some("/"),
        );
        assert_eq!(out, "x /\nown-group\n");
    }

    #[test]
    fn resolves_like_execvp() {
        assert_eq!(resolve_program("/x/y", None).as_deref(), Some("/x/y"));
        assert!(resolve_program("sh", Some("/nonexistent:/bin:/usr/bin")).is_some());
        assert_eq!(
            resolve_program("no-such-program-here", Some("/usr/bin:/bin")),
            None
        );
    }
}
