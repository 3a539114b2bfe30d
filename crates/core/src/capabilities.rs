//! What this host can enforce, probed natively once per process.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Linux,
    Darwin,
    Other,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Linux => "linux",
            Platform::Darwin => "darwin",
            Platform::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wrapper {
    Bwrap,
    Nsjail,
    Firejail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Native,
    Bwrap,
}

/// Operator-supplied macvlan addressing (all three or none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacvlanAddressing {
    pub ip: String,
    pub netmask: String,
    pub gateway: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupInfo {
    pub version: u8,
    pub writable: bool,
}

/// The host's sandbox primitives. The first block mirrors the original
/// TypeScript engine's fields; the rest are additive and default to "absent"
/// when a caller injects an object of the original shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxCapabilities {
    pub platform: Platform,
    pub euid_is_root: bool,
    pub has_prlimit: bool,
    pub rlimit_native: bool,
    pub wrapper: Option<Wrapper>,
    pub user_namespaces: bool,
    pub net_namespaces: bool,
    pub user_ns_creatable: bool,
    pub net_egress_iface: Option<String>,
    pub net_egress_addressing: Option<MacvlanAddressing>,
    pub net_egress_rootless: bool,

    /// The launcher can build user/mount/pid/net namespaces on this host.
    #[serde(default)]
    pub native_namespaces: bool,
    #[serde(default)]
    pub landlock_abi: Option<u32>,
    #[serde(default)]
    pub seccomp: bool,
    #[serde(default)]
    pub cgroup: Option<CgroupInfo>,
    #[serde(default)]
    pub slirp4netns: Option<String>,
    #[serde(default)]
    pub nft: Option<String>,
    /// `/dev/net/tun` can be opened read-write by this process (slirp4netns
    /// needs it; some hosts ship it `0600 root`).
    #[serde(default)]
    pub tun_usable: bool,
    /// What will actually enforce runs: the native launcher, or nothing.
    #[serde(default)]
    pub engine: Option<Engine>,
    /// Absolute path of the launcher executable, when found.
    #[serde(default)]
    pub launcher: Option<String>,
}

/// Env vars supplying operator macvlan addressing (reported only: the
/// native engine has no macvlan path).
pub const MACVLAN_IP_ENV: &str = "CHECKSTACK_SANDBOX_MACVLAN_IP";
pub const MACVLAN_NM_ENV: &str = "CHECKSTACK_SANDBOX_MACVLAN_NM";
pub const MACVLAN_GW_ENV: &str = "CHECKSTACK_SANDBOX_MACVLAN_GW";

/// Macvlan addressing from the three values: all present and non-empty after
/// trimming, or nothing.
pub fn macvlan_addressing_from(
    ip: Option<&str>,
    netmask: Option<&str>,
    gateway: Option<&str>,
) -> Option<MacvlanAddressing> {
    let clean = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Some(MacvlanAddressing {
        ip: clean(ip)?,
        netmask: clean(netmask)?,
        gateway: clean(gateway)?,
    })
}

/// `macvlan_addressing_from` with this process's environment.
pub fn macvlan_addressing_from_env() -> Option<MacvlanAddressing> {
    let ip = std::env::var(MACVLAN_IP_ENV).ok();
    let nm = std::env::var(MACVLAN_NM_ENV).ok();
    let gw = std::env::var(MACVLAN_GW_ENV).ok();
    macvlan_addressing_from(ip.as_deref(), nm.as_deref(), gw.as_deref())
}

/// The supervisor's effective uid and gid.
pub fn supervisor_ids() -> (u32, u32) {
    #[cfg(unix)]
    {
        // SAFETY: geteuid/getegid take no arguments and cannot fail.
        unsafe { (libc::geteuid(), libc::getegid()) }
    }
    #[cfg(not(unix))]
    {
        (u32::MAX, u32::MAX)
    }
}

