//! The sandbox policy: its shape, strict validation with defaults and bounds,
//! overlay merging, and the two shipped profiles.

use serde::{Deserialize, Serialize};

use crate::input::{Input, PathSegment};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    Degrade,
    Fail,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_open_files: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_processes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_size_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilesystemMode {
    #[serde(rename = "off")]
    Off,
    #[serde(rename = "scratch-only")]
    ScratchOnly,
    #[serde(rename = "scratch-plus-ro")]
    ScratchPlusRo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilesystemPolicy {
    pub mode: FilesystemMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scratch_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    Unrestricted,
    Deny,
    Allowlist,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicy {
    pub mode: NetworkMode,
    /// IPv4/IPv6 addresses or CIDRs, exactly as the caller wrote them.
    pub allow: Vec<String>,
    pub deny_link_local_and_metadata: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrivilegeMode {
    #[serde(rename = "inherit")]
    Inherit,
    #[serde(rename = "drop-to-uid")]
    DropToUid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivilegePolicy {
    pub mode: PrivilegeMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

/// A fully resolved, validated policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxPolicy {
    pub enabled: bool,
    pub on_unavailable: OnUnavailable,
    pub resources: ResourceLimits,
    pub filesystem: FilesystemPolicy,
    pub network: NetworkPolicy,
    pub privilege: PrivilegePolicy,
}

/// One problem found in a policy input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyIssue {
    pub path: Vec<PathSegment>,
    pub message: String,
}

/// Every problem found in a policy input (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_issues(.issues))]
pub struct PolicyError {
    pub issues: Vec<PolicyIssue>,
}

fn render_issues(issues: &[PolicyIssue]) -> String {
    let parts: Vec<String> = issues
        .iter()
        .map(|i| {
            let p = crate::input::display_path(&i.path);
            if p.is_empty() {
                i.message.clone()
            } else {
                format!("{p}: {}", i.message)
            }
        })
        .collect();
    format!("invalid sandbox policy: {}", parts.join("; "))
}

/// Env var naming the dedicated low-privilege uid runs drop to.
pub const SANDBOX_UID_ENV: &str = "CHECKSTACK_SANDBOX_UID";
/// Env var naming the dedicated low-privilege gid runs drop to.
pub const SANDBOX_GID_ENV: &str = "CHECKSTACK_SANDBOX_GID";

/// JavaScript's `Number.MAX_SAFE_INTEGER`: larger numbers are not exact.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// Upper bound of `resources.cpuSeconds` (one hour).
pub const MAX_CPU_SECONDS: u64 = 3600;
/// Upper bound of `resources.maxOpenFiles`.
pub const MAX_OPEN_FILES: u64 = 1_048_576;
/// Upper bound of `resources.maxProcesses`.
pub const MAX_PROCESSES: u64 = 65_536;
/// Upper bound of `privilege.uid`/`gid` (`u32::MAX` means "no id" to the kernel).
pub const MAX_ID: u64 = 4_294_967_294;

const MIB: u64 = 1024 * 1024;

const TOP_KEYS: &[&str] = &[
    "enabled",
    "onUnavailable",
    "resources",
    "filesystem",
    "network",
    "privilege",
];
const RESOURCE_KEYS: &[&str] = &[
    "cpuSeconds",
    "memoryBytes",
    "maxOpenFiles",
    "maxProcesses",
    "maxOutputBytes",
    "maxFileSizeBytes",
];
const FILESYSTEM_KEYS: &[&str] = &["mode", "scratchBytes"];
const NETWORK_KEYS: &[&str] = &["mode", "allow", "denyLinkLocalAndMetadata"];
const PRIVILEGE_KEYS: &[&str] = &["mode", "uid", "gid"];

/// Collects issues while walking an input, with the current path.
struct Checker {
    issues: Vec<PolicyIssue>,
}

type Path<'p> = &'p [PathSegment];

fn at(path: Path, key: &str) -> Vec<PathSegment> {
    let mut p = path.to_vec();
    p.push(PathSegment::from(key));
    p
}

/// How a received value is named in messages.
fn received(value: &Input) -> String {
    match value {
        Input::Number(n) if n.is_nan() => "NaN".to_string(),
        Input::Number(n) if n.is_infinite() => {
            if *n > 0.0 {
                "Infinity".to_string()
            } else {
                "-Infinity".to_string()
            }
        }
        other => other.type_name().to_string(),
    }
}

fn show_number(n: f64) -> String {
    if n.is_nan() {
        "NaN".to_string()
    } else if n.is_infinite() {
        if n > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        format!("{n}")
    }
}

/// `true` when a key's value counts as set (JS `undefined` does not).
fn is_set(value: Option<&Input>) -> bool {
    !matches!(value, None | Some(Input::Undefined))
}

impl Checker {
    fn new() -> Self {
        Checker { issues: Vec::new() }
    }

    fn issue(&mut self, path: Vec<PathSegment>, message: impl Into<String>) {
        self.issues.push(PolicyIssue {
            path,
            message: message.into(),
        });
    }

    /// The entries of an object, after reporting its unknown keys.
    fn object<'a>(
        &mut self,
        value: &'a Input,
        path: Path,
        known: &[&str],
    ) -> Option<&'a [(String, Input)]> {
        match value {
            Input::Object(entries) => {
                for (key, v) in entries {
                    if !matches!(v, Input::Undefined) && !known.contains(&key.as_str()) {
                        self.issue(
                            path.to_vec(),
                            format!("unrecognized key: {}", crate::network::echo(key)),
                        );
                    }
                }
                Some(entries)
            }
            other => {
                self.issue(
                    path.to_vec(),
                    format!("expected object, received {}", received(other)),
                );
                None
            }
        }
    }

    fn boolean(&mut self, value: &Input, path: Vec<PathSegment>) -> Option<bool> {
        match value {
            Input::Bool(b) => Some(*b),
            other => {
                self.issue(
                    path,
                    format!("expected boolean, received {}", received(other)),
                );
                None
            }
        }
    }

    fn one_of<T: Copy>(
        &mut self,
        value: &Input,
        path: Vec<PathSegment>,
        options: &[(&str, T)],
    ) -> Option<T> {
        if let Input::String(s) = value {
            if let Some((_, v)) = options.iter().find(|(name, _)| name == s) {
                return Some(*v);
            }
        }
        let expected: Vec<String> = options
            .iter()
            .map(|(name, _)| format!("{name:?}"))
            .collect();
        let got = match value {
            Input::String(s) => crate::network::echo(s),
            other => received(other),
        };
        self.issue(
            path,
            format!("expected one of {}, received {got}", expected.join(" | ")),
        );
        None
    }

    /// An integer in `[min, max]` (JS number semantics: finite and integral).
    fn integer(
        &mut self,
        value: &Input,
        path: Vec<PathSegment>,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let n = match value {
            Input::Number(n) => *n,
            other => {
                self.issue(
                    path,
                    format!("expected number, received {}", received(other)),
                );
                return None;
            }
        };
        if n.is_nan() {
            self.issue(path, "expected number, received NaN");
            return None;
        }
        if n.is_infinite() {
            self.issue(
                path,
                format!("expected a finite number, received {}", show_number(n)),
            );
            return None;
        }
        if n.fract() != 0.0 {
            self.issue(
                path,
                format!("expected an integer, received {}", show_number(n)),
            );
            return None;
        }
        if n < min as f64 {
            let what = if min == 0 {
                "a non-negative integer"
            } else {
                "a positive integer"
            };
            self.issue(
                path,
                format!("expected {what}, received {}", show_number(n)),
            );
            return None;
        }
        if n > max as f64 {
            self.issue(
                path,
                format!("must be at most {max}, received {}", show_number(n)),
            );
            return None;
        }
        // Finite, integral and within [min, max] (max <= 2^53), so exact.
        Some(n as u64)
    }

    fn optional_integer(
        &mut self,
        entries: &[(String, Input)],
        path: Path,
        key: &str,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let value = get(entries, key)?;
        self.integer(value, at(path, key), min, max)
    }
}

fn get<'a>(entries: &'a [(String, Input)], key: &str) -> Option<&'a Input> {
    entries
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .filter(|v| !matches!(v, Input::Undefined))
}

