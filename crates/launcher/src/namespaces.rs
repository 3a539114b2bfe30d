//! Creating the namespace init with one raw `clone` (so the child is PID 1 of
//! its new PID namespace and owns the new user namespace), and writing its
//! uid/gid maps from the parent side, where a root launcher may map any id.

use std::fs::OpenOptions;
use std::io::Write;

use nix::errno::Errno;
use nix::unistd::Pid;
use script_sandbox_spec::{IdMap, Namespaces};

use crate::error::{Step, StepResult};

/// `clone` flags for the requested namespaces, always with SIGCHLD so the
/// launcher can `waitpid` the child like a forked one.
pub fn clone_flags(ns: &Namespaces) -> libc::c_ulong {
    let mut flags = libc::SIGCHLD as libc::c_ulong;
    let pairs = [
        (ns.user, libc::CLONE_NEWUSER),
        (ns.mount, libc::CLONE_NEWNS),
        (ns.pid, libc::CLONE_NEWPID),
        (ns.ipc, libc::CLONE_NEWIPC),
        (ns.uts, libc::CLONE_NEWUTS),
        (ns.net, libc::CLONE_NEWNET),
    ];
    for (wanted, flag) in pairs {
        if wanted {
            flags |= flag as libc::c_ulong;
        }
    }
    flags
}

/// Which side of the clone we are on.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// `clone(2)` with fork semantics (no new stack, copy of the address space).
/// glibc's `clone()` wrapper insists on a stack; the raw syscall does not.
/// The launcher is single-threaded, which CLONE_NEWUSER requires anyway.
pub fn clone_init(flags: libc::c_ulong) -> StepResult<Forked> {
    // SAFETY: with a null stack and no CLONE_VM the child runs on a private
    // copy of our memory, exactly like fork(); the remaining pointer
    // arguments are unused for these flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match ret {
        r if r < 0 => Err(Errno::last()).step("clone", "clone namespaces"),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Write the child's `setgroups`, `uid_map` and `gid_map` from the parent
/// user namespace. An unprivileged launcher must deny setgroups before it
/// may write a gid map; a root launcher keeps it allowed so the final child
/// can clear its supplementary groups.
pub fn write_id_maps(child: Pid, map: &IdMap, deny_setgroups: bool) -> StepResult<()> {
    let base = format!("/proc/{}", child.as_raw());
    if deny_setgroups {
        write_proc(&format!("{base}/setgroups"), "deny", "setgroups deny")?;
    }
    write_proc(
        &format!("{base}/uid_map"),
        &format!("{} {} 1\n", map.inside_uid, map.outside_uid),
        "uid_map",
    )?;
    write_proc(
        &format!("{base}/gid_map"),
        &format!("{} {} 1\n", map.inside_gid, map.outside_gid),
        "gid_map",
    )?;
    Ok(())
}

/// The kernel wants each map written in a single `write(2)`.
fn write_proc(path: &str, content: &str, step: &str) -> StepResult<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .step(step, &format!("open {path}"))?;
    let n = file
        .write(content.as_bytes())
        .step(step, &format!("write {path}"))?;
    if n != content.len() {
        return Err(Errno::EIO).step(step, &format!("short write to {path}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_the_requested_namespaces() {
        let none = Namespaces::default();
        assert_eq!(clone_flags(&none), libc::SIGCHLD as libc::c_ulong);
        let all = Namespaces {
            user: true,
            mount: true,
            pid: true,
            ipc: true,
            uts: true,
            net: true,
        };
        let f = clone_flags(&all);
        for flag in [
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWNS,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWNET,
        ] {
            assert_ne!(f & flag as libc::c_ulong, 0);
        }
        let net_only = Namespaces {
            net: true,
            ..Default::default()
        };
        assert_eq!(
            clone_flags(&net_only),
            (libc::SIGCHLD | libc::CLONE_NEWNET) as libc::c_ulong
        );
    }
}
