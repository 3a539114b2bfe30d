//! What operators see: a one-line capability summary at startup, a compact
//! per-run summary of downgrades and notes, and a readiness verdict (with
//! guidance) for hosts that cannot enforce the secure default.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::capabilities::{Platform, SandboxCapabilities, Wrapper};
use crate::report::{EffectiveSandbox, SandboxDowngrade, SandboxNote};

/// A map that keeps its insertion order when serialized.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> OrderedMap<V> {
    /// Set `key`, replacing an earlier value in place.
    pub fn insert(&mut self, key: &str, value: V) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

fn opt_str(value: &Option<String>) -> Value {
    value
        .as_ref()
        .map_or(Value::Null, |s| Value::String(s.clone()))
}

/// The host's primitives as flat key/value pairs: the original's keys first,
/// then this engine's.
pub fn summarize_capabilities(caps: &SandboxCapabilities) -> OrderedMap<Value> {
    let mut m = OrderedMap::default();
    m.insert("platform", Value::from(caps.platform.as_str()));
    m.insert("supervisorEuidIsRoot", Value::from(caps.euid_is_root));
    m.insert("rlimits", Value::from(caps.rlimit_native));
    let wrapper = caps.wrapper.map(|w| match w {
        Wrapper::Bwrap => "bwrap",
        Wrapper::Nsjail => "nsjail",
        Wrapper::Firejail => "firejail",
    });
    m.insert("wrapper", wrapper.map_or(Value::Null, Value::from));
    m.insert("userNamespaces", Value::from(caps.user_namespaces));
    m.insert("userNsCreatable", Value::from(caps.user_ns_creatable));
    m.insert("netNamespaces", Value::from(caps.net_namespaces));
    m.insert("netEgressIface", opt_str(&caps.net_egress_iface));
    m.insert("netEgressRootless", Value::from(caps.net_egress_rootless));
    let engine = caps.engine.map(|e| match e {
        crate::capabilities::Engine::Native => "native",
        crate::capabilities::Engine::Bwrap => "bwrap",
    });
    m.insert("engine", engine.map_or(Value::Null, Value::from));
    m.insert("launcher", opt_str(&caps.launcher));
    m.insert("nativeNamespaces", Value::from(caps.native_namespaces));
    m.insert(
        "landlockAbi",
        caps.landlock_abi.map_or(Value::Null, Value::from),
    );
    m.insert("seccomp", Value::from(caps.seccomp));
    let cgroup = caps.cgroup.map(|c| {
        format!(
            "v{} ({})",
            c.version,
            if c.writable { "writable" } else { "read-only" }
        )
    });
    m.insert("cgroup", cgroup.map_or(Value::Null, Value::from));
    m.insert("slirp4netns", opt_str(&caps.slirp4netns));
    m.insert("nft", opt_str(&caps.nft));
    m.insert("tunUsable", Value::from(caps.tun_usable));
    m
}

/// The parts of a run's report the log summaries read. Deserializes from any
/// report-shaped object, so callers need not pass a complete report.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReportView {
    pub downgrades: Vec<SandboxDowngrade>,
    #[serde(default)]
    pub notes: Vec<SandboxNote>,
    pub platform: String,
}

impl From<&EffectiveSandbox> for ReportView {
    fn from(e: &EffectiveSandbox) -> Self {
        ReportView {
            downgrades: e.downgrades.clone(),
            notes: e.notes.clone(),
            platform: e.platform.clone(),
        }
    }
}

/// What to log for one run: a warning for downgrades, an info line for notes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunLog {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downgrades: Option<RunDowngradeSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<RunNoteSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
}

pub fn run_log(report: &ReportView) -> RunLog {
    let downgrades = summarize_run_downgrades(report);
    let notes = summarize_run_notes(report);
    RunLog {
        warning: downgrades.as_ref().map(downgrade_warning_message),
        info: notes.as_ref().map(note_info_message),
        downgrades,
        notes,
    }
}

/// The downgrades of one run, for a single structured warning.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDowngradeSummary {
    /// Every downgraded layer, in report order (a layer may repeat).
    pub layers: Vec<String>,
    /// Layer -> reason (the last one when a layer downgraded twice).
    pub reasons: OrderedMap<String>,
    pub platform: String,
}

/// `None` when every requested layer was enforced.
pub fn summarize_run_downgrades(effective: &ReportView) -> Option<RunDowngradeSummary> {
    if effective.downgrades.is_empty() {
        return None;
    }
    let mut reasons = OrderedMap::default();
    for d in &effective.downgrades {
        reasons.insert(d.layer.as_str(), d.reason.clone());
    }
    Some(RunDowngradeSummary {
        layers: effective
            .downgrades
            .iter()
            .map(|d| d.layer.as_str().to_string())
            .collect(),
        reasons,
        platform: effective.platform.clone(),
    })
}

/// The notes of one run, for a single informational log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunNoteSummary {
    pub layers: Vec<String>,
    /// Layer -> note (the last one when a layer has several).
    pub notes: OrderedMap<String>,
    pub platform: String,
}

