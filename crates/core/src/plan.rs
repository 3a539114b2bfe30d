//! The planner: policy + capabilities -> what the launcher will build, the
//! child's env, and the honest report. Pure and synchronous.

use std::collections::BTreeMap;

use script_sandbox_spec::{
    IdMap, Ids, LandlockRules, LaunchSpec, Namespaces, ProcessSpec, Rlimit, RlimitResource,
    SeccompProfile, SetupOp,
};
use serde::Serialize;

use crate::capabilities::{Platform, SandboxCapabilities};
use crate::env::build_subprocess_env;
use crate::input::Input;
use crate::network::{
    build_network_layer, engine_blockers, metadata_block_downgrade_reason, namespace_blockers,
    NamespacedMode, NetworkDecision, EGRESS_TABLE,
};
use crate::policy::{
    default_profile, parse_policy, FilesystemMode, NetworkMode, OnUnavailable, PrivilegeMode,
    SandboxPolicy,
};
use crate::report::{
    EffectiveSandbox, EnforcedLayers, SandboxDowngrade, SandboxLayer, SandboxNote,
    SandboxUnavailable,
};

/// Per-run paths the runner supplies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilesystemInputs {
    /// The run's writable scratch dir (also its cwd under confinement).
    pub scratch_dir: Option<String>,
    /// Managed packages, bound read-only under `scratch-plus-ro`.
    pub node_modules_dir: Option<String>,
    /// The interpreter binary, bound read-only when it lives outside the base dirs.
    pub interpreter_path: Option<String>,
}

/// Filesystem facts the planner needs, injectable for tests.
pub trait HostPaths {
    fn exists(&self, path: &str) -> bool;
    /// The canonical path, or `None` when it cannot be resolved.
    fn realpath(&self, path: &str) -> Option<String>;
    /// A regular file (after symlinks). Defaults to `exists`.
    fn is_file(&self, path: &str) -> bool {
        self.exists(path)
    }
}

/// The real filesystem.
pub struct RealHostPaths;

impl HostPaths for RealHostPaths {
    fn exists(&self, path: &str) -> bool {
        std::path::Path::new(path).exists()
    }
    fn realpath(&self, path: &str) -> Option<String> {
        std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.to_str().map(str::to_string))
    }
    fn is_file(&self, path: &str) -> bool {
        std::path::Path::new(path).is_file()
    }
}

pub struct HardeningInput<'a> {
    pub policy: &'a SandboxPolicy,
    pub caps: &'a SandboxCapabilities,
    /// The safe vars taken from the supervisor env.
    pub base_env: BTreeMap<String, String>,
    /// Caller overrides, in the caller's order.
    pub env_overrides: Vec<(String, String)>,
    pub filesystem: FilesystemInputs,
    /// Accepted for compatibility with the original engine (it staged the
    /// ruleset in a file); the native engine passes the ruleset in the spec.
    pub nft_ruleset_path: Option<String>,
    /// Accepted for compatibility; the native engine needs no launcher script.
    pub rootless_launcher_path: Option<String>,
    pub applies_node_memory_cap: bool,
    /// The supervisor's effective uid and gid (`geteuid`/`getegid`): the ids
    /// a non-root supervisor's child keeps inside its user namespace.
    pub supervisor_ids: (u32, u32),
    pub paths: &'a dyn HostPaths,
}

/// How the supervisor plumbs egress into the run's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressPlan {
    /// Path of the slirp4netns binary.
    pub slirp4netns: String,
    pub mtu: u32,
}

/// Everything the launcher builds, less the command itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchPlan {
    /// Path of the launcher executable.
    pub launcher: String,
    pub namespaces: Namespaces,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_map: Option<IdMap>,
    pub clear_supplementary_groups: bool,
    pub setup: Vec<SetupOp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    pub rlimits: Vec<Rlimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switch_to: Option<Ids>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landlock: Option<LandlockRules>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<SeccompProfile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<EgressPlan>,
}

impl LaunchPlan {
    /// The launcher's input for one command.
    pub fn to_spec(&self, argv: Vec<String>, env: Vec<(String, String)>) -> LaunchSpec {
        LaunchSpec {
            namespaces: self.namespaces,
            id_map: self.id_map,
            clear_supplementary_groups: self.clear_supplementary_groups,
            setup: self.setup.clone(),
            process: ProcessSpec {
                argv,
                env,
                cwd: self.cwd.clone(),
                rlimits: self.rlimits.clone(),
                switch_to: self.switch_to,
                landlock: self.landlock.clone(),
                seccomp: self.seccomp,
            },
        }
    }
}

/// The planner's answer for one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpawnHardening {
    /// The child's final env (safe base + allowed overrides + sandbox-set vars).
    pub env: BTreeMap<String, String>,
    pub dropped_env_keys: Vec<String>,
    /// The uid/gid the child really runs as, when the engine switches to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
    /// `NODE_OPTIONS=--max-old-space-size=N` for runners that exec Node/Bun.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_memory_flag_env: Option<BTreeMap<String, String>>,
    /// The egress ruleset loaded in the run's namespace, for inspection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nft_ruleset: Option<String>,
    /// Always `None` for the native engine (kept for shape compatibility).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootless_launcher: Option<String>,
    pub effective: EffectiveSandbox,
    /// `None`: the command runs directly (sandbox disabled or no engine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch: Option<LaunchPlan>,
}

impl SpawnHardening {
    /// The argv that would run `cmd` (the launcher's, when one is engaged).
    pub fn wrap_cmd(&self, cmd: &[String]) -> Vec<String> {
        match &self.launch {
            Some(plan) => std::iter::once(plan.launcher.clone())
                .chain(std::iter::once("--".to_string()))
                .chain(cmd.iter().cloned())
                .collect(),
            None => cmd.to_vec(),
        }
    }
}

/// Read-only base system dirs bound into a confined run (those that exist).
pub const BASE_RO_DIRS: [&str; 6] = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"];
/// The unprivileged id a root supervisor's child runs as when no dedicated
/// uid is configured.
pub const NOBODY_ID: u32 = 65534;
/// The run's UTS hostname.
pub const SANDBOX_HOSTNAME: &str = "sandbox";
/// MTU of the slirp4netns interface.
pub const EGRESS_MTU: u32 = 65520;
/// Stand-in scratch dir for reports made without a run
/// (`describe_effective_default`): a real run always has one.
pub const REPRESENTATIVE_SCRATCH_DIR: &str = "/tmp/script-sandbox-scratch";

impl<'a> HardeningInput<'a> {
    /// An input with an empty env, no run paths and the given supervisor ids.
    pub fn new(
        policy: &'a SandboxPolicy,
        caps: &'a SandboxCapabilities,
        supervisor_ids: (u32, u32),
        paths: &'a dyn HostPaths,
    ) -> Self {
        HardeningInput {
            policy,
            caps,
            base_env: BTreeMap::new(),
            env_overrides: Vec::new(),
            filesystem: FilesystemInputs::default(),
            nft_ruleset_path: None,
            rootless_launcher_path: None,
            applies_node_memory_cap: false,
            supervisor_ids,
            paths,
        }
    }
}

/// Collects the report while the layers are planned.
struct Report {
    enforced: EnforcedLayers,
    downgrades: Vec<SandboxDowngrade>,
    notes: Vec<SandboxNote>,
}

impl Report {
    fn downgrade(&mut self, layer: SandboxLayer, reason: impl Into<String>) {
        self.downgrades.push(SandboxDowngrade {
            layer,
            reason: reason.into(),
        });
    }
    fn note(&mut self, layer: SandboxLayer, note: impl Into<String>) {
        self.notes.push(SandboxNote {
            layer,
            note: note.into(),
        });
    }
}

/// What the privilege layer decided.
struct PrivilegePlan {
    switch_to: Option<Ids>,
    id_map: Option<IdMap>,
    clear_groups: bool,
    /// The child runs under a uid of its own (a configured dedicated uid).
    dedicated_uid: bool,
}

/// What the network layer decided.
struct NetworkPlan {
    namespace: bool,
    /// No namespace can be made: deny by refusing inet sockets (seccomp).
    deny_inet_sockets: bool,
    ops: Vec<SetupOp>,
    egress: Option<EgressPlan>,
    ruleset: Option<String>,
}

/// What the filesystem layer decided.
struct FilesystemPlan {
    ops: Vec<SetupOp>,
    cwd: Option<String>,
    landlock: Option<LandlockRules>,
    /// Under confinement: where temp files go (`/tmp` in a fresh root, the
    /// scratch dir when only Landlock confines the host tree).
    tmpdir: Option<String>,
    /// Landlock alone confines the host tree: host Unix sockets must be
    /// refused too (Landlock does not cover connecting to them).
    landlock_only: bool,
}

