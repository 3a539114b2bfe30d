//! The planner: policy + capabilities -> what the launcher will build, the
//! child's env, and the honest report. Pure and synchronous.

use std::collections::BTreeMap;

use script_sandbox_spec::{IdMap, Ids, LandlockRules, LaunchSpec, Namespaces, ProcessSpec, Rlimit, SeccompProfile, SetupOp};
use serde::Serialize;

use crate::capabilities::SandboxCapabilities;
use crate::policy::SandboxPolicy;
use crate::report::EffectiveSandbox;

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
}

/// The real filesystem.
pub struct RealHostPaths;

impl HostPaths for RealHostPaths {
    fn exists(&self, path: &str) -> bool {
        std::path::Path::new(path).exists()
    }
    fn realpath(&self, path: &str) -> Option<String> {
        std::fs::canonicalize(path).ok().and_then(|p| p.to_str().map(str::to_string))
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnHardening {
    /// The child's final env (safe base + allowed overrides + sandbox-set vars).
    pub env: BTreeMap<String, String>,
    pub dropped_env_keys: Vec<String>,
    /// The uid/gid the child really runs as, when the engine switches to one.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub max_output_bytes: Option<u64>,
    /// `NODE_OPTIONS=--max-old-space-size=N` for runners that exec Node/Bun.
    pub node_memory_flag_env: Option<BTreeMap<String, String>>,
    /// The egress ruleset loaded in the run's namespace, for inspection.
    pub nft_ruleset: Option<String>,
    /// Always `None` for the native engine (kept for shape compatibility).
    pub rootless_launcher: Option<String>,
    pub effective: EffectiveSandbox,
    /// `None`: the command runs directly (sandbox disabled or no engine).
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
