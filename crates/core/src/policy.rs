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