/// Plan one run: the child's env, what the launcher builds, and the report.
///
/// Fails only when the policy says `onUnavailable: "fail"` and a requested
/// layer cannot be enforced on this host; notes never fail a run.
pub fn build_spawn_hardening(input: &HardeningInput) -> Result<SpawnHardening, SandboxUnavailable> {
    let policy = input.policy;
    let caps = input.caps;
    let platform = caps.platform.as_str().to_string();

    if !policy.enabled {
        let (env, _) = build_subprocess_env(&input.base_env, &input.env_overrides, false);
        return Ok(SpawnHardening {
            env,
            dropped_env_keys: Vec::new(),
            uid: None,
            gid: None,
            max_output_bytes: None,
            node_memory_flag_env: None,
            nft_ruleset: None,
            rootless_launcher: None,
            effective: EffectiveSandbox::refused(policy.clone(), Vec::new(), &platform),
            launch: None,
        });
    }

    let (mut env, dropped_env_keys) =
        build_subprocess_env(&input.base_env, &input.env_overrides, true);
    let engine_blocked = engine_blockers(caps);
    let ns_blocked = namespace_blockers(caps);
    let engine_ready = engine_blocked.is_empty();
    let ns_ready = ns_blocked.is_empty();
    let mut report = Report {
        enforced: EnforcedLayers::default(),
        downgrades: Vec::new(),
        notes: Vec::new(),
    };

    let privilege = plan_privilege(input, engine_ready, ns_ready, &engine_blocked, &mut report);
    let isolated = ns_ready || privilege.dedicated_uid;
    let (rlimits, node_memory_flag_env) =
        plan_resources(input, engine_ready, isolated, &engine_blocked, &mut report);
    let network = plan_network(caps, policy, engine_ready, &mut report);
    let filesystem = plan_filesystem(input, engine_ready, ns_ready, &ns_blocked, &mut report);

    if let Some(tmpdir) = &filesystem.tmpdir {
        env.insert("TMPDIR".to_string(), tmpdir.clone());
    }

    if policy.on_unavailable == OnUnavailable::Fail && !report.downgrades.is_empty() {
        return Err(SandboxUnavailable {
            downgrades: report.downgrades,
        });
    }

    let launch = match (&caps.launcher, engine_ready) {
        (Some(launcher), true) => {
            let mut setup = Vec::new();
            if ns_ready {
                setup.push(SetupOp::Hostname {
                    name: SANDBOX_HOSTNAME.to_string(),
                });
            }
            setup.extend(network.ops);
            setup.extend(filesystem.ops);
            Some(LaunchPlan {
                launcher: launcher.clone(),
                namespaces: Namespaces {
                    user: ns_ready,
                    mount: ns_ready,
                    pid: ns_ready,
                    ipc: ns_ready,
                    uts: ns_ready,
                    net: ns_ready && network.namespace,
                },
                id_map: privilege.id_map,
                clear_supplementary_groups: privilege.clear_groups,
                setup,
                cwd: filesystem.cwd,
                rlimits,
                switch_to: privilege.switch_to,
                landlock: filesystem.landlock,
                seccomp: caps.seccomp.then_some(SeccompProfile {
                    deny_inet_sockets: network.deny_inet_sockets,
                    deny_unix_sockets: filesystem.landlock_only,
                    // No PID namespace: the process group is the whole tree.
                    keep_process_group: !ns_ready,
                }),
                egress: network.egress,
            })
        }
        _ => None,
    };

    Ok(SpawnHardening {
        env,
        dropped_env_keys,
        uid: privilege.switch_to.map(|ids| ids.uid),
        gid: privilege.switch_to.map(|ids| ids.gid),
        max_output_bytes: policy.resources.max_output_bytes,
        node_memory_flag_env,
        nft_ruleset: network.ruleset,
        rootless_launcher: None,
        effective: EffectiveSandbox {
            requested: policy.clone(),
            enforced: report.enforced,
            downgrades: report.downgrades,
            notes: report.notes,
            platform,
        },
        launch,
    })
}

fn plan_privilege(
    input: &HardeningInput,
    engine_ready: bool,
    ns_ready: bool,
    engine_blocked: &[String],
    report: &mut Report,
) -> PrivilegePlan {
    let privilege = &input.policy.privilege;
    let mut plan = PrivilegePlan {
        switch_to: None,
        id_map: None,
        clear_groups: false,
        dedicated_uid: false,
    };
    let identity_map = |uid: u32, gid: u32| IdMap {
        inside_uid: uid,
        outside_uid: uid,
        inside_gid: gid,
        outside_gid: gid,
    };

    if !input.caps.euid_is_root {
        // The child keeps the supervisor's own unprivileged ids.
        report.enforced.privilege = true;
        let (uid, gid) = input.supervisor_ids;
        if privilege.mode == PrivilegeMode::DropToUid {
            if let Some(wanted) = privilege.uid.filter(|wanted| *wanted != uid) {
                report.note(
                    SandboxLayer::Privilege,
                    format!(
                        "privilege.uid {wanted} is not used: a non-root supervisor cannot switch the child to another uid; it runs as the supervisor's unprivileged uid {uid}"
                    ),
                );
            }
        }
        if ns_ready {
            plan.id_map = Some(identity_map(uid, gid));
        }
        return plan;
    }

    if !engine_ready {
        report.downgrade(
            SandboxLayer::Privilege,
            format!(
                "the supervisor runs as root and nothing can switch the child to an unprivileged uid ({}): the child would run as host root",
                engine_blocked.join(", ")
            ),
        );
        return plan;
    }

    let ids = match (privilege.mode, privilege.uid) {
        (PrivilegeMode::DropToUid, Some(uid)) if uid != 0 => {
            plan.dedicated_uid = true;
            Ids {
                uid,
                gid: privilege.gid.unwrap_or(uid),
            }
        }
        (mode, uid) => {
            let why = match (mode, uid) {
                (PrivilegeMode::DropToUid, Some(_)) => {
                    "privilege.uid is 0, which would be host root"
                }
                (PrivilegeMode::DropToUid, None) => "drop-to-uid has no uid configured",
                (PrivilegeMode::Inherit, _) => "inherit would leave the child as host root",
            };
            report.note(
                SandboxLayer::Privilege,
                format!(
                    "the supervisor runs as root and {why}, so the sandbox runs the child as uid {NOBODY_ID} / gid {NOBODY_ID}; set privilege.uid/gid (or CHECKSTACK_SANDBOX_UID/GID) to use a dedicated id"
                ),
            );
            Ids {
                uid: NOBODY_ID,
                gid: NOBODY_ID,
            }
        }
    };
    if ids.gid == 0 {
        report.note(
            SandboxLayer::Privilege,
            format!(
                "the child runs as uid {} with gid 0 (the root group)",
                ids.uid
            ),
        );
    }
    report.enforced.privilege = true;
    plan.switch_to = Some(ids);
    plan.clear_groups = true;
    if ns_ready {
        plan.id_map = Some(identity_map(ids.uid, ids.gid));
    }
    plan
}