/// `None` when the run has no notes.
pub fn summarize_run_notes(effective: &ReportView) -> Option<RunNoteSummary> {
    if effective.notes.is_empty() {
        return None;
    }
    let mut notes = OrderedMap::default();
    for n in &effective.notes {
        notes.insert(n.layer.as_str(), n.note.clone());
    }
    Some(RunNoteSummary {
        layers: effective
            .notes
            .iter()
            .map(|n| n.layer.as_str().to_string())
            .collect(),
        notes,
        platform: effective.platform.clone(),
    })
}

/// The warning line for a run's downgrades (`None`: nothing to say).
pub fn downgrade_warning_message(summary: &RunDowngradeSummary) -> String {
    format!(
        "script sandbox degraded: {} not fully enforced on {}",
        summary.layers.join(", "),
        summary.platform
    )
}

/// The info line for a run's notes.
pub fn note_info_message(summary: &RunNoteSummary) -> String {
    format!(
        "script sandbox notes ({}) on {}",
        summary.layers.join(", "),
        summary.platform
    )
}

/// Can this host enforce the secure default?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// Every blocker below is absent.
    pub enforceable: bool,
    pub platform: String,
    /// Why the secure default cannot be enforced (empty when it can).
    pub reasons: Vec<String>,
    /// Gaps that only matter for some policies (e.g. allowlist egress).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Operator guidance; empty when enforceable.
    pub guidance: String,
}

/// Judge the host from its capabilities. Pure.
pub fn assess_readiness(caps: &SandboxCapabilities) -> Readiness {
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    if caps.platform != Platform::Linux {
        reasons.push(format!(
            "the sandbox is built on Linux kernel primitives (namespaces, rlimits, seccomp, nftables); this host is {}",
            caps.platform.as_str()
        ));
    } else {
        if caps.launcher.is_none() {
            reasons.push(
                "the sandbox launcher executable (script-sandbox-launcher) was not found next to the addon; reinstall the platform package"
                    .to_string(),
            );
        } else if caps.engine != Some(crate::capabilities::Engine::Native) {
            reasons.push("the native sandbox engine is not selected".to_string());
        }
        if !caps.user_ns_creatable {
            reasons.push(
                "user namespaces cannot be created on this host (kernel.unprivileged_userns_clone=0, user.max_user_namespaces=0, an AppArmor userns restriction, or a container seccomp profile that blocks them)"
                    .to_string(),
            );
        }
        if !caps.seccomp {
            reasons.push("the kernel has no seccomp support".to_string());
        }
        let egress = crate::network::egress_blockers(caps);
        if reasons.is_empty() && !egress.is_empty() {
            warnings.push(format!(
                "network allowlists with entries, and the metadata block under an unrestricted network, cannot be enforced: {}",
                egress.join(", ")
            ));
        }
        if caps.landlock_abi.is_none() {
            warnings.push(
                "Landlock is unavailable: filesystem confinement relies on mount namespaces alone"
                    .to_string(),
            );
        }
    }
    let enforceable = reasons.is_empty();
    let guidance = if enforceable {
        String::new()
    } else {
        guidance_for(&reasons)
    };
    Readiness {
        enforceable,
        platform: caps.platform.as_str().to_string(),
        reasons,
        warnings,
        guidance,
    }
}

fn guidance_for(reasons: &[String]) -> String {
    let mut lines =
        vec!["Script sandbox: this host cannot enforce the OS-level isolation layers:".to_string()];
    lines.extend(reasons.iter().map(|r| format!("  - {r}")));
    lines.extend(
        [
            "With the shipped secure default (onUnavailable: \"fail\") every script run is refused instead of running unsandboxed.",
            "Options:",
            "  1. Run on a Linux host (or in the Linux container image) where user namespaces are allowed; on macOS or Windows use a Linux VM or container.",
            "  2. For local development only, set the global sandbox policy's onUnavailable to \"degrade\": scripts then run with just the timeout and the output cap, which is not a security boundary.",
            "Run `script-sandbox caps` to see what this host provides.",
        ]
        .map(str::to_string),
    );
    lines.join("\n")
}