fn layer<'a>(entries: &'a [(String, Input)], key: &str) -> Option<&'a Input> {
    get(entries, key)
}

/// Validate a policy input strictly and fill in the defaults. Every problem
/// is reported, each with the path of the offending field.
pub fn parse_policy(input: &Input) -> Result<SandboxPolicy, PolicyError> {
    let mut c = Checker::new();
    let mut policy = SandboxPolicy {
        enabled: true,
        on_unavailable: OnUnavailable::Degrade,
        resources: ResourceLimits::default(),
        filesystem: FilesystemPolicy {
            mode: FilesystemMode::Off,
            scratch_bytes: None,
        },
        network: NetworkPolicy {
            mode: NetworkMode::Unrestricted,
            allow: Vec::new(),
            deny_link_local_and_metadata: true,
        },
        privilege: PrivilegePolicy {
            mode: PrivilegeMode::Inherit,
            uid: None,
            gid: None,
        },
    };
    let root: Vec<PathSegment> = Vec::new();
    if let Some(entries) = c.object(input, &root, TOP_KEYS) {
        if let Some(v) = get(entries, "enabled") {
            if let Some(b) = c.boolean(v, at(&root, "enabled")) {
                policy.enabled = b;
            }
        }
        if let Some(v) = get(entries, "onUnavailable") {
            let options = [
                ("degrade", OnUnavailable::Degrade),
                ("fail", OnUnavailable::Fail),
            ];
            if let Some(o) = c.one_of(v, at(&root, "onUnavailable"), &options) {
                policy.on_unavailable = o;
            }
        }
        if let Some(v) = layer(entries, "resources") {
            parse_resources(&mut c, v, &mut policy.resources);
        }
        if let Some(v) = layer(entries, "filesystem") {
            parse_filesystem(&mut c, v, &mut policy.filesystem);
        }
        if let Some(v) = layer(entries, "network") {
            parse_network(&mut c, v, &mut policy.network);
        }
        if let Some(v) = layer(entries, "privilege") {
            parse_privilege(&mut c, v, &mut policy.privilege);
        }
    }
    if c.issues.is_empty() {
        Ok(policy)
    } else {
        Err(PolicyError { issues: c.issues })
    }
}