fn plan_resources(
    input: &HardeningInput,
    engine_ready: bool,
    isolated: bool,
    engine_blocked: &[String],
    report: &mut Report,
) -> (Vec<Rlimit>, Option<BTreeMap<String, String>>) {
    let r = &input.policy.resources;
    let mut rlimits = Vec::new();
    let mut downgraded = false;
    let requested_rlimits: Vec<&str> = [
        ("cpuSeconds", r.cpu_seconds.is_some()),
        ("maxOpenFiles", r.max_open_files.is_some()),
        ("maxProcesses", r.max_processes.is_some()),
        ("maxFileSizeBytes", r.max_file_size_bytes.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();

    if engine_ready {
        let mut push = |resource: RlimitResource, value: Option<u64>| {
            if let Some(value) = value {
                rlimits.push(Rlimit { resource, value });
            }
        };
        push(RlimitResource::Cpu, r.cpu_seconds);
        push(RlimitResource::Nofile, r.max_open_files);
        if let Some(max) = r.max_processes {
            if isolated {
                push(RlimitResource::Nproc, Some(max));
            } else if input.caps.euid_is_root {
                downgraded = true;
                report.downgrade(
                    SandboxLayer::Resources,
                    "maxProcesses (RLIMIT_NPROC) is not applied: the child has no user namespace and no dedicated uid of its own, and the limit counts every process of its uid, so it would also count other runs; configure a dedicated privilege.uid or enable user namespaces",
                );
            } else {
                report.note(
                    SandboxLayer::Resources,
                    "maxProcesses (RLIMIT_NPROC) is not applied: without a user namespace the child shares the supervisor's uid, and the limit would throttle the supervisor too; the host's cgroup pids limit is the only bound on process count",
                );
            }
        }
        push(RlimitResource::Fsize, r.max_file_size_bytes);
        push(RlimitResource::Core, Some(0));
    } else if !requested_rlimits.is_empty() {
        downgraded = true;
        report.downgrade(
            SandboxLayer::Resources,
            format!(
                "resource limits ({}) are applied by the sandbox launcher, which cannot run here ({}); only the wall-clock timeout and the output cap apply",
                requested_rlimits.join(", "),
                engine_blocked.join(", ")
            ),
        );
    }

    let node_memory_flag_env = r.memory_bytes.map(|bytes| {
        let mib = (bytes / (1024 * 1024)).max(16);
        BTreeMap::from([(
            "NODE_OPTIONS".to_string(),
            format!("--max-old-space-size={mib}"),
        )])
    });
    if r.memory_bytes.is_some() && !input.applies_node_memory_cap {
        report.note(
            SandboxLayer::Resources,
            "memoryBytes is not enforced per run for this command: the NODE_OPTIONS heap cap only binds Node/Bun, so its memory is bounded only by the host cgroup",
        );
    }

    let anything_requested =
        !requested_rlimits.is_empty() || r.memory_bytes.is_some() || r.max_output_bytes.is_some();
    report.enforced.resources = anything_requested && !downgraded;
    (rlimits, node_memory_flag_env)
}

fn plan_network(
    caps: &SandboxCapabilities,
    policy: &SandboxPolicy,
    engine_ready: bool,
    report: &mut Report,
) -> NetworkPlan {
    let mut plan = NetworkPlan {
        namespace: false,
        deny_inet_sockets: false,
        ops: Vec::new(),
        egress: None,
        ruleset: None,
    };
    match build_network_layer(&policy.network, caps) {
        NetworkDecision::Host { metadata_block_unenforceable: false } => report.enforced.network = true,
        NetworkDecision::Host { metadata_block_unenforceable: true } => {
            report.downgrade(SandboxLayer::Network, metadata_block_downgrade_reason(caps));
        }
        NetworkDecision::Namespaced { mode: NamespacedMode::Deny, .. } => {
            plan.namespace = true;
            plan.ops.push(SetupOp::LoopbackUp);
            report.enforced.network = true;
        }
        NetworkDecision::Namespaced { mode: NamespacedMode::Allowlist, nft_ruleset, .. } => {
            match (&caps.nft, &caps.slirp4netns, nft_ruleset) {
                (Some(nft), Some(slirp4netns), Some(ruleset)) => {
                    plan.namespace = true;
                    plan.ops = vec![
                        SetupOp::LoopbackUp,
                        SetupOp::NftRuleset { nft: nft.clone(), ruleset: ruleset.clone(), table: EGRESS_TABLE.to_string() },
                        SetupOp::AwaitEgress,
                    ];
                    plan.egress = Some(EgressPlan { slirp4netns: slirp4netns.clone(), mtu: EGRESS_MTU });
                    plan.ruleset = Some(ruleset);
                    report.enforced.network = true;
                }
                _ => report.downgrade(
                    SandboxLayer::Network,
                    "filtered egress needs slirp4netns, nft and a ruleset, and one is missing; egress unrestricted",
                ),
            }
        }
        NetworkDecision::Degrade { reason } => {
            let no_egress = policy.network.mode == NetworkMode::Deny
                || (policy.network.mode == NetworkMode::Allowlist && policy.network.allow.is_empty());
            if no_egress && engine_ready && caps.seccomp && caps.platform == Platform::Linux {
                // No namespace here (e.g. a container's seccomp profile
                // forbids them): refuse the sockets that reach a network.
                plan.deny_inet_sockets = true;
                report.enforced.network = true;
                report.note(
                    SandboxLayer::Network,
                    "no network namespace can be made on this host, so egress is denied by a seccomp filter that refuses AF_INET/AF_INET6 sockets; Unix sockets on the host stay reachable",
                );
            } else {
                report.downgrade(SandboxLayer::Network, reason);
            }
        }
    }
    plan
}

/// `path` is absolute, and is not `/` itself.
fn usable_dir_path(path: &str) -> bool {
    path.starts_with('/') && !path.trim_end_matches('/').is_empty()
}

fn under_any(path: &str, dirs: &[String]) -> bool {
    dirs.iter().any(|d| {
        path == d
            || path
                .strip_prefix(d.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

fn plan_filesystem(
    input: &HardeningInput,
    engine_ready: bool,
    ns_ready: bool,
    ns_blocked: &[String],
    report: &mut Report,
) -> FilesystemPlan {
    let fs = &input.policy.filesystem;
    let mut plan = FilesystemPlan {
        ops: Vec::new(),
        cwd: None,
        landlock: None,
        tmpdir: None,
        landlock_only: false,
    };
    let mode_name = match fs.mode {
        FilesystemMode::Off => {
            report.enforced.filesystem = true;
            if ns_ready {
                // The host tree stays visible; only /proc is replaced so it
                // matches the run's own PID namespace.
                plan.ops.push(SetupOp::Proc {
                    dest: "/proc".to_string(),
                });
            }
            return plan;
        }
        FilesystemMode::ScratchOnly => "scratch-only",
        FilesystemMode::ScratchPlusRo => "scratch-plus-ro",
    };
    let landlock_only = !ns_ready
        && engine_ready
        && input
            .caps
            .landlock_abi
            .is_some_and(|abi| abi >= LANDLOCK_MIN_ABI_ALONE);
    if !ns_ready && !landlock_only {
        report.downgrade(
            SandboxLayer::Filesystem,
            format!(
                "filesystem confinement ({mode_name}) needs user and mount namespaces, which cannot be created: {}, and Landlock (ABI {LANDLOCK_MIN_ABI_ALONE}+) is not available to stand in; the child sees the host filesystem",
                ns_blocked.join(", ")
            ),
        );
        return plan;
    }
    let scratch = match input.filesystem.scratch_dir.as_deref() {
        None => {
            report.downgrade(
                SandboxLayer::Filesystem,
                format!("filesystem confinement ({mode_name}) needs a per-run scratch dir and none was provided; the child sees the host filesystem"),
            );
            return plan;
        }
        Some(dir) if !usable_dir_path(dir) => {
            report.downgrade(
                SandboxLayer::Filesystem,
                format!(
                    "filesystem confinement ({mode_name}) needs an absolute scratch dir other than /, got {}; the child sees the host filesystem",
                    crate::network::echo(dir)
                ),
            );
            return plan;
        }
        Some(dir) => dir.to_string(),
    };

    let paths = input.paths;
    let base: Vec<String> = BASE_RO_DIRS
        .iter()
        .filter(|d| paths.exists(d))
        .map(|d| d.to_string())
        .collect();
    if landlock_only {
        return landlock_only_filesystem(input, base, scratch, report);
    }
    let mut read_only = base.clone();
    let ro_bind = |p: &str| SetupOp::Bind {
        source: p.to_string(),
        dest: p.to_string(),
        readonly: true,
    };

    plan.ops.push(SetupOp::NewRoot);
    plan.ops.extend(base.iter().map(|d| ro_bind(d)));
    let interpreter = input
        .filesystem
        .interpreter_path
        .as_deref()
        .and_then(|p| paths.realpath(p))
        .filter(|p| p.starts_with('/') && paths.is_file(p) && !under_any(p, &base));
    // The fresh /tmp goes first: every later bind may live under /tmp (an
    // interpreter installed in a temp dir, the scratch dir) and must not be
    // hidden by it.
    plan.ops.push(SetupOp::Tmpfs {
        dest: "/tmp".to_string(),
        size_bytes: fs.scratch_bytes,
    });
    if let Some(interpreter) = &interpreter {
        plan.ops.push(ro_bind(interpreter));
        read_only.push(interpreter.clone());
    }
    plan.ops.push(SetupOp::Bind {
        source: scratch.clone(),
        dest: scratch.clone(),
        readonly: false,
    });
    if fs.mode == FilesystemMode::ScratchPlusRo {
        if let Some(modules) = input.filesystem.node_modules_dir.as_deref() {
            if usable_dir_path(modules) && paths.exists(modules) {
                plan.ops.push(ro_bind(modules));
                read_only.push(modules.to_string());
            }
        }
    }
    plan.ops.push(SetupOp::Proc {
        dest: "/proc".to_string(),
    });
    plan.ops.push(SetupOp::Dev {
        dest: "/dev".to_string(),
    });
    plan.ops.push(SetupOp::FinishRoot);

    if input.caps.landlock_abi.is_some() {
        read_only.push("/proc".to_string());
        read_only.push("/dev".to_string());
        let read_write = [
            scratch.as_str(),
            "/tmp",
            "/dev/null",
            "/dev/zero",
            "/dev/full",
            "/dev/tty",
            "/dev/pts",
            "/dev/shm",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        plan.landlock = Some(LandlockRules {
            read_only,
            read_write,
            required: false,
        });
    }
    plan.cwd = Some(scratch);
    plan.tmpdir = Some("/tmp".to_string());
    report.enforced.filesystem = true;
    plan
}

/// Landlock ABI needed to confine the host without namespaces: from 3 on,
/// truncation is covered too, so nothing outside the rules can be written by
/// any route; from 6 on, signals cannot leave the sandbox, so a script that
/// shares the supervisor's uid and PID namespace cannot kill it (the
/// launcher enforces this floor as `required`).
const LANDLOCK_MIN_ABI_ALONE: u32 = 6;

/// No mount namespace: Landlock alone keeps the child to the base dirs, the
/// interpreter and `nodeModulesDir` (read) and its scratch dir (read/write).
/// No `/proc` (it would expose the supervisor's own environment) and no
/// shared `/tmp`: temp files go to the scratch dir.
fn landlock_only_filesystem(
    input: &HardeningInput,
    base: Vec<String>,
    scratch: String,
    report: &mut Report,
) -> FilesystemPlan {
    let paths = input.paths;
    let mut read_only = base;
    if let Some(interpreter) = input
        .filesystem
        .interpreter_path
        .as_deref()
        .and_then(|p| paths.realpath(p))
        .filter(|p| p.starts_with('/') && paths.is_file(p) && !under_any(p, &read_only))
    {
        read_only.push(interpreter);
    }
    if input.policy.filesystem.mode == FilesystemMode::ScratchPlusRo {
        if let Some(modules) = input.filesystem.node_modules_dir.as_deref() {
            if usable_dir_path(modules) && paths.exists(modules) {
                read_only.push(modules.to_string());
            }
        }
    }
    read_only.extend(["/dev/urandom", "/dev/random", "/dev/zero"].map(String::from));
    report.enforced.filesystem = true;
    report.note(
        SandboxLayer::Filesystem,
        format!(
            "no mount namespace can be made on this host, so Landlock alone confines the host filesystem: read-only {}, read-write only the scratch dir (also TMPDIR); /proc and /tmp are not available, host Unix sockets are refused (seccomp) and signals cannot leave the sandbox",
            read_only.join(", ")
        ),
    );
    FilesystemPlan {
        ops: Vec::new(),
        cwd: Some(scratch.clone()),
        landlock: Some(LandlockRules {
            read_only,
            read_write: vec![scratch.clone(), "/dev/null".to_string()],
            required: true,
        }),
        tmpdir: Some(scratch),
        landlock_only: true,
    }
}

/// What `policy` would get on this host, for startup logs and `plan`. Never
/// fails: the policy is planned in degrade mode (with a representative
/// scratch dir, as every real run has one), and `requested` is the policy
/// as given.
pub fn describe_effective_default(
    policy: &SandboxPolicy,
    caps: &SandboxCapabilities,
    paths: &dyn HostPaths,
) -> EffectiveSandbox {
    let mut degrade = policy.clone();
    degrade.on_unavailable = OnUnavailable::Degrade;
    let ids = if caps.euid_is_root {
        (0, 0)
    } else {
        match crate::capabilities::supervisor_ids() {
            (0, _) => (NOBODY_ID, NOBODY_ID),
            ids => ids,
        }
    };
    let mut input = HardeningInput::new(&degrade, caps, ids, paths);
    input.filesystem.scratch_dir = Some(REPRESENTATIVE_SCRATCH_DIR.to_string());
    let mut effective = match build_spawn_hardening(&input) {
        Ok(hardening) => hardening.effective,
        Err(unavailable) => EffectiveSandbox::refused(
            degrade.clone(),
            unavailable.downgrades,
            caps.platform.as_str(),
        ),
    };
    effective.requested = policy.clone();
    effective
}

/// `describe_effective_default` for an unvalidated policy input: a
/// malformed policy is reported as a downgrade of every layer (nothing
/// would be enforced: such a run is rejected), never as an error.
pub fn describe_effective_default_input(
    input: &Input,
    caps: &SandboxCapabilities,
    paths: &dyn HostPaths,
) -> EffectiveSandbox {
    match parse_policy(input) {
        Ok(policy) => describe_effective_default(&policy, caps, paths),
        Err(err) => undescribable(
            format!("{err}; runs with this policy are rejected"),
            caps.platform.as_str(),
        ),
    }
}

/// The report when there is nothing sound to plan with: every layer down,
/// each naming `reason`.
pub fn undescribable(reason: String, platform: &str) -> EffectiveSandbox {
    let downgrades = [
        SandboxLayer::Resources,
        SandboxLayer::Filesystem,
        SandboxLayer::Network,
        SandboxLayer::Privilege,
    ]
    .into_iter()
    .map(|layer| SandboxDowngrade {
        layer,
        reason: reason.clone(),
    })
    .collect();
    EffectiveSandbox::refused(default_profile(), downgrades, platform)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::capabilities::Platform;
    use crate::network::{build_egress_nft_rules, EgressRulesMode};
    use crate::policy::{fail_closed_profile, NetworkMode};
    use crate::report::unavailable_message;

    const MIB: u64 = 1024 * 1024;
    const LAUNCHER: &str = "/opt/sandbox/script-sandbox-launcher";
    const SCRATCH: &str = "/tmp/run-1";
    const MODULES: &str = "/srv/app/node_modules";
    const NODE_REAL: &str = "/opt/node/bin/node";
    const USER: (u32, u32) = (1000, 1000);

    struct FakePaths {
        existing: BTreeSet<String>,
        links: BTreeMap<String, String>,
    }

    impl FakePaths {
        /// A merged-/usr-less host without /lib64, with Node installed outside /usr.
        fn new() -> Self {
            let existing = [
                "/",
                "/srv/app",
                "/usr",
                "/bin",
                "/sbin",
                "/lib",
                "/etc",
                NODE_REAL,
                MODULES,
                "/usr/bin/node",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let links =
                BTreeMap::from([("/usr/local/bin/node".to_string(), NODE_REAL.to_string())]);
            FakePaths { existing, links }
        }
    }

    impl HostPaths for FakePaths {
        fn exists(&self, path: &str) -> bool {
            self.existing.contains(path)
                || self
                    .links
                    .get(path)
                    .is_some_and(|t| self.existing.contains(t))
        }
        fn realpath(&self, path: &str) -> Option<String> {
            if let Some(target) = self.links.get(path) {
                return Some(target.clone());
            }
            self.existing.contains(path).then(|| path.to_string())
        }
        fn is_file(&self, path: &str) -> bool {
            let dirs = [
                "/", "/usr", "/bin", "/sbin", "/lib", "/etc", "/srv/app", MODULES,
            ];
            self.exists(path) && !dirs.contains(&path)
        }
    }

    fn caps(root: bool) -> SandboxCapabilities {
        crate::capabilities::full_host_caps(root, LAUNCHER)
    }

    /// No user namespaces, and no Landlock/seccomp to stand in either.
    fn without_userns(c: SandboxCapabilities) -> SandboxCapabilities {
        SandboxCapabilities {
            landlock_abi: None,
            seccomp: false,
            ..namespaces_blocked(c)
        }
    }

    /// No user namespaces (a container's default seccomp profile), but
    /// Landlock and seccomp available.
    fn namespaces_blocked(mut c: SandboxCapabilities) -> SandboxCapabilities {
        c.landlock_abi = Some(6);
        c.user_namespaces = false;
        c.user_ns_creatable = false;
        c.net_namespaces = false;
        c.native_namespaces = false;
        c.net_egress_rootless = false;
        c
    }

    fn without_tun(mut c: SandboxCapabilities) -> SandboxCapabilities {
        c.tun_usable = false;
        c.net_egress_rootless = false;
        c
    }

    fn without_launcher(mut c: SandboxCapabilities) -> SandboxCapabilities {
        c.launcher = None;
        c.engine = None;
        c.native_namespaces = false;
        c.net_namespaces = false;
        c.net_egress_rootless = false;
        c
    }

    fn darwin() -> SandboxCapabilities {
        SandboxCapabilities {
            platform: Platform::Darwin,
            euid_is_root: false,
            has_prlimit: false,
            rlimit_native: false,
            wrapper: None,
            user_namespaces: false,
            net_namespaces: false,
            user_ns_creatable: false,
            net_egress_iface: None,
            net_egress_addressing: None,
            net_egress_rootless: false,
            native_namespaces: false,
            landlock_abi: None,
            seccomp: false,
            cgroup: None,
            slirp4netns: None,
            nft: None,
            tun_usable: false,
            engine: None,
            launcher: None,
        }
    }

    fn base_env() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("HOME".to_string(), "/home/app".to_string()),
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
        ])
    }

    fn plan_with(
        policy: &SandboxPolicy,
        caps: &SandboxCapabilities,
        ids: (u32, u32),
        tweak: impl FnOnce(&mut HardeningInput),
    ) -> Result<SpawnHardening, SandboxUnavailable> {
        let paths = FakePaths::new();
        let mut input = HardeningInput::new(policy, caps, ids, &paths);
        input.base_env = base_env();
        input.filesystem = FilesystemInputs {
            scratch_dir: Some(SCRATCH.into()),
            node_modules_dir: Some(MODULES.into()),
            interpreter_path: Some("/usr/local/bin/node".into()),
        };
        input.applies_node_memory_cap = true;
        tweak(&mut input);
        build_spawn_hardening(&input)
    }

    fn plan(policy: &SandboxPolicy, caps: &SandboxCapabilities) -> SpawnHardening {
        let ids = if caps.euid_is_root { (0, 0) } else { USER };
        plan_with(policy, caps, ids, |_| {}).expect("plan should not refuse")
    }

    fn degrade(mut p: SandboxPolicy) -> SandboxPolicy {
        p.on_unavailable = OnUnavailable::Degrade;
        p
    }

    fn ro(p: &str) -> SetupOp {
        SetupOp::Bind {
            source: p.into(),
            dest: p.into(),
            readonly: true,
        }
    }

    fn hostname() -> SetupOp {
        SetupOp::Hostname {
            name: "sandbox".into(),
        }
    }

    /// The confined-FS steps for the fake host (`scratch-plus-ro`).
    fn confined_fs_ops(with_modules: bool, tmp_size: Option<u64>) -> Vec<SetupOp> {
        let mut ops = vec![
            SetupOp::NewRoot,
            ro("/usr"),
            ro("/bin"),
            ro("/sbin"),
            ro("/lib"),
            ro("/etc"),
            SetupOp::Tmpfs {
                dest: "/tmp".into(),
                size_bytes: tmp_size,
            },
            ro(NODE_REAL),
        ];
        ops.push(SetupOp::Bind {
            source: SCRATCH.into(),
            dest: SCRATCH.into(),
            readonly: false,
        });
        if with_modules {
            ops.push(ro(MODULES));
        }
        ops.extend([
            SetupOp::Proc {
                dest: "/proc".into(),
            },
            SetupOp::Dev {
                dest: "/dev".into(),
            },
            SetupOp::FinishRoot,
        ]);
        ops
    }

    fn all_namespaces(net: bool) -> Namespaces {
        Namespaces {
            user: true,
            mount: true,
            pid: true,
            ipc: true,
            uts: true,
            net,
        }
    }

    fn shipped_rlimits(with_nproc: bool) -> Vec<Rlimit> {
        let mut v = vec![
            Rlimit {
                resource: RlimitResource::Cpu,
                value: 60,
            },
            Rlimit {
                resource: RlimitResource::Nofile,
                value: 1024,
            },
        ];
        if with_nproc {
            v.push(Rlimit {
                resource: RlimitResource::Nproc,
                value: 256,
            });
        }
        v.push(Rlimit {
            resource: RlimitResource::Fsize,
            value: 256 * MIB,
        });
        v.push(Rlimit {
            resource: RlimitResource::Core,
            value: 0,
        });
        v
    }

    fn enforced(
        resources: bool,
        filesystem: bool,
        network: bool,
        privilege: bool,
    ) -> EnforcedLayers {
        EnforcedLayers {
            resources,
            filesystem,
            network,
            privilege,
        }
    }

    fn layers(downgrades: &[SandboxDowngrade]) -> Vec<SandboxLayer> {
        downgrades.iter().map(|d| d.layer).collect()
    }

    fn id_map(uid: u32, gid: u32) -> IdMap {
        IdMap {
            inside_uid: uid,
            outside_uid: uid,
            inside_gid: gid,
            outside_gid: gid,
        }
    }

    fn expected_landlock(with_modules: bool) -> LandlockRules {
        let mut read_only: Vec<String> = ["/usr", "/bin", "/sbin", "/lib", "/etc", NODE_REAL]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if with_modules {
            read_only.push(MODULES.into());
        }
        read_only.extend(["/proc".to_string(), "/dev".to_string()]);
        LandlockRules {
            read_only,
            read_write: [
                SCRATCH,
                "/tmp",
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/tty",
                "/dev/pts",
                "/dev/shm",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            required: false,
        }
    }

    const NOBODY_NOTE_NO_UID: &str = "the supervisor runs as root and drop-to-uid has no uid configured, so the sandbox runs the child as uid 65534 / gid 65534; set privilege.uid/gid (or CHECKSTACK_SANDBOX_UID/GID) to use a dedicated id";
    const SHELL_MEMORY_NOTE: &str = "memoryBytes is not enforced per run for this command: the NODE_OPTIONS heap cap only binds Node/Bun, so its memory is bounded only by the host cgroup";
    const NPROC_NOTE: &str = "maxProcesses (RLIMIT_NPROC) is not applied: without a user namespace the child shares the supervisor's uid, and the limit would throttle the supervisor too; the host's cgroup pids limit is the only bound on process count";
    const NPROC_DOWNGRADE: &str = "maxProcesses (RLIMIT_NPROC) is not applied: the child has no user namespace and no dedicated uid of its own, and the limit counts every process of its uid, so it would also count other runs; configure a dedicated privilege.uid or enable user namespaces";
    const NO_USERNS: &str = "user namespaces unavailable (they cannot be created on this host)";

    #[test]
    fn secure_default_as_non_root_on_a_complete_host() {
        let policy = default_profile();
        let h = plan(&policy, &caps(false));
        let mut setup = vec![hostname(), SetupOp::LoopbackUp];
        setup.extend(confined_fs_ops(true, None));
        assert_eq!(
            h.launch,
            Some(LaunchPlan {
                launcher: LAUNCHER.into(),
                namespaces: all_namespaces(true),
                id_map: Some(id_map(1000, 1000)),
                clear_supplementary_groups: false,
                setup,
                cwd: Some(SCRATCH.into()),
                rlimits: shipped_rlimits(true),
                switch_to: None,
                landlock: Some(expected_landlock(true)),
                seccomp: Some(SeccompProfile {
                    deny_inet_sockets: false,
                    deny_unix_sockets: false,
                    keep_process_group: false,
                }),
                egress: None,
            })
        );
        assert_eq!(h.effective.enforced, enforced(true, true, true, true));
        assert_eq!(h.effective.downgrades, vec![]);
        assert_eq!(h.effective.notes, vec![]);
        assert_eq!(h.effective.platform, "linux");
        assert_eq!(h.effective.requested, policy);
        assert_eq!((h.uid, h.gid), (None, None));
        assert_eq!(h.max_output_bytes, Some(5 * MIB));
        assert_eq!(
            h.node_memory_flag_env,
            Some(BTreeMap::from([(
                "NODE_OPTIONS".to_string(),
                "--max-old-space-size=512".to_string()
            )]))
        );
        assert_eq!(h.nft_ruleset, None);
        assert_eq!(h.rootless_launcher, None);
        let mut env = base_env();
        env.insert("TMPDIR".into(), "/tmp".into());
        assert_eq!(h.env, env);
        assert_eq!(
            h.wrap_cmd(&["sh".to_string(), "-c".to_string(), "true".to_string()]),
            vec![LAUNCHER, "--", "sh", "-c", "true"]
        );
    }

    #[test]
    fn secure_default_as_root_runs_the_child_as_nobody() {
        let h = plan(&default_profile(), &caps(true));
        let launch = h.launch.clone().unwrap();
        assert_eq!(
            launch.switch_to,
            Some(Ids {
                uid: 65534,
                gid: 65534
            })
        );
        assert_eq!(launch.id_map, Some(id_map(65534, 65534)));
        assert!(launch.clear_supplementary_groups);
        assert_eq!(launch.rlimits, shipped_rlimits(true));
        assert_eq!(launch.namespaces, all_namespaces(true));
        assert_eq!((h.uid, h.gid), (Some(65534), Some(65534)));
        assert_eq!(h.effective.enforced, enforced(true, true, true, true));
        assert_eq!(h.effective.downgrades, vec![]);
        assert_eq!(
            h.effective.notes,
            vec![SandboxNote {
                layer: SandboxLayer::Privilege,
                note: NOBODY_NOTE_NO_UID.into()
            }]
        );
    }

    #[test]
    fn root_with_inherit_or_uid_zero_also_runs_as_nobody() {
        let mut policy = default_profile();
        policy.privilege.mode = PrivilegeMode::Inherit;
        let h = plan(&policy, &caps(true));
        assert_eq!(
            h.launch.unwrap().switch_to,
            Some(Ids {
                uid: 65534,
                gid: 65534
            })
        );
        assert_eq!(
            h.effective.notes[0].note,
            "the supervisor runs as root and inherit would leave the child as host root, so the sandbox runs the child as uid 65534 / gid 65534; set privilege.uid/gid (or CHECKSTACK_SANDBOX_UID/GID) to use a dedicated id"
        );
        assert!(h.effective.enforced.privilege);

        let mut policy = default_profile();
        policy.privilege.uid = Some(0);
        let h = plan(&policy, &caps(true));
        assert_eq!(
            h.launch.unwrap().switch_to,
            Some(Ids {
                uid: 65534,
                gid: 65534
            })
        );
        assert!(h.effective.notes[0]
            .note
            .contains("privilege.uid is 0, which would be host root"));
    }

    #[test]
    fn root_with_a_dedicated_uid_switches_to_it() {
        let policy = resolve(Some("1500"), None);
        let h = plan(&policy, &caps(true));
        let launch = h.launch.unwrap();
        assert_eq!(
            launch.switch_to,
            Some(Ids {
                uid: 1500,
                gid: 1500
            })
        );
        assert_eq!(launch.id_map, Some(id_map(1500, 1500)));
        assert!(launch.clear_supplementary_groups);
        assert_eq!((h.uid, h.gid), (Some(1500), Some(1500)));
        assert_eq!(h.effective.notes, vec![]);
        assert_eq!(h.effective.enforced, enforced(true, true, true, true));

        let policy = resolve(Some("1500"), Some("1600"));
        let h = plan(&policy, &caps(true));
        assert_eq!(
            h.launch.unwrap().switch_to,
            Some(Ids {
                uid: 1500,
                gid: 1600
            })
        );

        let policy = resolve(Some("1500"), Some("0"));
        let h = plan(&policy, &caps(true));
        assert_eq!(
            h.effective.notes,
            vec![SandboxNote {
                layer: SandboxLayer::Privilege,
                note: "the child runs as uid 1500 with gid 0 (the root group)".into()
            }]
        );
    }

    fn resolve(uid: Option<&str>, gid: Option<&str>) -> SandboxPolicy {
        crate::policy::resolve_default_profile(uid, gid)
    }

    #[test]
    fn non_root_with_a_configured_uid_keeps_its_own_and_says_so() {
        let policy = resolve(Some("1500"), None);
        let h = plan(&policy, &caps(false));
        let launch = h.launch.unwrap();
        assert_eq!(launch.switch_to, None);
        assert_eq!(launch.id_map, Some(id_map(1000, 1000)));
        assert_eq!(
            h.effective.notes,
            vec![SandboxNote {
                layer: SandboxLayer::Privilege,
                note: "privilege.uid 1500 is not used: a non-root supervisor cannot switch the child to another uid; it runs as the supervisor's unprivileged uid 1000".into()
            }]
        );
        assert!(h.effective.enforced.privilege);
        // Configuring the supervisor's own uid is not worth a note.
        let policy = resolve(Some("1000"), None);
        assert_eq!(plan(&policy, &caps(false)).effective.notes, vec![]);
    }

    #[test]
    fn secure_default_refuses_without_user_namespaces() {
        for root in [false, true] {
            let c = without_userns(caps(root));
            let err = plan_with(
                &default_profile(),
                &c,
                if root { (0, 0) } else { USER },
                |_| {},
            )
            .unwrap_err();
            let expected_layers = if root {
                vec![
                    SandboxLayer::Resources,
                    SandboxLayer::Network,
                    SandboxLayer::Filesystem,
                ]
            } else {
                vec![SandboxLayer::Network, SandboxLayer::Filesystem]
            };
            assert_eq!(layers(&err.downgrades), expected_layers, "root={root}");
            let network = err
                .downgrades
                .iter()
                .find(|d| d.layer == SandboxLayer::Network)
                .unwrap();
            assert_eq!(
                network.reason,
                format!("network allowlist (empty: deny all) needs a new network namespace, which cannot be created: {NO_USERNS}; egress unrestricted")
            );
            let fs = err
                .downgrades
                .iter()
                .find(|d| d.layer == SandboxLayer::Filesystem)
                .unwrap();
            assert_eq!(
                fs.reason,
                format!("filesystem confinement (scratch-plus-ro) needs user and mount namespaces, which cannot be created: {NO_USERNS}, and Landlock (ABI 6+) is not available to stand in; the child sees the host filesystem")
            );
            assert_eq!(err.to_string(), unavailable_message(&err.downgrades));
        }
    }

    #[test]
    fn degrade_without_user_namespaces_still_engages_the_launcher() {
        // Non-root: rlimits (no NPROC: it would throttle the supervisor), nothing else.
        let h = plan(&degrade(default_profile()), &without_userns(caps(false)));
        assert_eq!(
            h.launch,
            Some(LaunchPlan {
                launcher: LAUNCHER.into(),
                namespaces: Namespaces::default(),
                id_map: None,
                clear_supplementary_groups: false,
                setup: vec![],
                cwd: None,
                rlimits: shipped_rlimits(false),
                switch_to: None,
                landlock: None,
                seccomp: None,
                egress: None,
            })
        );
        assert_eq!(h.effective.enforced, enforced(true, false, false, true));
        assert_eq!(
            layers(&h.effective.downgrades),
            vec![SandboxLayer::Network, SandboxLayer::Filesystem]
        );
        assert_eq!(
            h.effective.notes,
            vec![SandboxNote {
                layer: SandboxLayer::Resources,
                note: NPROC_NOTE.into()
            }]
        );
        assert_eq!(h.env, base_env(), "no TMPDIR without a fresh /tmp");

        // Root, no dedicated uid: switched to nobody directly; NPROC on the
        // shared nobody uid is a downgrade.
        let h = plan(&degrade(default_profile()), &without_userns(caps(true)));
        let launch = h.launch.clone().unwrap();
        assert_eq!(launch.namespaces, Namespaces::default());
        assert_eq!(launch.id_map, None);
        assert_eq!(
            launch.switch_to,
            Some(Ids {
                uid: 65534,
                gid: 65534
            })
        );
        assert!(launch.clear_supplementary_groups);
        assert_eq!(launch.rlimits, shipped_rlimits(false));
        assert_eq!(h.effective.enforced, enforced(false, false, false, true));
        assert_eq!(
            h.effective.downgrades[0],
            SandboxDowngrade {
                layer: SandboxLayer::Resources,
                reason: NPROC_DOWNGRADE.into()
            }
        );
        assert_eq!(
            layers(&h.effective.downgrades),
            vec![
                SandboxLayer::Resources,
                SandboxLayer::Network,
                SandboxLayer::Filesystem
            ]
        );

        // Root with a dedicated uid: NPROC binds on that uid.
        let policy = degrade(resolve(Some("1500"), None));
        let h = plan(&policy, &without_userns(caps(true)));
        let launch = h.launch.unwrap();
        assert_eq!(launch.rlimits, shipped_rlimits(true));
        assert_eq!(
            launch.switch_to,
            Some(Ids {
                uid: 1500,
                gid: 1500
            })
        );
        assert_eq!(launch.id_map, None);
        assert!(h.effective.enforced.resources);
        assert_eq!(
            layers(&h.effective.downgrades),
            vec![SandboxLayer::Network, SandboxLayer::Filesystem]
        );
    }

    #[test]
    fn no_launcher_means_nothing_but_the_portable_subset() {
        for root in [false, true] {
            let c = without_launcher(caps(root));
            let h = plan(&degrade(default_profile()), &c);
            assert_eq!(h.launch, None, "root={root}");
            let mut expected = vec![
                SandboxLayer::Resources,
                SandboxLayer::Network,
                SandboxLayer::Filesystem,
            ];
            if root {
                expected.insert(0, SandboxLayer::Privilege);
            }
            assert_eq!(layers(&h.effective.downgrades), expected, "root={root}");
            assert_eq!(h.effective.enforced, enforced(false, false, false, !root));
            let resources = h
                .effective
                .downgrades
                .iter()
                .find(|d| d.layer == SandboxLayer::Resources)
                .unwrap();
            assert_eq!(
                resources.reason,
                "resource limits (cpuSeconds, maxOpenFiles, maxProcesses, maxFileSizeBytes) are applied by the sandbox launcher, which cannot run here (the sandbox launcher executable was not found); only the wall-clock timeout and the output cap apply"
            );
            if root {
                assert_eq!(
                    h.effective.downgrades[0].reason,
                    "the supervisor runs as root and nothing can switch the child to an unprivileged uid (the sandbox launcher executable was not found): the child would run as host root"
                );
                assert_eq!((h.uid, h.gid), (None, None));
            }
            assert_eq!(h.max_output_bytes, Some(5 * MIB));
            assert!(h.node_memory_flag_env.is_some());
            // The fail-closed default refuses the same host.
            assert!(plan_with(&default_profile(), &c, (0, 0), |_| {}).is_err());
        }
    }

    #[test]
    fn darwin_plans_without_an_engine() {
        let h = plan(&degrade(default_profile()), &darwin());
        assert_eq!(h.launch, None);
        assert_eq!(h.effective.platform, "darwin");
        assert_eq!(h.effective.enforced, enforced(false, false, false, true));
        assert_eq!(
            h.effective.downgrades,
            vec![
                SandboxDowngrade {
                    layer: SandboxLayer::Resources,
                    reason: "resource limits (cpuSeconds, maxOpenFiles, maxProcesses, maxFileSizeBytes) are applied by the sandbox launcher, which cannot run here (the sandbox engine needs Linux (platform=darwin)); only the wall-clock timeout and the output cap apply".into()
                },
                SandboxDowngrade {
                    layer: SandboxLayer::Network,
                    reason: "network allowlist (empty: deny all) needs a new network namespace, which cannot be created: the sandbox engine needs Linux (platform=darwin); egress unrestricted".into()
                },
                SandboxDowngrade {
                    layer: SandboxLayer::Filesystem,
                    reason: "filesystem confinement (scratch-plus-ro) needs user and mount namespaces, which cannot be created: the sandbox engine needs Linux (platform=darwin), and Landlock (ABI 6+) is not available to stand in; the child sees the host filesystem".into()
                },
            ]
        );
        // Only an output cap: portable, so enforced anywhere.
        let mut policy = crate::policy::parse_policy(&Input::from(
            serde_json::json!({"resources": {"maxOutputBytes": 10}}),
        ))
        .unwrap();
        policy.network.deny_link_local_and_metadata = false;
        let h = plan(&policy, &darwin());
        assert_eq!(h.effective.enforced, enforced(true, true, true, true));
        assert_eq!(h.effective.downgrades, vec![]);
        assert_eq!(h.max_output_bytes, Some(10));
    }

    #[test]
    fn landlock_and_seccomp_stand_in_when_namespaces_are_blocked() {
        // A container whose seccomp profile forbids namespaces: the secure
        // default still runs, confined by Landlock and with inet sockets refused.
        let h = plan(&default_profile(), &namespaces_blocked(caps(false)));
        assert_eq!(h.effective.enforced, enforced(true, true, true, true));
        assert_eq!(h.effective.downgrades, vec![]);
        let launch = h.launch.unwrap();
        assert_eq!(launch.namespaces, Namespaces::default());
        assert_eq!(launch.setup, vec![]);
        assert_eq!(launch.cwd.as_deref(), Some(SCRATCH));
        assert_eq!(
            launch.seccomp,
            Some(SeccompProfile {
                deny_inet_sockets: true,
                deny_unix_sockets: true,
                keep_process_group: true,
            })
        );
        assert_eq!(
            launch.landlock,
            Some(LandlockRules {
                read_only: [
                    "/usr",
                    "/bin",
                    "/sbin",
                    "/lib",
                    "/etc",
                    NODE_REAL,
                    MODULES,
                    "/dev/urandom",
                    "/dev/random",
                    "/dev/zero"
                ]
                .map(String::from)
                .to_vec(),
                read_write: vec![SCRATCH.to_string(), "/dev/null".to_string()],
                required: true,
            })
        );
        assert_eq!(
            h.env.get("TMPDIR").map(String::as_str),
            Some(SCRATCH),
            "no shared /tmp"
        );
        assert_eq!(
            layers_of_notes(&h.effective.notes),
            vec![
                SandboxLayer::Resources,
                SandboxLayer::Network,
                SandboxLayer::Filesystem
            ]
        );

        // Landlock too old to scope signals: the filesystem layer downgrades.
        let mut old = namespaces_blocked(caps(false));
        old.landlock_abi = Some(5);
        let h = plan(&degrade(default_profile()), &old);
        assert_eq!(
            layers(&h.effective.downgrades),
            vec![SandboxLayer::Filesystem]
        );
        // Allowlists with entries still need a namespace: no stand-in.
        let mut policy = degrade(default_profile());
        policy.network.allow = vec!["192.0.2.1".into()];
        let h = plan(&policy, &namespaces_blocked(caps(false)));
        assert_eq!(layers(&h.effective.downgrades), vec![SandboxLayer::Network]);
        assert_eq!(
            h.launch.unwrap().seccomp,
            Some(SeccompProfile {
                deny_inet_sockets: false,
                deny_unix_sockets: true,
                keep_process_group: true,
            })
        );
    }

    fn layers_of_notes(notes: &[SandboxNote]) -> Vec<SandboxLayer> {
        notes.iter().map(|n| n.layer).collect()
    }

    #[test]
    fn fail_closed_profile_degrades_instead_of_refusing() {
        let h = plan(&fail_closed_profile(), &without_userns(caps(false)));
        assert_eq!(
            layers(&h.effective.downgrades),
            vec![SandboxLayer::Network, SandboxLayer::Filesystem]
        );
        assert!(h.effective.downgrades[0]
            .reason
            .starts_with("network deny needs a new network namespace"));
        // And on a complete host it is fully enforced with a routeless namespace.
        let h = plan(&fail_closed_profile(), &caps(false));
        let launch = h.launch.unwrap();
        assert_eq!(launch.namespaces, all_namespaces(true));
        assert_eq!(launch.setup[..2], [hostname(), SetupOp::LoopbackUp]);
        assert_eq!(h.effective.enforced, enforced(true, true, true, true));
    }

    #[test]
    fn allowlist_with_entries_plumbs_filtered_rootless_egress() {
        let mut policy = default_profile();
        policy.network.allow = vec!["10.0.0.0/8".into(), "2001:db8::/32".into()];
        let ruleset =
            build_egress_nft_rules(EgressRulesMode::Allowlist, &policy.network.allow, true)
                .unwrap();
        let h = plan(&policy, &caps(false));
        let launch = h.launch.unwrap();
        let mut setup = vec![
            hostname(),
            SetupOp::LoopbackUp,
            SetupOp::NftRuleset {
                nft: "/usr/sbin/nft".into(),
                ruleset: ruleset.clone(),
                table: "checkstack_egress".into(),
            },
            SetupOp::AwaitEgress,
        ];
        setup.extend(confined_fs_ops(true, None));
        assert_eq!(launch.setup, setup);
        assert_eq!(launch.namespaces, all_namespaces(true));
        assert_eq!(
            launch.egress,
            Some(EgressPlan {
                slirp4netns: "/usr/bin/slirp4netns".into(),
                mtu: 65520
            })
        );
        assert_eq!(h.nft_ruleset, Some(ruleset));
        assert_eq!(h.effective.enforced, enforced(true, true, true, true));
    }

    #[test]
    fn allowlist_without_egress_tools_degrades_to_host_network() {
        let mut policy = degrade(default_profile());
        policy.network.allow = vec!["10.0.0.0/8".into()];
        let cases: [(SandboxCapabilities, &str); 3] = [
            (
                without_tun(caps(false)),
                "/dev/net/tun not usable by this user",
            ),
            (
                {
                    let mut c = caps(false);
                    c.slirp4netns = None;
                    c.net_egress_rootless = false;
                    c
                },
                "slirp4netns not found",
            ),
            (
                {
                    let mut c = caps(false);
                    c.nft = None;
                    c.net_egress_rootless = false;
                    c
                },
                "nft not found",
            ),
        ];
        for (c, missing) in cases {
            let h = plan(&policy, &c);
            let launch = h.launch.unwrap();
            assert!(
                !launch.namespaces.net,
                "never a routeless namespace for an allowlist"
            );
            assert!(launch.namespaces.user && launch.namespaces.pid);
            assert_eq!(launch.egress, None);
            assert_eq!(h.nft_ruleset, None);
            assert_eq!(launch.setup[0], hostname());
            assert!(!launch.setup.iter().any(|op| matches!(
                op,
                SetupOp::LoopbackUp | SetupOp::NftRuleset { .. } | SetupOp::AwaitEgress
            )));
            assert_eq!(
                h.effective.downgrades,
                vec![SandboxDowngrade {
                    layer: SandboxLayer::Network,
                    reason: format!("network allowlist needs a network namespace with rootless egress (slirp4netns) and an nftables filter: {missing}; a routeless namespace would cut off the allowed destinations too, so the host network is kept and egress is unrestricted")
                }]
            );
            assert_eq!(h.effective.enforced, enforced(true, true, false, true));
        }
    }

    #[test]
    fn unrestricted_network_with_and_without_the_metadata_block() {
        let mut policy = degrade(default_profile());
        policy.network.mode = NetworkMode::Unrestricted;

        // Egress plumbable: a namespace with the metadata-only filter.
        let h = plan(&policy, &caps(false));
        let ruleset = build_egress_nft_rules(EgressRulesMode::MetadataOnly, &[], true).unwrap();
        let launch = h.launch.unwrap();
        assert!(launch.namespaces.net);
        assert_eq!(
            launch.setup[..4],
            [
                hostname(),
                SetupOp::LoopbackUp,
                SetupOp::NftRuleset {
                    nft: "/usr/sbin/nft".into(),
                    ruleset: ruleset.clone(),
                    table: "checkstack_egress".into()
                },
                SetupOp::AwaitEgress,
            ]
        );
        assert!(launch.egress.is_some());
        assert_eq!(h.nft_ruleset, Some(ruleset));
        assert!(h.effective.enforced.network);

        // Not plumbable: host network, downgraded.
        let h = plan(&policy, &without_tun(caps(false)));
        assert!(!h.launch.unwrap().namespaces.net);
        assert_eq!(
            h.effective.downgrades,
            vec![SandboxDowngrade {
                layer: SandboxLayer::Network,
                reason: "the link-local/metadata block needs a network namespace with rootless egress (slirp4netns) and an nftables filter: /dev/net/tun not usable by this user; a routeless namespace would cut off all egress, so the host network is kept and metadata addresses stay reachable".into()
            }]
        );
        assert!(!h.effective.enforced.network);

        // No block requested: host network, enforced as asked.
        policy.network.deny_link_local_and_metadata = false;
        let h = plan(&policy, &without_tun(caps(false)));
        assert!(!h.launch.unwrap().namespaces.net);
        assert_eq!(h.effective.downgrades, vec![]);
        assert!(h.effective.enforced.network);
    }

    #[test]
    fn filesystem_off_keeps_the_host_tree_with_a_fresh_proc() {
        let mut policy = degrade(default_profile());
        policy.filesystem.mode = FilesystemMode::Off;
        let h = plan(&policy, &caps(false));
        let launch = h.launch.unwrap();
        assert_eq!(
            launch.setup,
            vec![
                hostname(),
                SetupOp::LoopbackUp,
                SetupOp::Proc {
                    dest: "/proc".into()
                }
            ]
        );
        assert_eq!(launch.cwd, None);
        assert_eq!(launch.landlock, None);
        assert!(h.effective.enforced.filesystem);
        assert_eq!(h.env, base_env());
    }

    #[test]
    fn scratch_only_skips_node_modules_and_sizes_tmp() {
        let mut policy = default_profile();
        policy.filesystem = crate::policy::FilesystemPolicy {
            mode: FilesystemMode::ScratchOnly,
            scratch_bytes: Some(64 * MIB),
        };
        let h = plan(&policy, &caps(false));
        let launch = h.launch.unwrap();
        let mut setup = vec![hostname(), SetupOp::LoopbackUp];
        setup.extend(confined_fs_ops(false, Some(64 * MIB)));
        assert_eq!(launch.setup, setup);
        assert_eq!(launch.landlock, Some(expected_landlock(false)));
    }

    #[test]
    fn interpreter_and_node_modules_binds_follow_the_host() {
        // An interpreter under /usr needs no bind of its own; a missing
        // node_modules is skipped; no Landlock, no seccomp when absent.
        let mut c = caps(false);
        c.landlock_abi = None;
        c.seccomp = false;
        let h = plan_with(&default_profile(), &c, USER, |i| {
            i.filesystem.interpreter_path = Some("/usr/bin/node".into());
            i.filesystem.node_modules_dir = Some("/srv/missing/node_modules".into());
        })
        .unwrap();
        let launch = h.launch.unwrap();
        assert_eq!(
            launch.setup,
            vec![
                hostname(),
                SetupOp::LoopbackUp,
                SetupOp::NewRoot,
                ro("/usr"),
                ro("/bin"),
                ro("/sbin"),
                ro("/lib"),
                ro("/etc"),
                SetupOp::Tmpfs {
                    dest: "/tmp".into(),
                    size_bytes: None
                },
                SetupOp::Bind {
                    source: SCRATCH.into(),
                    dest: SCRATCH.into(),
                    readonly: false
                },
                SetupOp::Proc {
                    dest: "/proc".into()
                },
                SetupOp::Dev {
                    dest: "/dev".into()
                },
                SetupOp::FinishRoot,
            ]
        );
        assert_eq!(launch.landlock, None);
        assert_eq!(launch.seccomp, None);
    }

    #[test]
    fn no_mount_hides_an_earlier_bind() {
        // An interpreter (or scratch dir) under /tmp must be bound after the
        // fresh /tmp is mounted, or the tmpfs would hide it.
        let mut paths = FakePaths::new();
        paths.existing.insert("/tmp/installs/bun".into());
        let policy = default_profile();
        let c = caps(false);
        let mut input = HardeningInput::new(&policy, &c, USER, &paths);
        input.filesystem.scratch_dir = Some("/tmp/run-1".into());
        input.filesystem.interpreter_path = Some("/tmp/installs/bun".into());
        let setup = build_spawn_hardening(&input).unwrap().launch.unwrap().setup;
        let dest_of = |op: &SetupOp| match op {
            SetupOp::Bind { dest, .. }
            | SetupOp::Tmpfs { dest, .. }
            | SetupOp::Proc { dest }
            | SetupOp::Dev { dest } => Some(dest.clone()),
            _ => None,
        };
        for (i, later) in setup.iter().enumerate() {
            let Some(later) = dest_of(later) else {
                continue;
            };
            for earlier in setup[..i].iter().filter_map(dest_of) {
                assert!(
                    !(earlier != later && earlier.starts_with(&format!("{later}/"))),
                    "{later} mounted after {earlier} hides it: {setup:?}"
                );
            }
        }
        assert!(setup.contains(&ro("/tmp/installs/bun")));
    }

    #[test]
    fn only_a_file_is_bound_as_the_interpreter() {
        for interpreter in ["/srv/app", "/", "/nonexistent/node", "relative/node"] {
            let h = plan_with(&default_profile(), &caps(false), USER, |i| {
                i.filesystem.interpreter_path = Some(interpreter.into())
            })
            .unwrap();
            let setup = h.launch.unwrap().setup;
            assert!(
                !setup.iter().any(|op| matches!(op, SetupOp::Bind { source, .. } if source == interpreter || source == "/")),
                "{interpreter}"
            );
            assert_eq!(
                setup.len(),
                confined_fs_ops(true, None).len() + 1,
                "{interpreter}"
            );
        }
    }

    #[test]
    fn confinement_without_a_usable_scratch_dir_degrades() {
        for (scratch, needle) in [
            (None, "needs a per-run scratch dir and none was provided"),
            (
                Some("relative/dir"),
                "needs an absolute scratch dir other than /, got \"relative/dir\"",
            ),
            (
                Some("/"),
                "needs an absolute scratch dir other than /, got \"/\"",
            ),
        ] {
            let policy = degrade(default_profile());
            let h = plan_with(&policy, &caps(false), USER, |i| {
                i.filesystem.scratch_dir = scratch.map(str::to_string)
            })
            .unwrap();
            assert_eq!(
                layers(&h.effective.downgrades),
                vec![SandboxLayer::Filesystem]
            );
            assert!(
                h.effective.downgrades[0].reason.contains(needle),
                "{}",
                h.effective.downgrades[0].reason
            );
            let launch = h.launch.unwrap();
            assert_eq!(launch.setup, vec![hostname(), SetupOp::LoopbackUp]);
            assert_eq!(launch.cwd, None);
            assert!(!h.env.contains_key("TMPDIR"));
            // Refused under the fail-closed default.
            let err = plan_with(&default_profile(), &caps(false), USER, |i| {
                i.filesystem.scratch_dir = scratch.map(str::to_string)
            })
            .unwrap_err();
            assert_eq!(layers(&err.downgrades), vec![SandboxLayer::Filesystem]);
        }
    }

    #[test]
    fn disabled_sandbox_changes_nothing() {
        let mut policy = default_profile();
        policy.enabled = false;
        let h = plan_with(&policy, &caps(true), (0, 0), |i| {
            i.env_overrides = vec![
                ("LD_PRELOAD".into(), "/x.so".into()),
                ("PATH".into(), "/evil".into()),
            ];
        })
        .unwrap();
        let mut env = base_env();
        env.insert("LD_PRELOAD".into(), "/x.so".into());
        env.insert("PATH".into(), "/evil".into());
        assert_eq!(h.env, env);
        assert_eq!(h.dropped_env_keys, Vec::<String>::new());
        assert_eq!(h.launch, None);
        assert_eq!(h.effective.enforced, EnforcedLayers::default());
        assert_eq!(h.effective.downgrades, vec![]);
        assert_eq!(h.effective.notes, vec![]);
        assert_eq!((h.uid, h.gid, h.max_output_bytes), (None, None, None));
        assert_eq!(h.node_memory_flag_env, None);
        assert_eq!(h.wrap_cmd(&["true".to_string()]), vec!["true"]);
        // Even on a host with nothing, and even with onUnavailable "fail".
        assert!(plan_with(&policy, &darwin(), USER, |_| {}).is_ok());
    }

    #[test]
    fn env_denylist_and_sandbox_set_vars() {
        let h = plan_with(&default_profile(), &caps(false), USER, |i| {
            i.env_overrides = vec![
                ("PATH".into(), "/evil".into()),
                ("LD_PRELOAD".into(), "/evil.so".into()),
                ("NODE_OPTIONS".into(), "--require /evil.js".into()),
                ("BUN_CONFIG_REGISTRY".into(), "http://evil".into()),
                ("TMPDIR".into(), "/var/tmp".into()),
                ("API_TOKEN".into(), "t".into()),
            ];
        })
        .unwrap();
        assert_eq!(
            h.dropped_env_keys,
            vec!["PATH", "LD_PRELOAD", "NODE_OPTIONS", "BUN_CONFIG_REGISTRY"]
        );
        assert_eq!(
            h.env,
            BTreeMap::from([
                ("API_TOKEN".to_string(), "t".to_string()),
                ("HOME".to_string(), "/home/app".to_string()),
                ("PATH".to_string(), "/usr/bin:/bin".to_string()),
                ("TMPDIR".to_string(), "/tmp".to_string()),
            ])
        );
        // The sandbox's own NODE_OPTIONS is separate from the caller's.
        assert_eq!(
            h.node_memory_flag_env.unwrap()["NODE_OPTIONS"],
            "--max-old-space-size=512"
        );
    }

    #[test]
    fn node_memory_flag_and_the_shell_note() {
        let with_memory = |bytes: u64| {
            let mut p = default_profile();
            p.resources.memory_bytes = Some(bytes);
            p
        };
        for (bytes, flag) in [
            (1, "--max-old-space-size=16"),
            (17 * MIB - 1, "--max-old-space-size=16"),
            (100 * MIB + 5, "--max-old-space-size=100"),
            (4096 * MIB, "--max-old-space-size=4096"),
        ] {
            let h = plan(&with_memory(bytes), &caps(false));
            assert_eq!(
                h.node_memory_flag_env.unwrap()["NODE_OPTIONS"],
                flag,
                "{bytes}"
            );
            assert_eq!(h.effective.notes, vec![]);
        }
        // A shell runner cannot apply it: a note, never a refusal.
        let h = plan_with(&default_profile(), &caps(false), USER, |i| {
            i.applies_node_memory_cap = false
        })
        .unwrap();
        assert_eq!(
            h.effective.notes,
            vec![SandboxNote {
                layer: SandboxLayer::Resources,
                note: SHELL_MEMORY_NOTE.into()
            }]
        );
        assert!(h.effective.enforced.resources);
        assert!(h.node_memory_flag_env.is_some());
        // No memory cap: no flag, no note.
        let mut p = default_profile();
        p.resources.memory_bytes = None;
        let h = plan_with(&p, &caps(false), USER, |i| {
            i.applies_node_memory_cap = false
        })
        .unwrap();
        assert_eq!(h.node_memory_flag_env, None);
        assert_eq!(h.effective.notes, vec![]);
    }

    #[test]
    fn resources_report_what_was_asked() {
        let mut p = degrade(default_profile());
        p.resources = Default::default();
        let h = plan(&p, &caps(false));
        assert!(
            !h.effective.enforced.resources,
            "nothing requested, nothing enforced"
        );
        assert_eq!(
            h.launch.unwrap().rlimits,
            vec![Rlimit {
                resource: RlimitResource::Core,
                value: 0
            }]
        );
        // Memory only, without an engine: the heap flag still applies.
        p.resources.memory_bytes = Some(64 * MIB);
        let h = plan(&p, &without_launcher(caps(false)));
        assert!(h.effective.enforced.resources);
        assert!(!layers(&h.effective.downgrades).contains(&SandboxLayer::Resources));
    }

    #[test]
    fn launch_plans_become_valid_launcher_specs() {
        let mut policy = default_profile();
        policy.network.allow = vec!["192.0.2.0/24".into()];
        let h = plan(&policy, &caps(true));
        let spec = h.launch.unwrap().to_spec(
            vec!["sh".into(), "-c".into(), "true".into()],
            h.env.into_iter().collect(),
        );
        let json = serde_json::to_string(&spec).unwrap();
        let back: LaunchSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec);
        assert_eq!(
            back.process.switch_to,
            Some(Ids {
                uid: 65534,
                gid: 65534
            })
        );
    }

    #[test]
    fn describe_never_fails_and_reports_the_given_policy() {
        let paths = FakePaths::new();
        let e = describe_effective_default(&default_profile(), &darwin(), &paths);
        assert_eq!(e.requested, default_profile());
        assert_eq!(
            layers(&e.downgrades),
            vec![
                SandboxLayer::Resources,
                SandboxLayer::Network,
                SandboxLayer::Filesystem
            ]
        );
        // The representative scratch dir makes FS confinement plannable.
        let e = describe_effective_default(&default_profile(), &caps(false), &paths);
        assert_eq!(e.downgrades, vec![]);
        assert_eq!(e.enforced, enforced(true, true, true, true));
        assert_eq!(
            e.notes,
            vec![SandboxNote {
                layer: SandboxLayer::Resources,
                note: SHELL_MEMORY_NOTE.into()
            }]
        );

        let bad =
            Input::from(serde_json::json!({"network": {"allow": ["1.2.3.4; drop"]}, "bogus": 1}));
        let e = describe_effective_default_input(&bad, &caps(false), &paths);
        assert_eq!(e.enforced, EnforcedLayers::default());
        assert_eq!(e.downgrades.len(), 4);
        assert!(
            e.downgrades[0].reason.starts_with(
                "invalid sandbox policy: unrecognized key: \"bogus\"; network.allow[0]"
            ),
            "{}",
            e.downgrades[0].reason
        );
        let good = Input::from(serde_json::json!({}));
        assert_eq!(
            describe_effective_default_input(&good, &caps(false), &paths).downgrades,
            vec![]
        );
    }

    #[test]
    fn report_serializes_for_js() {
        let h = plan(&default_profile(), &caps(true));
        let json = serde_json::to_value(&h.effective).unwrap();
        assert_eq!(
            json["enforced"],
            serde_json::json!({"resources": true, "filesystem": true, "network": true, "privilege": true})
        );
        assert_eq!(json["notes"][0]["layer"], "privilege");
        assert_eq!(json["requested"]["onUnavailable"], "fail");
        assert_eq!(json["platform"], "linux");
    }
}