/// A banner that stands out in logs; empty when the host is enforceable.
/// The headline comes first so a log level prefix lands on it.
pub fn format_readiness_banner(readiness: &Readiness) -> String {
    if readiness.enforceable {
        return String::new();
    }
    let rule = "=".repeat(78);
    format!(
        "SCRIPT SANDBOX: OS-LEVEL ISOLATION UNAVAILABLE ON THIS HOST\n{rule}\n{}\n{rule}\n",
        readiness.guidance
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::CgroupInfo;
    use crate::policy::default_profile;
    use crate::report::{EnforcedLayers, SandboxDowngrade, SandboxLayer, SandboxNote};

    fn caps() -> SandboxCapabilities {
        SandboxCapabilities {
            wrapper: Some(Wrapper::Bwrap),
            cgroup: Some(CgroupInfo {
                version: 2,
                writable: true,
            }),
            ..crate::capabilities::full_host_caps(false, "/opt/l")
        }
    }

    #[test]
    fn capability_summary_keeps_its_order() {
        let summary = summarize_capabilities(&caps());
        let keys: Vec<&str> = summary.keys().collect();
        assert_eq!(
            keys,
            vec![
                "platform",
                "supervisorEuidIsRoot",
                "rlimits",
                "wrapper",
                "userNamespaces",
                "userNsCreatable",
                "netNamespaces",
                "netEgressIface",
                "netEgressRootless",
                "engine",
                "launcher",
                "nativeNamespaces",
                "landlockAbi",
                "seccomp",
                "cgroup",
                "slirp4netns",
                "nft",
                "tunUsable",
            ]
        );
        let json = serde_json::to_string(&summary).unwrap();
        assert!(json.starts_with(r#"{"platform":"linux","supervisorEuidIsRoot":false,"rlimits":true,"wrapper":"bwrap""#), "{json}");
        assert!(json.contains(r#""landlockAbi":4"#));
        assert!(json.contains(r#""cgroup":"v2 (writable)""#));
        assert!(json.contains(r#""netEgressIface":null"#));
    }

    fn effective(downgrades: Vec<SandboxDowngrade>, notes: Vec<SandboxNote>) -> EffectiveSandbox {
        EffectiveSandbox {
            requested: default_profile(),
            enforced: EnforcedLayers::default(),
            downgrades,
            notes,
            platform: "linux".into(),
        }
    }

    #[test]
    fn run_summaries() {
        assert_eq!(
            summarize_run_downgrades(&(&effective(vec![], vec![])).into()),
            None
        );
        assert_eq!(
            summarize_run_notes(&(&effective(vec![], vec![])).into()),
            None
        );
        let e = effective(
            vec![
                SandboxDowngrade {
                    layer: SandboxLayer::Network,
                    reason: "a".into(),
                },
                SandboxDowngrade {
                    layer: SandboxLayer::Filesystem,
                    reason: "b".into(),
                },
                SandboxDowngrade {
                    layer: SandboxLayer::Network,
                    reason: "c".into(),
                },
            ],
            vec![SandboxNote {
                layer: SandboxLayer::Resources,
                note: "n".into(),
            }],
        );
        let s = summarize_run_downgrades(&(&e).into()).unwrap();
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"layers": ["network", "filesystem", "network"], "reasons": {"network": "c", "filesystem": "b"}, "platform": "linux"})
        );
        assert_eq!(
            downgrade_warning_message(&s),
            "script sandbox degraded: network, filesystem, network not fully enforced on linux"
        );
        let n = summarize_run_notes(&(&e).into()).unwrap();
        assert_eq!(n.notes.get("resources").map(String::as_str), Some("n"));
        assert_eq!(
            note_info_message(&n),
            "script sandbox notes (resources) on linux"
        );
    }

    #[test]
    fn a_complete_host_is_ready() {
        let r = assess_readiness(&caps());
        assert_eq!(
            r,
            Readiness {
                enforceable: true,
                platform: "linux".into(),
                reasons: vec![],
                warnings: vec![],
                guidance: String::new()
            }
        );
        assert_eq!(format_readiness_banner(&r), "");
    }

    #[test]
    fn egress_and_landlock_gaps_are_warnings_only() {
        let mut c = caps();
        c.tun_usable = false;
        c.net_egress_rootless = false;
        c.landlock_abi = None;
        let r = assess_readiness(&c);
        assert!(r.enforceable);
        assert_eq!(
            r.warnings,
            vec![
                "network allowlists with entries, and the metadata block under an unrestricted network, cannot be enforced: /dev/net/tun not usable by this user".to_string(),
                "Landlock is unavailable: filesystem confinement relies on mount namespaces alone".to_string(),
            ]
        );
    }

    #[test]
    fn blockers_make_the_host_unready() {
        let mut c = caps();
        c.launcher = None;
        c.engine = None;
        c.user_ns_creatable = false;
        c.seccomp = false;
        let r = assess_readiness(&c);
        assert!(!r.enforceable);
        assert_eq!(r.reasons.len(), 3);
        assert!(r.reasons[0].contains("launcher"));
        assert!(r.reasons[1].contains("user namespaces cannot be created"));
        assert!(r.reasons[2].contains("seccomp"));
        assert!(r
            .guidance
            .starts_with("Script sandbox: this host cannot enforce"));
        assert!(r.guidance.contains("  - the sandbox launcher executable"));
        let banner = format_readiness_banner(&r);
        assert!(banner
            .starts_with("SCRIPT SANDBOX: OS-LEVEL ISOLATION UNAVAILABLE ON THIS HOST\n====="));
        assert!(banner.ends_with(&format!("{}\n", "=".repeat(78))));

        let mut d = caps();
        d.platform = Platform::Darwin;
        let r = assess_readiness(&d);
        assert_eq!(r.reasons.len(), 1);
        assert!(r.reasons[0].ends_with("this host is darwin"));
        assert_eq!(r.platform, "darwin");
        assert_eq!(
            serde_json::to_value(&r).unwrap()["enforceable"],
            serde_json::Value::Bool(false)
        );
    }
}