fn parse_resources(c: &mut Checker, value: &Input, out: &mut ResourceLimits) {
    let path = vec![PathSegment::from("resources")];
    let Some(entries) = c.object(value, &path, RESOURCE_KEYS) else {
        return;
    };
    out.cpu_seconds = c.optional_integer(entries, &path, "cpuSeconds", 1, MAX_CPU_SECONDS);
    out.memory_bytes = c.optional_integer(entries, &path, "memoryBytes", 1, MAX_SAFE_INTEGER);
    out.max_open_files = c.optional_integer(entries, &path, "maxOpenFiles", 1, MAX_OPEN_FILES);
    out.max_processes = c.optional_integer(entries, &path, "maxProcesses", 1, MAX_PROCESSES);
    out.max_output_bytes =
        c.optional_integer(entries, &path, "maxOutputBytes", 1, MAX_SAFE_INTEGER);
    out.max_file_size_bytes =
        c.optional_integer(entries, &path, "maxFileSizeBytes", 1, MAX_SAFE_INTEGER);
}

fn parse_filesystem(c: &mut Checker, value: &Input, out: &mut FilesystemPolicy) {
    let path = vec![PathSegment::from("filesystem")];
    let Some(entries) = c.object(value, &path, FILESYSTEM_KEYS) else {
        return;
    };
    if let Some(v) = get(entries, "mode") {
        let options = [
            ("off", FilesystemMode::Off),
            ("scratch-only", FilesystemMode::ScratchOnly),
            ("scratch-plus-ro", FilesystemMode::ScratchPlusRo),
        ];
        if let Some(m) = c.one_of(v, at(&path, "mode"), &options) {
            out.mode = m;
        }
    }
    out.scratch_bytes = c.optional_integer(entries, &path, "scratchBytes", 1, MAX_SAFE_INTEGER);
}

fn parse_network(c: &mut Checker, value: &Input, out: &mut NetworkPolicy) {
    let path = vec![PathSegment::from("network")];
    let Some(entries) = c.object(value, &path, NETWORK_KEYS) else {
        return;
    };
    if let Some(v) = get(entries, "mode") {
        let options = [
            ("unrestricted", NetworkMode::Unrestricted),
            ("deny", NetworkMode::Deny),
            ("allowlist", NetworkMode::Allowlist),
        ];
        if let Some(m) = c.one_of(v, at(&path, "mode"), &options) {
            out.mode = m;
        }
    }
    if let Some(v) = get(entries, "allow") {
        let allow_path = at(&path, "allow");
        match v {
            Input::Array(items) => {
                let mut allow = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let mut item_path = allow_path.clone();
                    item_path.push(PathSegment::from(i));
                    match item {
                        Input::String(s) => match crate::network::parse_allow_entry(s) {
                            Ok(_) => allow.push(s.clone()),
                            Err(message) => c.issue(item_path, message),
                        },
                        other => c.issue(
                            item_path,
                            format!("expected string, received {}", received(other)),
                        ),
                    }
                }
                out.allow = allow;
            }
            other => c.issue(
                allow_path,
                format!("expected array, received {}", received(other)),
            ),
        }
    }
    if let Some(v) = get(entries, "denyLinkLocalAndMetadata") {
        if let Some(b) = c.boolean(v, at(&path, "denyLinkLocalAndMetadata")) {
            out.deny_link_local_and_metadata = b;
        }
    }
}