/// Where `nft` commonly lives when `sbin` is not on a non-root user's PATH.
const SBIN_FALLBACK: [&str; 3] = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// First executable regular file named `name` in the absolute dirs of
/// `path_var`, then in `extra_dirs`. Relative PATH entries are skipped: they
/// would resolve against whatever the cwd happens to be.
pub fn find_in_path(name: &str, path_var: Option<&str>, extra_dirs: &[&str]) -> Option<String> {
    let dirs = path_var
        .unwrap_or("")
        .split(':')
        .chain(extra_dirs.iter().copied());
    dirs.filter(|d| d.starts_with('/'))
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| is_executable_file(p))
        .and_then(|p| p.to_str().map(str::to_string))
}

/// A regular file (after symlinks) this process may execute.
pub fn is_executable_file(path: &std::path::Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    meta.is_file() && access_ok(path, libc::X_OK)
}

fn access_ok(path: &std::path::Path, mode: libc::c_int) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c_path` is a valid NUL-terminated string for the whole call.
    unsafe { libc::access(c_path.as_ptr(), mode) == 0 }
}

/// The process's own cgroup directory, from `/proc/self/cgroup` text:
/// the `0::` line for v2, the line listing `memory` for v1.
pub fn own_cgroup_dir(proc_self_cgroup: &str, version: u8) -> Option<String> {
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if !path.starts_with('/') || path.split('/').any(|c| c == "..") {
            continue;
        }
        let rel = path.trim_start_matches('/');
        if version == 2 && id == "0" && controllers.is_empty() {
            return Some(if rel.is_empty() {
                "/sys/fs/cgroup".to_string()
            } else {
                format!("/sys/fs/cgroup/{rel}")
            });
        }
        if version == 1 && controllers.split(',').any(|c| c == "memory") {
            return Some(if rel.is_empty() {
                "/sys/fs/cgroup/memory".to_string()
            } else {
                format!("/sys/fs/cgroup/memory/{rel}")
            });
        }
    }
    None
}

fn detect_cgroup() -> Option<CgroupInfo> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let writable = |version: u8| {
        own_cgroup_dir(&own, version)
            .is_some_and(|dir| access_ok(std::path::Path::new(&dir), libc::W_OK))
    };
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return Some(CgroupInfo {
            version: 2,
            writable: writable(2),
        });
    }
    if std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        return Some(CgroupInfo {
            version: 1,
            writable: writable(1),
        });
    }
    None
}

/// `unprivileged_userns_clone` (Debian/Ubuntu): an explicit `0` forbids
/// unprivileged user namespaces outright.
fn userns_sysctl_forbids() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/unprivileged_userns_clone")
        .is_ok_and(|v| v.trim() == "0")
}

/// Live probe: create a child in new user, net, mount, PID and UTS
/// namespaces and let it try one privileged operation inside them.
///
/// Raw `clone` without `CLONE_VM` behaves like `fork`. The caller may be a
/// multi-threaded Node process, so the child makes raw syscalls only
/// (`sethostname`, `_exit`) on a static buffer: no allocation, no locks.
/// `sethostname` needs CAP_SYS_ADMIN over the new UTS namespace, which fails
/// where user namespaces are created without capabilities (e.g. AppArmor's
/// `restrict_unprivileged_userns`): such a namespace is useless to us.
#[cfg(target_os = "linux")]
fn probe_user_namespaces() -> bool {
    static PROBE_HOSTNAME: &[u8] = b"sandbox-probe";
    // No exit signal: a plain `waitpid(-1)` elsewhere in the process (a
    // SIGCHLD reaper) cannot take this child; only `__WALL` below does.
    let flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWUTS;
    // SAFETY: fork-like clone; the child only issues raw syscalls and exits.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        // Child. SAFETY: raw syscalls on a static buffer, then _exit.
        unsafe {
            let r = libc::syscall(
                libc::SYS_sethostname,
                PROBE_HOSTNAME.as_ptr(),
                PROBE_HOSTNAME.len(),
            );
            libc::_exit(if r == 0 { 0 } else { 1 });
        }
    }
    if pid < 0 {
        return false;
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: waiting for our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return false;
    }
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

#[cfg(target_os = "linux")]
fn probe_landlock_abi() -> Option<u32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: a NULL attr with size 0 and the VERSION flag only queries the ABI.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(abi).ok().filter(|v| *v >= 1)
}

#[cfg(target_os = "linux")]
fn probe_seccomp() -> bool {
    // SAFETY: PR_GET_SECCOMP reads the calling thread's mode only.
    unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 }
}

/// Facts gathered by the probes; turned into `SandboxCapabilities` by
/// `assemble` (pure, so the derivations are unit-tested).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostProbe {
    pub platform_linux: bool,
    pub platform_darwin: bool,
    pub euid: u32,
    pub prlimit: Option<String>,
    pub bwrap: Option<String>,
    pub nsjail: Option<String>,
    pub firejail: Option<String>,
    pub slirp4netns: Option<String>,
    pub nft: Option<String>,
    pub user_ns_creatable: bool,
    pub landlock_abi: Option<u32>,
    pub seccomp: bool,
    pub cgroup: Option<CgroupInfo>,
    pub tun_usable: bool,
    pub launcher: Option<String>,
}

/// Derive the capability set from raw probe results.
pub fn assemble(p: &HostProbe) -> SandboxCapabilities {
    let platform = if p.platform_linux {
        Platform::Linux
    } else if p.platform_darwin {
        Platform::Darwin
    } else {
        Platform::Other
    };
    let linux = platform == Platform::Linux;
    let wrapper = if p.bwrap.is_some() {
        Some(Wrapper::Bwrap)
    } else if p.nsjail.is_some() {
        Some(Wrapper::Nsjail)
    } else if p.firejail.is_some() {
        Some(Wrapper::Firejail)
    } else {
        None
    };
    let user_ns = linux && p.user_ns_creatable;
    let launcher = if linux { p.launcher.clone() } else { None };
    let native_namespaces = launcher.is_some() && user_ns;
    let net_egress_rootless =
        native_namespaces && p.slirp4netns.is_some() && p.nft.is_some() && p.tun_usable;
    SandboxCapabilities {
        platform,
        euid_is_root: p.euid == 0,
        has_prlimit: linux && p.prlimit.is_some(),
        rlimit_native: linux,
        wrapper: if linux { wrapper } else { None },
        user_namespaces: user_ns,
        net_namespaces: native_namespaces,
        user_ns_creatable: user_ns,
        net_egress_iface: None,
        net_egress_addressing: None,
        net_egress_rootless,
        native_namespaces,
        landlock_abi: if linux { p.landlock_abi } else { None },
        seccomp: linux && p.seccomp,
        cgroup: if linux { p.cgroup } else { None },
        slirp4netns: p.slirp4netns.clone(),
        nft: p.nft.clone(),
        tun_usable: linux && p.tun_usable,
        engine: if launcher.is_some() {
            Some(Engine::Native)
        } else {
            None
        },
        launcher,
    }
}

/// Run every probe on this host. No process is spawned; the only child is
/// the namespace probe's, which exits at once.
pub fn probe_host(launcher_candidates: &[std::path::PathBuf]) -> HostProbe {
    PROBES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let path_var = std::env::var("PATH").ok();
    let find = |name: &str| find_in_path(name, path_var.as_deref(), &[]);
    let launcher = launcher_candidates
        .iter()
        .find(|c| is_executable_file(c))
        .and_then(|c| std::fs::canonicalize(c).ok())
        .and_then(|c| c.to_str().map(str::to_string));
    let (euid, _) = supervisor_ids();
    let mut probe = HostProbe {
        platform_linux: cfg!(target_os = "linux"),
        platform_darwin: cfg!(target_os = "macos"),
        euid,
        prlimit: find("prlimit"),
        bwrap: find("bwrap"),
        nsjail: find("nsjail"),
        firejail: find("firejail"),
        slirp4netns: find("slirp4netns"),
        nft: find_in_path("nft", path_var.as_deref(), &SBIN_FALLBACK),
        launcher,
        ..HostProbe::default()
    };
    #[cfg(target_os = "linux")]
    {
        probe.user_ns_creatable = if euid != 0 && userns_sysctl_forbids() {
            false
        } else {
            probe_user_namespaces()
        };
        probe.landlock_abi = probe_landlock_abi();
        probe.seccomp = probe_seccomp();
        probe.cgroup = detect_cgroup();
        probe.tun_usable = access_ok(
            std::path::Path::new("/dev/net/tun"),
            libc::R_OK | libc::W_OK,
        );
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (userns_sysctl_forbids, detect_cgroup);
    }
    probe
}

/// A Linux host with every primitive (test fixture shared by the planners'
/// tests; override fields with struct-update syntax).
#[cfg(test)]
pub(crate) fn full_host_caps(euid_is_root: bool, launcher: &str) -> SandboxCapabilities {
    SandboxCapabilities {
        platform: Platform::Linux,
        euid_is_root,
        has_prlimit: true,
        rlimit_native: true,
        wrapper: None,
        user_namespaces: true,
        net_namespaces: true,
        user_ns_creatable: true,
        net_egress_iface: None,
        net_egress_addressing: None,
        net_egress_rootless: true,
        native_namespaces: true,
        landlock_abi: Some(4),
        seccomp: true,
        cgroup: None,
        slirp4netns: Some("/usr/bin/slirp4netns".into()),
        nft: Some("/usr/sbin/nft".into()),
        tun_usable: true,
        engine: Some(Engine::Native),
        launcher: Some(launcher.into()),
    }
}

/// Probe this host now (uncached). When the pieces of rootless egress are
/// all present, one real allowlist run proves the path end to end.
pub fn detect(launcher_candidates: &[std::path::PathBuf]) -> SandboxCapabilities {
    let mut caps = assemble(&probe_host(launcher_candidates));
    if caps.net_egress_rootless && !rootless_egress_works(&caps) {
        caps.net_egress_rootless = false;
    }
    caps
}

/// Run `true` under an allowlist (nothing is sent: the command opens no
/// socket) and require the ruleset to load and slirp4netns to attach. Runs on
/// its own thread with its own runtime, so it works from any caller.
fn rootless_egress_works(caps: &SandboxCapabilities) -> bool {
    use crate::input::Input;
    let policy = serde_json::json!({
        "network": { "mode": "allowlist", "allow": ["192.0.2.1/32"] },
    });
    let Ok(policy) = crate::policy::parse_policy(&Input::from(policy)) else {
        return false;
    };
    let request = crate::run::RunRequest {
        command: vec!["true".into()],
        policy,
        caps: caps.clone(),
        timeout: std::time::Duration::from_secs(10),
        cwd: None,
        base_env: [(
            "PATH".to_string(),
            "/usr/local/bin:/usr/bin:/bin".to_string(),
        )]
        .into(),
        env_overrides: Vec::new(),
        stdin: None,
        scratch_dir: None,
        node_modules_dir: None,
        interpreter_path: None,
        applies_node_memory_cap: false,
    };
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return false;
                };
                let (_tx, rx) = tokio::sync::watch::channel(false);
                let result =
                    rt.block_on(crate::run::run_sandboxed(request, &crate::run::NoSink, rx));
                result.exit_code == 0
                    && result.setup_error.is_none()
                    && result.egress_ruleset.is_some()
            })
            .join()
            .unwrap_or(false)
    })
}

static CACHE: std::sync::Mutex<Option<SandboxCapabilities>> = std::sync::Mutex::new(None);
static PROBES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The host's capabilities, probed on the first call and cached for the
/// life of the process (later calls, whatever their candidates, return the
/// cached value).
pub fn detect_cached(launcher_candidates: &[std::path::PathBuf]) -> SandboxCapabilities {
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(caps) = cache.as_ref() {
        return caps.clone();
    }
    let caps = detect(launcher_candidates);
    *cache = Some(caps.clone());
    caps
}

/// Forget the cached capabilities (tests).
pub fn reset_cache() {
    *CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
}

/// How many times the host has been probed in this process.
pub fn probe_count() -> usize {
    PROBES.load(std::sync::atomic::Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_probe() -> HostProbe {
        HostProbe {
            platform_linux: true,
            platform_darwin: false,
            euid: 1000,
            prlimit: Some("/usr/bin/prlimit".into()),
            bwrap: Some("/usr/bin/bwrap".into()),
            nsjail: None,
            firejail: Some("/usr/bin/firejail".into()),
            slirp4netns: Some("/usr/bin/slirp4netns".into()),
            nft: Some("/usr/sbin/nft".into()),
            user_ns_creatable: true,
            landlock_abi: Some(3),
            seccomp: true,
            cgroup: Some(CgroupInfo {
                version: 2,
                writable: false,
            }),
            tun_usable: true,
            launcher: Some("/opt/x/script-sandbox-launcher".into()),
        }
    }

    #[test]
    fn a_complete_host_gets_the_native_engine_and_rootless_egress() {
        let caps = assemble(&full_probe());
        assert_eq!(caps.platform, Platform::Linux);
        assert!(!caps.euid_is_root);
        assert_eq!(caps.wrapper, Some(Wrapper::Bwrap));
        assert_eq!(caps.engine, Some(Engine::Native));
        assert!(
            caps.native_namespaces
                && caps.net_namespaces
                && caps.user_namespaces
                && caps.user_ns_creatable
        );
        assert!(caps.net_egress_rootless && caps.rlimit_native && caps.has_prlimit);
        assert_eq!(caps.net_egress_iface, None);
        assert_eq!(caps.net_egress_addressing, None);
    }

    #[test]
    fn each_missing_piece_is_reflected() {
        let mut p = full_probe();
        p.tun_usable = false;
        let caps = assemble(&p);
        assert!(!caps.net_egress_rootless && caps.native_namespaces && !caps.tun_usable);

        let mut p = full_probe();
        p.nft = None;
        assert!(!assemble(&p).net_egress_rootless);

        let mut p = full_probe();
        p.user_ns_creatable = false;
        let caps = assemble(&p);
        assert!(
            !caps.native_namespaces
                && !caps.net_namespaces
                && !caps.user_namespaces
                && !caps.net_egress_rootless
        );
        assert_eq!(caps.engine, Some(Engine::Native));

        let mut p = full_probe();
        p.launcher = None;
        let caps = assemble(&p);
        assert_eq!(caps.engine, None);
        assert!(!caps.native_namespaces && caps.user_namespaces && !caps.net_namespaces);

        let mut p = full_probe();
        p.platform_linux = false;
        p.platform_darwin = true;
        let caps = assemble(&p);
        assert_eq!(caps.platform, Platform::Darwin);
        assert_eq!(caps.engine, None);
        assert!(!caps.rlimit_native && !caps.user_namespaces && !caps.seccomp);
        assert_eq!(caps.landlock_abi, None);
    }

    #[test]
    fn capabilities_serialize_camel_case_and_accept_the_original_shape() {
        let caps = assemble(&full_probe());
        let json = serde_json::to_value(&caps).unwrap();
        for key in [
            "euidIsRoot",
            "netEgressRootless",
            "userNsCreatable",
            "landlockAbi",
            "nativeNamespaces",
            "tunUsable",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        let original = serde_json::json!({
            "platform": "linux", "euidIsRoot": false, "hasPrlimit": true, "rlimitNative": true,
            "wrapper": "bwrap", "userNamespaces": true, "netNamespaces": true, "userNsCreatable": true,
            "netEgressIface": null, "netEgressAddressing": null, "netEgressRootless": true
        });
        let caps: SandboxCapabilities = serde_json::from_value(original).unwrap();
        assert_eq!(caps.engine, None);
        assert_eq!(caps.launcher, None);
        assert!(!caps.native_namespaces);
    }

    #[test]
    fn path_lookup_skips_relative_dirs_and_uses_fallbacks() {
        assert_eq!(find_in_path("sh", Some("relative/bin:"), &[]), None);
        let sh =
            find_in_path("sh", Some("/nonexistent:/bin:/usr/bin"), &[]).expect("sh is installed");
        assert!(sh.ends_with("/sh"));
        assert_eq!(
            find_in_path("sh", None, &["/bin"]).as_deref(),
            Some("/bin/sh")
        );
        assert_eq!(
            find_in_path(
                "definitely-not-a-tool",
                Some("/bin:/usr/bin"),
                &SBIN_FALLBACK
            ),
            None
        );
        // A directory is not an executable file.
        assert_eq!(find_in_path("bin", Some("/usr"), &[]), None);
    }

    #[test]
    fn cgroup_paths_come_from_proc_self_cgroup() {
        assert_eq!(
            own_cgroup_dir("0::/user.slice/app.scope\n", 2).as_deref(),
            Some("/sys/fs/cgroup/user.slice/app.scope")
        );
        assert_eq!(
            own_cgroup_dir("0::/\n", 2).as_deref(),
            Some("/sys/fs/cgroup")
        );
        let v1 = "12:pids:/a\n4:cpu,cpuacct:/b\n3:memory:/docker/abc\n0::/\n";
        assert_eq!(
            own_cgroup_dir(v1, 1).as_deref(),
            Some("/sys/fs/cgroup/memory/docker/abc")
        );
        assert_eq!(own_cgroup_dir("garbage\n0::/../../etc\n", 2), None);
        assert_eq!(own_cgroup_dir("", 2), None);
    }

    #[test]
    fn macvlan_addressing_needs_all_three() {
        assert_eq!(
            macvlan_addressing_from(Some(" 10.0.0.5 "), Some("255.255.255.0"), Some("10.0.0.1")),
            Some(MacvlanAddressing {
                ip: "10.0.0.5".into(),
                netmask: "255.255.255.0".into(),
                gateway: "10.0.0.1".into()
            })
        );
        assert_eq!(
            macvlan_addressing_from(Some("10.0.0.5"), Some(" "), Some("10.0.0.1")),
            None
        );
        assert_eq!(
            macvlan_addressing_from(Some("10.0.0.5"), None, Some("10.0.0.1")),
            None
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn detection_matches_this_host_and_is_cached() {
        let bin = std::env::current_exe().unwrap();
        let caps = detect(&[
            std::path::PathBuf::from("/nonexistent/launcher"),
            bin.clone(),
        ]);
        // SAFETY: trivial getters.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(caps.euid_is_root, euid == 0);
        assert_eq!(caps.platform, Platform::Linux);
        assert_eq!(
            caps.launcher.as_deref(),
            std::fs::canonicalize(&bin).unwrap().to_str()
        );
        assert_eq!(caps.engine, Some(Engine::Native));
        assert!(caps.rlimit_native);
        let unshare_works = std::process::Command::new("unshare")
            .args(["-Urn", "true"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if unshare_works {
            assert!(
                caps.user_ns_creatable,
                "unshare -Urn works here, the probe must agree"
            );
            assert!(caps.native_namespaces);
        }
        let landlock_abi_file =
            std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
        if landlock_abi_file.contains("landlock") {
            assert!(caps.landlock_abi.is_some());
        }
        assert_eq!(
            caps.tun_usable,
            access_ok(
                std::path::Path::new("/dev/net/tun"),
                libc::R_OK | libc::W_OK
            )
        );
        let pieces = caps.native_namespaces
            && caps.slirp4netns.is_some()
            && caps.nft.is_some()
            && caps.tun_usable;
        // The test binary stands in for the launcher here, so the real
        // egress probe must fail: the pieces alone never make the claim.
        assert!(!caps.net_egress_rootless);
        // With the real launcher (built next to the addon by `npm run build`)
        // the probe decides, and on a host with every piece it succeeds.
        let real = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../script-sandbox-launcher"
        ));
        if real.exists() {
            let with_real = detect(&[real.to_path_buf()]);
            assert_eq!(with_real.net_egress_rootless, pieces, "{with_real:?}");
        } else {
            eprintln!(
                "skipping the real egress probe: {} is not built",
                real.display()
            );
        }
        eprintln!(
            "detected on this host: {}",
            serde_json::to_string(&caps).unwrap()
        );

        reset_cache();
        let first = detect_cached(std::slice::from_ref(&bin));
        let probes = probe_count();
        let second = detect_cached(&[]);
        assert_eq!(first, second);
        assert_eq!(probe_count(), probes, "the second call must not probe");
        reset_cache();
    }
}
