//! The seccomp filter installed just before `exec`: refuse the syscalls that
//! widen what a sandboxed process can reach (namespaces, mounts, ptrace,
//! keyrings, bpf, module loading, io_uring...) and, for the socket-level deny
//! layer, IPv4/IPv6 sockets. Everything else is allowed: this is a fence
//! around the sandbox, not an allowlist of the script's behaviour.

use std::collections::BTreeMap;

use script_sandbox_spec::SeccompProfile;
use seccompiler::{
    apply_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use crate::error::{StepError, StepResult};

/// Refused with EPERM whatever their arguments.
const DENIED: &[libc::c_long] = &[
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_syslog,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_quotactl_fd,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_mount_setattr,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
];

/// Namespace-creating `clone` flags. (CLONE_NEWTIME shares its bit with the
/// exit-signal field in `clone`; it is only reachable through `clone3` and
/// `unshare`, both refused.)
const CLONE_NS_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

/// `personality` values container runtimes allow (plain Linux, 32-bit
/// uname, UNAME26, and the query); anything else (e.g. ADDR_NO_RANDOMIZE,
/// READ_IMPLIES_EXEC) is refused.
const PERSONALITY_OK: &[u64] = &[0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// On x86_64 the same table is reachable through the x32 ABI (nr | bit 30),
/// which keeps AUDIT_ARCH_X86_64; a few calls have x32-only numbers.
#[cfg(target_arch = "x86_64")]
fn aliases(nr: i64) -> Vec<i64> {
    const X32: i64 = 0x4000_0000;
    let mut v = vec![nr, nr | X32];
    let special = match nr {
        libc::SYS_ptrace => Some(521),
        libc::SYS_kexec_load => Some(528),
        libc::SYS_process_vm_readv => Some(539),
        libc::SYS_process_vm_writev => Some(540),
        _ => None,
    };
    if let Some(s) = special {
        v.push(s | X32);
    }
    v
}

#[cfg(not(target_arch = "x86_64"))]
fn aliases(nr: i64) -> Vec<i64> {
    vec![nr]
}

fn arch() -> StepResult<TargetArch> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|_| {
        StepError::msg(
            "seccomp",
            format!(
                "no seccomp filter for architecture {}",
                std::env::consts::ARCH
            ),
        )
    })
}

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> StepResult<SeccompCondition> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
        .map_err(|e| StepError::msg("seccomp", e.to_string()))
}

fn rule(conds: Vec<SeccompCondition>) -> StepResult<SeccompRule> {
    SeccompRule::new(conds).map_err(|e| StepError::msg("seccomp", e.to_string()))
}

fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32) -> StepResult<BpfProgram> {
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        arch()?,
    )
    .map_err(|e| StepError::msg("seccomp", e.to_string()))?;
    BpfProgram::try_from(filter).map_err(|e| StepError::msg("seccomp", e.to_string()))
}

fn insert(map: &mut BTreeMap<i64, Vec<SeccompRule>>, nr: libc::c_long, rules: Vec<SeccompRule>) {
    for alias in aliases(nr) {
        map.insert(alias, rules.clone());
    }
}

/// The filters for `profile`, one per errno (seccompiler gives each filter a
/// single match action; the kernel runs all installed filters).
pub fn build(profile: &SeccompProfile) -> StepResult<Vec<BpfProgram>> {
    let mut eperm = BTreeMap::new();
    for &nr in DENIED {
        insert(&mut eperm, nr, vec![]);
    }
    let clone_rules = CLONE_NS_FLAGS
        .iter()
        .map(|&f| rule(vec![cond(0, SeccompCmpOp::MaskedEq(f as u64), f as u64)?]))
        .collect::<StepResult<Vec<_>>>()?;
    insert(&mut eperm, libc::SYS_clone, clone_rules);
    let personality = PERSONALITY_OK
        .iter()
        .map(|&v| cond(0, SeccompCmpOp::Ne, v))
        .collect::<StepResult<Vec<_>>>()?;
    insert(&mut eperm, libc::SYS_personality, vec![rule(personality)?]);
    // Faking terminal input (TIOCSTI) or console selections (TIOCLINUX)
    // would type commands into a terminal outside the sandbox.
    #[allow(clippy::unnecessary_cast)] // the request type differs between glibc and musl
    let tty_rules = [libc::TIOCSTI as u64, libc::TIOCLINUX as u64]
        .iter()
        .map(|&req| rule(vec![cond(1, SeccompCmpOp::Eq, req)?]))
        .collect::<StepResult<Vec<_>>>()?;
    insert(&mut eperm, libc::SYS_ioctl, tty_rules);
    let mut programs = vec![compile(eperm, libc::EPERM)?];

    // clone3 passes its flags in memory, which seccomp cannot inspect:
    // ENOSYS makes libc fall back to clone, whose flags we can check.
    let mut enosys = BTreeMap::new();
    insert(&mut enosys, libc::SYS_clone3, vec![]);
    programs.push(compile(enosys, libc::ENOSYS)?);

    let mut families = Vec::new();
    if profile.deny_inet_sockets {
        families.extend([libc::AF_INET, libc::AF_INET6]);
    }
    if profile.deny_unix_sockets {
        families.push(libc::AF_UNIX);
    }
    if !families.is_empty() {
        let mut eacces = BTreeMap::new();
        let rules = families
            .iter()
            .map(|&af| rule(vec![cond(0, SeccompCmpOp::Eq, af as u64)?]))
            .collect::<StepResult<Vec<_>>>()?;
        insert(&mut eacces, libc::SYS_socket, rules);
        programs.push(compile(eacces, libc::EACCES)?);
    }
    if profile.keep_process_group {
        let mut group = BTreeMap::new();
        insert(&mut group, libc::SYS_setsid, vec![]);
        insert(&mut group, libc::SYS_setpgid, vec![]);
        programs.push(compile(group, libc::EPERM)?);
    }
    Ok(programs)
}

/// Install the filters on this thread (the launcher is single-threaded).
/// `no_new_privs` must already be set.
pub fn install(profile: &SeccompProfile) -> StepResult<()> {
    for program in build(profile)? {
        apply_filter(&program).map_err(|e| {
            let errno = std::io::Error::last_os_error().raw_os_error();
            StepError {
                step: "seccomp".into(),
                errno,
                message: format!("install filter: {e}"),
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile_for_this_arch() {
        let base = build(&SeccompProfile::default()).unwrap();
        assert_eq!(base.len(), 2);
        assert!(!base[0].is_empty());
        let inet = build(&SeccompProfile {
            deny_inet_sockets: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(inet.len(), 3, "one more filter for the socket families");
        let all = build(&SeccompProfile {
            deny_inet_sockets: true,
            deny_unix_sockets: true,
            keep_process_group: true,
        })
        .unwrap();
        assert_eq!(all.len(), 4, "and one for the process-group calls");
    }
}