fn parse_privilege(c: &mut Checker, value: &Input, out: &mut PrivilegePolicy) {
    let path = vec![PathSegment::from("privilege")];
    let Some(entries) = c.object(value, &path, PRIVILEGE_KEYS) else {
        return;
    };
    if let Some(v) = get(entries, "mode") {
        let options = [
            ("inherit", PrivilegeMode::Inherit),
            ("drop-to-uid", PrivilegeMode::DropToUid),
        ];
        if let Some(m) = c.one_of(v, at(&path, "mode"), &options) {
            out.mode = m;
        }
    }
    // Bounded by MAX_ID, so the conversion cannot fail.
    out.uid = c
        .optional_integer(entries, &path, "uid", 0, MAX_ID)
        .and_then(|n| u32::try_from(n).ok());
    out.gid = c
        .optional_integer(entries, &path, "gid", 0, MAX_ID)
        .and_then(|n| u32::try_from(n).ok());
}

/// The input form of a resolved policy (what `parse_policy` would accept).
pub fn policy_to_input(policy: &SandboxPolicy) -> Input {
    match serde_json::to_value(policy) {
        Ok(value) => Input::from(value),
        // Plain data always serializes; should it not, validation reports it.
        Err(_) => Input::Null,
    }
}

/// Check a policy built elsewhere (e.g. converted from JS) against every
/// rule `parse_policy` applies.
pub fn validate_policy(policy: &SandboxPolicy) -> Result<SandboxPolicy, PolicyError> {
    parse_policy(&policy_to_input(policy))
}

/// Overlay the keys `override_` actually sets onto `base`, layer by layer,
/// after validating the override on its own; the result is re-validated.
/// `None` returns `base` unchanged.
pub fn merge_policy(
    base: &SandboxPolicy,
    override_: Option<&Input>,
) -> Result<SandboxPolicy, PolicyError> {
    let Some(over) = override_ else {
        return Ok(base.clone());
    };
    let parsed = parse_policy(over)?;
    let mut merged = base.clone();
    let sets = |obj: &Input, key: &str| is_set(obj.get(key));
    if sets(over, "enabled") {
        merged.enabled = parsed.enabled;
    }
    if sets(over, "onUnavailable") {
        merged.on_unavailable = parsed.on_unavailable;
    }
    if let Some(r) = over.get("resources") {
        let (to, from) = (&mut merged.resources, &parsed.resources);
        if sets(r, "cpuSeconds") {
            to.cpu_seconds = from.cpu_seconds;
        }
        if sets(r, "memoryBytes") {
            to.memory_bytes = from.memory_bytes;
        }
        if sets(r, "maxOpenFiles") {
            to.max_open_files = from.max_open_files;
        }
        if sets(r, "maxProcesses") {
            to.max_processes = from.max_processes;
        }
        if sets(r, "maxOutputBytes") {
            to.max_output_bytes = from.max_output_bytes;
        }
        if sets(r, "maxFileSizeBytes") {
            to.max_file_size_bytes = from.max_file_size_bytes;
        }
    }
    if let Some(f) = over.get("filesystem") {
        if sets(f, "mode") {
            merged.filesystem.mode = parsed.filesystem.mode;
        }
        if sets(f, "scratchBytes") {
            merged.filesystem.scratch_bytes = parsed.filesystem.scratch_bytes;
        }
    }
    if let Some(n) = over.get("network") {
        if sets(n, "mode") {
            merged.network.mode = parsed.network.mode;
        }
        if sets(n, "allow") {
            merged.network.allow = parsed.network.allow.clone();
        }
        if sets(n, "denyLinkLocalAndMetadata") {
            merged.network.deny_link_local_and_metadata =
                parsed.network.deny_link_local_and_metadata;
        }
    }
    if let Some(p) = over.get("privilege") {
        if sets(p, "mode") {
            merged.privilege.mode = parsed.privilege.mode;
        }
        if sets(p, "uid") {
            merged.privilege.uid = parsed.privilege.uid;
        }
        if sets(p, "gid") {
            merged.privilege.gid = parsed.privilege.gid;
        }
    }
    validate_policy(&merged)
}

