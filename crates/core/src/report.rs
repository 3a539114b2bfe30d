//! What a run actually got: the enforced layers, the downgrades (which
//! trigger fail-closed) and the notes (which never do).

use serde::{Deserialize, Serialize};

use crate::policy::SandboxPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxLayer {
    Resources,
    Filesystem,
    Network,
    Privilege,
}

impl SandboxLayer {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxLayer::Resources => "resources",
            SandboxLayer::Filesystem => "filesystem",
            SandboxLayer::Network => "network",
            SandboxLayer::Privilege => "privilege",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnforcedLayers {
    pub resources: bool,
    pub filesystem: bool,
    pub network: bool,
    pub privilege: bool,
}

/// A requested layer that could not be enforced, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxDowngrade {
    pub layer: SandboxLayer,
    pub reason: String,
}

/// How a layer is enforced, when an operator should know; never fatal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxNote {
    pub layer: SandboxLayer,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveSandbox {
    pub requested: SandboxPolicy,
    pub enforced: EnforcedLayers,
    pub downgrades: Vec<SandboxDowngrade>,
    pub notes: Vec<SandboxNote>,
    pub platform: String,
}

impl EffectiveSandbox {
    /// The report of a run that was refused or never started: nothing enforced.
    pub fn refused(
        requested: SandboxPolicy,
        downgrades: Vec<SandboxDowngrade>,
        platform: &str,
    ) -> Self {
        EffectiveSandbox {
            requested,
            enforced: EnforcedLayers::default(),
            downgrades,
            notes: Vec::new(),
            platform: platform.to_string(),
        }
    }
}

/// Raised when `onUnavailable: "fail"` and a layer downgraded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", unavailable_message(.downgrades))]
pub struct SandboxUnavailable {
    pub downgrades: Vec<SandboxDowngrade>,
}

/// `sandbox unavailable: <layer>: <reason>; ...`
pub fn unavailable_message(downgrades: &[SandboxDowngrade]) -> String {
    let parts: Vec<String> = downgrades
        .iter()
        .map(|d| format!("{}: {}", d.layer.as_str(), d.reason))
        .collect();
    format!("sandbox unavailable: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_message_lists_every_downgrade() {
        let d = vec![
            SandboxDowngrade {
                layer: SandboxLayer::Network,
                reason: "no netns".into(),
            },
            SandboxDowngrade {
                layer: SandboxLayer::Privilege,
                reason: "root".into(),
            },
        ];
        assert_eq!(
            SandboxUnavailable { downgrades: d }.to_string(),
            "sandbox unavailable: network: no netns; privilege: root"
        );
    }
}
