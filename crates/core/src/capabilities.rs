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
    /// What will actually enforce runs: the native launcher, or nothing.
    #[serde(default)]
    pub engine: Option<Engine>,
    /// Absolute path of the launcher executable, when found.
    #[serde(default)]
    pub launcher: Option<String>,
}