fn shipped_resources() -> ResourceLimits {
    ResourceLimits {
        cpu_seconds: Some(60),
        memory_bytes: Some(512 * MIB),
        max_open_files: Some(1024),
        max_processes: Some(256),
        max_output_bytes: Some(5 * MIB),
        max_file_size_bytes: Some(256 * MIB),
    }
}

/// The shipped secure default: every layer on, refuse the run if any layer
/// cannot be enforced. Egress is denied (an empty allowlist) until an
/// operator lists destinations; the uid to drop to comes from the env (see
/// `resolve_default_profile`).
pub fn default_profile() -> SandboxPolicy {
    SandboxPolicy {
        enabled: true,
        on_unavailable: OnUnavailable::Fail,
        resources: shipped_resources(),
        filesystem: FilesystemPolicy {
            mode: FilesystemMode::ScratchPlusRo,
            scratch_bytes: None,
        },
        network: NetworkPolicy {
            mode: NetworkMode::Allowlist,
            allow: Vec::new(),
            deny_link_local_and_metadata: true,
        },
        privilege: PrivilegePolicy {
            mode: PrivilegeMode::DropToUid,
            uid: None,
            gid: None,
        },
    }
}

/// What runs get when the policy provider is missing or broken: the same
/// caps with egress denied, degrading (and reporting) rather than refusing.
pub fn fail_closed_profile() -> SandboxPolicy {
    SandboxPolicy {
        enabled: true,
        on_unavailable: OnUnavailable::Degrade,
        resources: shipped_resources(),
        filesystem: FilesystemPolicy {
            mode: FilesystemMode::ScratchPlusRo,
            scratch_bytes: None,
        },
        network: NetworkPolicy {
            mode: NetworkMode::Deny,
            allow: Vec::new(),
            deny_link_local_and_metadata: true,
        },
        privilege: PrivilegePolicy {
            mode: PrivilegeMode::DropToUid,
            uid: None,
            gid: None,
        },
    }
}

/// A uid/gid from an env value: decimal digits after trimming, at most
/// `MAX_ID`. Anything else (empty, signs, fractions, junk) counts as unset.
pub fn parse_id_env(raw: Option<&str>) -> Option<u32> {
    let trimmed = raw?.trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = trimmed.parse().ok()?;
    if n > MAX_ID {
        return None;
    }
    u32::try_from(n).ok()
}

/// The default profile with `privilege.uid`/`gid` taken from the values of
/// `CHECKSTACK_SANDBOX_UID`/`_GID`. A malformed value is unset; a gid
/// without a uid is ignored.
pub fn resolve_default_profile(uid_env: Option<&str>, gid_env: Option<&str>) -> SandboxPolicy {
    let mut policy = default_profile();
    if let Some(uid) = parse_id_env(uid_env) {
        policy.privilege.uid = Some(uid);
        policy.privilege.gid = parse_id_env(gid_env);
    }
    policy
}

/// `resolve_default_profile` with this process's environment.
pub fn resolve_default_profile_from_env() -> SandboxPolicy {
    let uid = std::env::var(SANDBOX_UID_ENV).ok();
    let gid = std::env::var(SANDBOX_GID_ENV).ok();
    resolve_default_profile(uid.as_deref(), gid.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> Result<SandboxPolicy, PolicyError> {
        parse_policy(&Input::from(value))
    }

    fn issues(value: serde_json::Value) -> Vec<(String, String)> {
        let err = parse(value).expect_err("expected a policy error");
        err.issues
            .iter()
            .map(|i| (serde_json::to_string(&i.path).unwrap(), i.message.clone()))
            .collect()
    }

    fn pair(path: &str, message: &str) -> (String, String) {
        (path.to_string(), message.to_string())
    }

    #[test]
    fn empty_input_gets_every_default() {
        let p = parse(json!({})).unwrap();
        assert_eq!(
            p,
            SandboxPolicy {
                enabled: true,
                on_unavailable: OnUnavailable::Degrade,
                resources: ResourceLimits::default(),
                filesystem: FilesystemPolicy {
                    mode: FilesystemMode::Off,
                    scratch_bytes: None
                },
                network: NetworkPolicy {
                    mode: NetworkMode::Unrestricted,
                    allow: vec![],
                    deny_link_local_and_metadata: true
                },
                privilege: PrivilegePolicy {
                    mode: PrivilegeMode::Inherit,
                    uid: None,
                    gid: None
                },
            }
        );
        // Absent keys inside a present layer get their defaults too.
        let p = parse(
            json!({"network": {"allow": ["10.0.0.0/8"]}, "filesystem": {"scratchBytes": 4096}}),
        )
        .unwrap();
        assert_eq!(p.network.mode, NetworkMode::Unrestricted);
        assert!(p.network.deny_link_local_and_metadata);
        assert_eq!(
            p.filesystem,
            FilesystemPolicy {
                mode: FilesystemMode::Off,
                scratch_bytes: Some(4096)
            }
        );
    }

    #[test]
    fn a_full_policy_round_trips() {
        let input = json!({
            "enabled": false,
            "onUnavailable": "fail",
            "resources": {"cpuSeconds": 3600, "memoryBytes": 1, "maxOpenFiles": 1048576,
                          "maxProcesses": 65536, "maxOutputBytes": 9007199254740991u64, "maxFileSizeBytes": 2},
            "filesystem": {"mode": "scratch-only", "scratchBytes": 1048576},
            "network": {"mode": "allowlist", "allow": ["10.1.2.3/8", "2001:db8::1"], "denyLinkLocalAndMetadata": false},
            "privilege": {"mode": "drop-to-uid", "uid": 0, "gid": 4294967294u64}
        });
        let p = parse(input.clone()).unwrap();
        // Entries come back exactly as given.
        assert_eq!(p.network.allow, vec!["10.1.2.3/8", "2001:db8::1"]);
        assert_eq!(p.privilege.gid, Some(4_294_967_294));
        assert_eq!(serde_json::to_value(&p).unwrap(), input);
        assert_eq!(validate_policy(&p).unwrap(), p);
    }

    #[test]
    fn unknown_keys_are_named_at_every_level() {
        assert_eq!(
            issues(
                json!({"bogus": 1, "resources": {"cpu": 1}, "network": {"mode": "deny", "extra": true}})
            ),
            vec![
                pair("[]", "unrecognized key: \"bogus\""),
                pair(r#"["resources"]"#, "unrecognized key: \"cpu\""),
                pair(r#"["network"]"#, "unrecognized key: \"extra\""),
            ]
        );
        assert_eq!(
            issues(json!({"privilege": {"user": 5}, "filesystem": {"path": "/"}})),
            vec![
                pair(r#"["filesystem"]"#, "unrecognized key: \"path\""),
                pair(r#"["privilege"]"#, "unrecognized key: \"user\""),
            ]
        );
    }

    #[test]
    fn undefined_values_count_as_absent() {
        let input = Input::Object(vec![
            ("enabled".into(), Input::Undefined),
            ("bogus".into(), Input::Undefined),
            (
                "network".into(),
                Input::Object(vec![("mode".into(), Input::Undefined)]),
            ),
        ]);
        let p = parse_policy(&input).unwrap();
        assert!(p.enabled);
        assert_eq!(p.network.mode, NetworkMode::Unrestricted);
    }

    #[test]
    fn types_and_enums_are_checked() {
        assert_eq!(
            issues(json!({
                "enabled": "yes",
                "onUnavailable": "explode",
                "resources": [],
                "filesystem": {"mode": 3},
                "network": {"mode": null, "allow": "10.0.0.0/8", "denyLinkLocalAndMetadata": 1},
                "privilege": "root"
            })),
            vec![
                pair(r#"["enabled"]"#, "expected boolean, received string"),
                pair(
                    r#"["onUnavailable"]"#,
                    r#"expected one of "degrade" | "fail", received "explode""#
                ),
                pair(r#"["resources"]"#, "expected object, received array"),
                pair(
                    r#"["filesystem","mode"]"#,
                    r#"expected one of "off" | "scratch-only" | "scratch-plus-ro", received number"#
                ),
                pair(
                    r#"["network","mode"]"#,
                    r#"expected one of "unrestricted" | "deny" | "allowlist", received null"#
                ),
                pair(r#"["network","allow"]"#, "expected array, received string"),
                pair(
                    r#"["network","denyLinkLocalAndMetadata"]"#,
                    "expected boolean, received number"
                ),
                pair(r#"["privilege"]"#, "expected object, received string"),
            ]
        );
        assert_eq!(
            issues(json!(null)),
            vec![pair("[]", "expected object, received null")]
        );
        assert_eq!(
            parse_policy(&Input::Undefined).unwrap_err().issues[0].message,
            "expected object, received undefined"
        );
        assert_eq!(
            parse_policy(&Input::Other("function".into()))
                .unwrap_err()
                .issues[0]
                .message,
            "expected object, received function"
        );
        assert_eq!(
            issues(json!({"privilege": {"mode": "drop-to-uid", "uid": "1000"}})),
            vec![pair(
                r#"["privilege","uid"]"#,
                "expected number, received string"
            )]
        );
    }

    #[test]
    fn numbers_are_bounded() {
        assert_eq!(
            issues(json!({"resources": {
                "cpuSeconds": 3601, "memoryBytes": 0, "maxOpenFiles": 1048577,
                "maxProcesses": 65537, "maxOutputBytes": 1.5, "maxFileSizeBytes": -1
            }})),
            vec![
                pair(
                    r#"["resources","cpuSeconds"]"#,
                    "must be at most 3600, received 3601"
                ),
                pair(
                    r#"["resources","memoryBytes"]"#,
                    "expected a positive integer, received 0"
                ),
                pair(
                    r#"["resources","maxOpenFiles"]"#,
                    "must be at most 1048576, received 1048577"
                ),
                pair(
                    r#"["resources","maxProcesses"]"#,
                    "must be at most 65536, received 65537"
                ),
                pair(
                    r#"["resources","maxOutputBytes"]"#,
                    "expected an integer, received 1.5"
                ),
                pair(
                    r#"["resources","maxFileSizeBytes"]"#,
                    "expected a positive integer, received -1"
                ),
            ]
        );
        assert_eq!(
            issues(json!({"resources": {"memoryBytes": 9007199254740992u64}})),
            vec![pair(
                r#"["resources","memoryBytes"]"#,
                "must be at most 9007199254740991, received 9007199254740992"
            )]
        );
        assert_eq!(
            issues(
                json!({"filesystem": {"scratchBytes": 0}, "privilege": {"uid": -1, "gid": 4294967295u64}})
            ),
            vec![
                pair(
                    r#"["filesystem","scratchBytes"]"#,
                    "expected a positive integer, received 0"
                ),
                pair(
                    r#"["privilege","uid"]"#,
                    "expected a non-negative integer, received -1"
                ),
                pair(
                    r#"["privilege","gid"]"#,
                    "must be at most 4294967294, received 4294967295"
                ),
            ]
        );
        let special = Input::Object(vec![(
            "resources".into(),
            Input::Object(vec![
                ("cpuSeconds".into(), Input::Number(f64::NAN)),
                ("memoryBytes".into(), Input::Number(f64::INFINITY)),
                ("maxOpenFiles".into(), Input::Number(f64::NEG_INFINITY)),
                ("maxProcesses".into(), Input::Other("bigint".into())),
            ]),
        )]);
        let messages: Vec<String> = parse_policy(&special)
            .unwrap_err()
            .issues
            .into_iter()
            .map(|i| i.message)
            .collect();
        assert_eq!(
            messages,
            vec![
                "expected number, received NaN",
                "expected a finite number, received Infinity",
                "expected a finite number, received -Infinity",
                "expected number, received bigint",
            ]
        );
        // -0 is a valid (zero) uid.
        let p = parse(json!({"privilege": {"uid": -0.0}})).unwrap();
        assert_eq!(p.privilege.uid, Some(0));
    }

    #[test]
    fn allow_entries_are_validated_each_with_its_index() {
        assert_eq!(
            issues(json!({"network": {"mode": "allowlist", "allow": [
                "10.0.0.0/8", "10.0.0.0/33", "1.2.3.4; drop", 7, "0.0.0.0/0 } accept; #", " 1.2.3.4", "::1"
            ]}})),
            vec![
                pair(
                    r#"["network","allow",1]"#,
                    r#"prefix length /33 is out of range for an IPv4 address (at most /32) in "10.0.0.0/33""#
                ),
                pair(
                    r#"["network","allow",2]"#,
                    r#"expected an IPv4/IPv6 address or CIDR, received "1.2.3.4; drop""#
                ),
                pair(
                    r#"["network","allow",3]"#,
                    "expected string, received number"
                ),
                pair(
                    r#"["network","allow",4]"#,
                    r#"expected an IPv4/IPv6 address or CIDR, received "0.0.0.0/0 } accept; #""#
                ),
                pair(
                    r#"["network","allow",5]"#,
                    r#"expected an IPv4/IPv6 address or CIDR, received " 1.2.3.4""#
                ),
            ]
        );
    }

    #[test]
    fn the_error_message_names_every_field() {
        let err = parse(json!({"enabled": 1, "network": {"allow": ["x"]}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid sandbox policy: enabled: expected boolean, received number; network.allow[0]: expected an IPv4/IPv6 address or CIDR, received \"x\""
        );
    }

    #[test]
    fn shipped_profiles() {
        let d = default_profile();
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({
                "enabled": true,
                "onUnavailable": "fail",
                "resources": {"cpuSeconds": 60, "memoryBytes": 536870912, "maxOpenFiles": 1024,
                              "maxProcesses": 256, "maxOutputBytes": 5242880, "maxFileSizeBytes": 268435456},
                "filesystem": {"mode": "scratch-plus-ro"},
                "network": {"mode": "allowlist", "allow": [], "denyLinkLocalAndMetadata": true},
                "privilege": {"mode": "drop-to-uid"}
            })
        );
        let f = fail_closed_profile();
        assert_eq!(f.on_unavailable, OnUnavailable::Degrade);
        assert_eq!(f.network.mode, NetworkMode::Deny);
        assert_eq!(f.filesystem.mode, FilesystemMode::ScratchPlusRo);
        assert_eq!(f.privilege.mode, PrivilegeMode::DropToUid);
        assert_eq!(f.resources, d.resources);
        assert_eq!(validate_policy(&d).unwrap(), d);
        assert_eq!(validate_policy(&f).unwrap(), f);
    }

    #[test]
    fn default_profile_ids_come_from_the_env_values() {
        assert_eq!(resolve_default_profile(None, None), default_profile());
        let p = resolve_default_profile(Some(" 1001 "), Some("1002\n"));
        assert_eq!((p.privilege.uid, p.privilege.gid), (Some(1001), Some(1002)));
        let p = resolve_default_profile(Some("1001"), None);
        assert_eq!((p.privilege.uid, p.privilege.gid), (Some(1001), None));
        // A gid without a uid is ignored.
        let p = resolve_default_profile(None, Some("1002"));
        assert_eq!((p.privilege.uid, p.privilege.gid), (None, None));
        for bad in [
            "",
            "  ",
            "-1",
            "1.5",
            "abc",
            "12abc",
            "+5",
            "4294967295",
            "99999999999999999999",
        ] {
            let p = resolve_default_profile(Some(bad), Some("7"));
            assert_eq!((p.privilege.uid, p.privilege.gid), (None, None), "{bad:?}");
        }
        let p = resolve_default_profile(Some("0"), Some("x"));
        assert_eq!((p.privilege.uid, p.privilege.gid), (Some(0), None));
    }

    #[test]
    fn merge_overlays_only_what_the_override_sets() {
        let base = default_profile();
        assert_eq!(merge_policy(&base, None).unwrap(), base);
        let over = Input::from(json!({"network": {"mode": "deny"}}));
        let merged = merge_policy(&base, Some(&over)).unwrap();
        let mut expected = base.clone();
        expected.network.mode = NetworkMode::Deny;
        assert_eq!(merged, expected);

        let over = Input::from(json!({
            "onUnavailable": "degrade",
            "resources": {"cpuSeconds": 5},
            "privilege": {"uid": 1000}
        }));
        let merged = merge_policy(&base, Some(&over)).unwrap();
        let mut expected = base.clone();
        expected.on_unavailable = OnUnavailable::Degrade;
        expected.resources.cpu_seconds = Some(5);
        expected.privilege.uid = Some(1000);
        assert_eq!(merged, expected);

        // `undefined` does not clobber, and an empty layer changes nothing.
        let over = Input::Object(vec![
            ("enabled".into(), Input::Undefined),
            (
                "resources".into(),
                Input::Object(vec![("cpuSeconds".into(), Input::Undefined)]),
            ),
            ("filesystem".into(), Input::Object(vec![])),
        ]);
        assert_eq!(merge_policy(&base, Some(&over)).unwrap(), base);

        // An empty override is a no-op too.
        assert_eq!(
            merge_policy(&base, Some(&Input::from(json!({})))).unwrap(),
            base
        );
    }

    #[test]
    fn merge_validates_the_override_and_the_result() {
        let base = default_profile();
        let err = merge_policy(
            &base,
            Some(&Input::from(
                json!({"network": {"allow": ["nope"]}, "x": 1}),
            )),
        )
        .unwrap_err();
        assert_eq!(err.issues.len(), 2);
        assert!(merge_policy(&base, Some(&Input::Null)).is_err());
        // A base built by hand with out-of-range values is caught on the way out.
        let mut bad_base = base.clone();
        bad_base.resources.cpu_seconds = Some(999_999);
        let err =
            merge_policy(&bad_base, Some(&Input::from(json!({"enabled": true})))).unwrap_err();
        assert_eq!(
            err.issues[0].message,
            "must be at most 3600, received 999999"
        );
    }
}
