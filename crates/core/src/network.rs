//! The network layer: which namespace a run gets, and the nftables egress
//! filter loaded inside it.
//!
//! Egress is cut or filtered in the kernel (a network namespace), so nothing
//! the script does in userspace can route around it. A fresh namespace has
//! no route out, which is exactly `deny`; anything that must keep some
//! egress (`allowlist` with entries, or `unrestricted` with the metadata
//! block) needs a namespace with real egress plumbed in (rootless:
//! slirp4netns) plus a filter. When that cannot be built the run keeps the
//! host network and the layer is reported as downgraded: a routeless
//! namespace is never passed off as an allowlist.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::capabilities::{Engine, Platform, SandboxCapabilities};
use crate::input::PathSegment;
use crate::policy::{NetworkMode, NetworkPolicy, PolicyError, PolicyIssue};

/// Destinations dropped whenever the metadata block is on, before any allow
/// entry is looked at: IPv4 link-local (which holds the cloud metadata
/// endpoint 169.254.169.254), IPv6 link-local, and IPv6 unique-local (which
/// holds the IPv6 metadata aliases such as fd00:ec2::254).
pub const ALWAYS_BLOCKED_CIDRS: [&str; 3] = ["169.254.0.0/16", "fe80::/10", "fc00::/7"];

/// The nftables table the egress filter lives in.
pub const EGRESS_TABLE: &str = "checkstack_egress";

/// Longest piece of a rejected entry echoed back in a message.
const ECHO_LIMIT: usize = 64;

/// Parse one `network.allow` entry: an IPv4/IPv6 address (meaning /32 or
/// /128) or `address/prefix`. Nothing else is accepted: no whitespace, no
/// zone ids, no leading zeros in the prefix, no names.
pub fn parse_allow_entry(entry: &str) -> Result<IpNet, String> {
    let invalid = || {
        format!(
            "expected an IPv4/IPv6 address or CIDR, received {}",
            echo(entry)
        )
    };
    let (addr_part, prefix_part) = match entry.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (entry, None),
    };
    let addr: IpAddr = addr_part.parse().map_err(|_| invalid())?;
    let max_prefix: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_part {
        None => max_prefix,
        Some(p) => {
            let well_formed = !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && !(p.len() > 1 && p.starts_with('0'));
            if !well_formed {
                return Err(invalid());
            }
            p.parse::<u8>().map_err(|_| invalid())?
        }
    };
    if prefix > max_prefix {
        let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
        return Err(format!(
            "prefix length /{prefix} is out of range for an {family} address (at most /{max_prefix}) in {}",
            echo(entry)
        ));
    }
    IpNet::new(addr, prefix).map_err(|_| invalid())
}

/// A user string, quoted and escaped, cut to a readable length.
pub(crate) fn echo(value: &str) -> String {
    if value.chars().count() <= ECHO_LIMIT {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(ECHO_LIMIT).collect();
        format!("{head:?}...")
    }
}

/// What the egress filter is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgressRulesMode {
    /// Default drop; loopback and the listed destinations accepted.
    Allowlist,
    /// Default accept; only the blocked ranges dropped (`unrestricted` with
    /// the metadata block).
    MetadataOnly,
}

/// Build the nftables ruleset (an `nft -f` file) for the run's namespace.
///
/// The blocked ranges (when `deny_metadata`) come first, so no allow entry
/// and no default-accept can reach them. Allow entries are validated here
/// too, and emitted in canonical, network-truncated, aggregated form: the
/// ruleset never contains caller text.
/// Blocked packets go to a `refuse` chain that rejects them (TCP with a
/// reset), so a blocked `connect()` fails at once instead of hanging until
/// the TCP timeout; the output chain's policy still drops anything else.
const REFUSE: &str = "goto refuse";

pub fn build_egress_nft_rules(
    mode: EgressRulesMode,
    allow: &[String],
    deny_metadata: bool,
) -> Result<String, PolicyError> {
    let mut issues = Vec::new();
    let mut nets = Vec::new();
    for (i, entry) in allow.iter().enumerate() {
        match parse_allow_entry(entry) {
            Ok(net) => nets.push(net.trunc()),
            Err(message) => issues.push(PolicyIssue {
                path: vec![PathSegment::from("allow"), PathSegment::from(i)],
                message,
            }),
        }
    }
    if !issues.is_empty() {
        return Err(PolicyError { issues });
    }

    let mut lines = vec![
        format!("table inet {EGRESS_TABLE} {{"),
        "  chain refuse {".to_string(),
        "    meta l4proto tcp reject with tcp reset".to_string(),
        "    reject with icmpx type admin-prohibited".to_string(),
        "  }".to_string(),
        "  chain output {".to_string(),
    ];
    let policy = match mode {
        EgressRulesMode::Allowlist => "drop",
        EgressRulesMode::MetadataOnly => "accept",
    };
    lines.push(format!(
        "    type filter hook output priority 0; policy {policy};"
    ));
    if deny_metadata {
        let (v4, v6): (Vec<&str>, Vec<&str>) =
            ALWAYS_BLOCKED_CIDRS.iter().partition(|c| !c.contains(':'));
        lines.push(format!("    ip daddr {{ {} }} {REFUSE}", v4.join(", ")));
        lines.push(format!("    ip6 daddr {{ {} }} {REFUSE}", v6.join(", ")));
    }
    if mode == EgressRulesMode::Allowlist {
        lines.push("    oifname \"lo\" accept".to_string());
        lines.push("    ip daddr { 127.0.0.0/8 } accept".to_string());
        lines.push("    ip6 daddr { ::1/128 } accept".to_string());
        let nets = IpNet::aggregate(&nets);
        let v4: Vec<String> = nets
            .iter()
            .filter(|n| matches!(n, IpNet::V4(_)))
            .map(|n| n.to_string())
            .collect();
        let v6: Vec<String> = nets
            .iter()
            .filter(|n| matches!(n, IpNet::V6(_)))
            .map(|n| n.to_string())
            .collect();
        if !v4.is_empty() {
            lines.push(format!("    ip daddr {{ {} }} accept", v4.join(", ")));
        }
        if !v6.is_empty() {
            lines.push(format!("    ip6 daddr {{ {} }} accept", v6.join(", ")));
        }
        lines.push(format!("    {REFUSE}"));
    }
    lines.push("  }".to_string());
    lines.push("}".to_string());
    let mut ruleset = lines.join("\n");
    ruleset.push('\n');
    Ok(ruleset)
}

/// The kind of namespace a `namespaced` decision asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NamespacedMode {
    /// Routeless: loopback only.
    Deny,
    /// Plumbed egress behind a filter (also used for the metadata-only block).
    Allowlist,
}

/// How egress is plumbed into the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EgressPath {
    /// slirp4netns attached from outside (no privilege needed).
    Rootless,
}

/// What the network layer will do for a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum NetworkDecision {
    /// Keep the host network. `metadata_block_unenforceable`: the metadata
    /// block was requested but cannot be delivered (a downgrade).
    #[serde(rename_all = "camelCase")]
    Host { metadata_block_unenforceable: bool },
    /// A fresh network namespace.
    #[serde(rename_all = "camelCase")]
    Namespaced {
        mode: NamespacedMode,
        #[serde(skip_serializing_if = "Option::is_none")]
        egress_path: Option<EgressPath>,
        #[serde(skip_serializing_if = "Option::is_none")]
        nft_ruleset: Option<String>,
    },
    /// Cannot be enforced as requested; the host network is kept.
    #[serde(rename_all = "camelCase")]
    Degrade { reason: String },
}

/// Why the native launcher cannot run here (empty: it can).
pub fn engine_blockers(caps: &SandboxCapabilities) -> Vec<String> {
    if caps.platform != Platform::Linux {
        return vec![format!(
            "the sandbox engine needs Linux (platform={})",
            caps.platform.as_str()
        )];
    }
    if caps.launcher.is_none() {
        return vec!["the sandbox launcher executable was not found".to_string()];
    }
    if caps.engine != Some(Engine::Native) {
        return vec!["the native sandbox engine is not selected".to_string()];
    }
    Vec::new()
}

/// Why the native engine cannot build namespaces here (empty: it can).
pub fn namespace_blockers(caps: &SandboxCapabilities) -> Vec<String> {
    let mut blockers = engine_blockers(caps);
    if caps.platform == Platform::Linux && !caps.native_namespaces {
        blockers
            .push("user namespaces unavailable (they cannot be created on this host)".to_string());
    }
    blockers
}

/// Why rootless egress cannot be plumbed here (empty: it can).
pub fn egress_blockers(caps: &SandboxCapabilities) -> Vec<String> {
    let mut blockers = namespace_blockers(caps);
    if caps.slirp4netns.is_none() {
        blockers.push("slirp4netns not found".to_string());
    }
    if caps.nft.is_none() {
        blockers.push("nft not found".to_string());
    }
    if blockers.is_empty() && !caps.net_egress_rootless {
        if caps.tun_usable {
            blockers.push("rootless egress is unavailable on this host".to_string());
        } else {
            blockers.push("/dev/net/tun not usable by this user".to_string());
        }
    }
    blockers
}

/// Resolve the network layer of `policy` on a host with `caps`. Pure.
pub fn build_network_layer(policy: &NetworkPolicy, caps: &SandboxCapabilities) -> NetworkDecision {
    match policy.mode {
        NetworkMode::Unrestricted => {
            if !policy.deny_link_local_and_metadata {
                return NetworkDecision::Host {
                    metadata_block_unenforceable: false,
                };
            }
            if !egress_blockers(caps).is_empty() {
                return NetworkDecision::Host {
                    metadata_block_unenforceable: true,
                };
            }
            match build_egress_nft_rules(EgressRulesMode::MetadataOnly, &[], true) {
                Ok(ruleset) => NetworkDecision::Namespaced {
                    mode: NamespacedMode::Allowlist,
                    egress_path: Some(EgressPath::Rootless),
                    nft_ruleset: Some(ruleset),
                },
                Err(e) => NetworkDecision::Degrade {
                    reason: e.to_string(),
                },
            }
        }
        NetworkMode::Deny => deny_decision("network deny", caps),
        NetworkMode::Allowlist if policy.allow.is_empty() => {
            deny_decision("network allowlist (empty: deny all)", caps)
        }
        NetworkMode::Allowlist => {
            let blockers = egress_blockers(caps);
            if !blockers.is_empty() {
                return NetworkDecision::Degrade {
                    reason: format!(
                        "network allowlist needs a network namespace with rootless egress (slirp4netns) and an nftables filter: {}; a routeless namespace would cut off the allowed destinations too, so the host network is kept and egress is unrestricted",
                        blockers.join(", ")
                    ),
                };
            }
            match build_egress_nft_rules(
                EgressRulesMode::Allowlist,
                &policy.allow,
                policy.deny_link_local_and_metadata,
            ) {
                Ok(ruleset) => NetworkDecision::Namespaced {
                    mode: NamespacedMode::Allowlist,
                    egress_path: Some(EgressPath::Rootless),
                    nft_ruleset: Some(ruleset),
                },
                Err(e) => NetworkDecision::Degrade {
                    reason: format!("{e}; egress unrestricted"),
                },
            }
        }
    }
}

fn deny_decision(what: &str, caps: &SandboxCapabilities) -> NetworkDecision {
    let blockers = namespace_blockers(caps);
    if blockers.is_empty() {
        NetworkDecision::Namespaced {
            mode: NamespacedMode::Deny,
            egress_path: None,
            nft_ruleset: None,
        }
    } else {
        NetworkDecision::Degrade {
            reason: format!(
                "{what} needs a new network namespace, which cannot be created: {}; egress unrestricted",
                blockers.join(", ")
            ),
        }
    }
}

/// Why the metadata block cannot be kept on the host network (for reports).
pub fn metadata_block_downgrade_reason(caps: &SandboxCapabilities) -> String {
    format!(
        "the link-local/metadata block needs a network namespace with rootless egress (slirp4netns) and an nftables filter: {}; a routeless namespace would cut off all egress, so the host network is kept and metadata addresses stay reachable",
        egress_blockers(caps).join(", ")
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::capabilities::SandboxCapabilities;

    pub(crate) fn linux_caps() -> SandboxCapabilities {
        crate::capabilities::full_host_caps(false, "/opt/sandbox/script-sandbox-launcher")
    }

    fn net(mode: NetworkMode, allow: &[&str], block: bool) -> NetworkPolicy {
        NetworkPolicy {
            mode,
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny_link_local_and_metadata: block,
        }
    }

    #[test]
    fn allow_entries_parse_strictly() {
        assert_eq!(
            parse_allow_entry("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_allow_entry("1.2.3.4").unwrap().to_string(),
            "1.2.3.4/32"
        );
        assert_eq!(
            parse_allow_entry("2001:db8::1").unwrap().to_string(),
            "2001:db8::1/128"
        );
        assert_eq!(
            parse_allow_entry("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(
            parse_allow_entry("0.0.0.0/0").unwrap().to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(
            parse_allow_entry("::ffff:10.0.0.1").unwrap().to_string(),
            "::ffff:10.0.0.1/128"
        );
        assert_eq!(
            parse_allow_entry("10.1.2.3/8").unwrap().trunc().to_string(),
            "10.0.0.0/8"
        );
        for bad in [
            "",
            " 10.0.0.1",
            "10.0.0.1 ",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/08",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "1.2.3.4; drop",
            "0.0.0.0/0 } accept; #",
            "example.com",
            "010.0.0.1",
            "1.2.3",
            "fe80::1%eth0",
            "10.0.0.0/8\n",
            "1.2.3.4/1000",
        ] {
            assert!(
                parse_allow_entry(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert_eq!(
            parse_allow_entry("10.0.0.0/33").unwrap_err(),
            "prefix length /33 is out of range for an IPv4 address (at most /32) in \"10.0.0.0/33\""
        );
        assert_eq!(
            parse_allow_entry("1.2.3.4; drop").unwrap_err(),
            "expected an IPv4/IPv6 address or CIDR, received \"1.2.3.4; drop\""
        );
        let long = "x".repeat(200);
        let message = parse_allow_entry(&long).unwrap_err();
        assert!(
            message.ends_with("\"...") && message.len() < 140,
            "{message}"
        );
    }

    #[test]
    fn allowlist_ruleset_blocks_first_and_canonicalises() {
        let allow: Vec<String> = ["10.1.2.3/8", "2001:db8::1", "10.2.0.0/16", "192.0.2.7"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let rules = build_egress_nft_rules(EgressRulesMode::Allowlist, &allow, true).unwrap();
        assert_eq!(
            rules,
            "table inet checkstack_egress {\n\
             \x20 chain refuse {\n\
             \x20   meta l4proto tcp reject with tcp reset\n\
             \x20   reject with icmpx type admin-prohibited\n\
             \x20 }\n\
             \x20 chain output {\n\
             \x20   type filter hook output priority 0; policy drop;\n\
             \x20   ip daddr { 169.254.0.0/16 } goto refuse\n\
             \x20   ip6 daddr { fe80::/10, fc00::/7 } goto refuse\n\
             \x20   oifname \"lo\" accept\n\
             \x20   ip daddr { 127.0.0.0/8 } accept\n\
             \x20   ip6 daddr { ::1/128 } accept\n\
             \x20   ip daddr { 10.0.0.0/8, 192.0.2.7/32 } accept\n\
             \x20   ip6 daddr { 2001:db8::1/128 } accept\n\
             \x20   goto refuse\n\
             \x20 }\n\
             }\n"
        );
    }

    #[test]
    fn metadata_only_ruleset_accepts_by_default() {
        let rules = build_egress_nft_rules(EgressRulesMode::MetadataOnly, &[], true).unwrap();
        assert_eq!(
            rules,
            "table inet checkstack_egress {\n  chain refuse {\n    meta l4proto tcp reject with tcp reset\n    reject with icmpx type admin-prohibited\n  }\n  chain output {\n    type filter hook output priority 0; policy accept;\n    ip daddr { 169.254.0.0/16 } goto refuse\n    ip6 daddr { fe80::/10, fc00::/7 } goto refuse\n  }\n}\n"
        );
        let no_block =
            build_egress_nft_rules(EgressRulesMode::Allowlist, &["1.2.3.4".to_string()], false)
                .unwrap();
        assert!(!no_block.contains("169.254"));
        assert!(no_block.contains("ip daddr { 1.2.3.4/32 } accept"));
    }

    #[test]
    fn ruleset_builder_validates_every_entry() {
        let allow: Vec<String> = ["1.2.3.4", "1.2.3.4; drop", "0.0.0.0/0 } accept; #"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let err = build_egress_nft_rules(EgressRulesMode::Allowlist, &allow, true).unwrap_err();
        let paths: Vec<String> = err
            .issues
            .iter()
            .map(|i| serde_json::to_string(&i.path).unwrap())
            .collect();
        assert_eq!(paths, vec![r#"["allow",1]"#, r#"["allow",2]"#]);
    }

    #[test]
    fn rulesets_are_valid_nft_files() {
        let nft = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(nft) = nft else {
            eprintln!("skipping nft syntax check: nft is not installed");
            return;
        };
        let allow: Vec<String> = ["10.0.0.0/8", "10.1.0.0/16", "2001:db8::/48", "192.0.2.1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let cases = [
            build_egress_nft_rules(EgressRulesMode::Allowlist, &allow, true).unwrap(),
            build_egress_nft_rules(EgressRulesMode::Allowlist, &[], true).unwrap(),
            build_egress_nft_rules(EgressRulesMode::Allowlist, &allow, false).unwrap(),
            build_egress_nft_rules(EgressRulesMode::MetadataOnly, &[], true).unwrap(),
            build_egress_nft_rules(EgressRulesMode::MetadataOnly, &[], false).unwrap(),
        ];
        let dir = std::env::temp_dir().join(format!("nft-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, rules) in cases.iter().enumerate() {
            let file = dir.join(format!("rules-{i}.nft"));
            std::fs::write(&file, rules).unwrap();
            // `-c` only parses and evaluates; nothing is committed. Without
            // CAP_NET_ADMIN, retry inside a user + network namespace of our own.
            let check = |prefix: &[&str]| {
                let mut argv: Vec<&std::ffi::OsStr> =
                    prefix.iter().map(std::ffi::OsStr::new).collect();
                argv.extend([
                    std::ffi::OsStr::new(nft),
                    "-c".as_ref(),
                    "-f".as_ref(),
                    file.as_os_str(),
                ]);
                std::process::Command::new(argv[0])
                    .args(&argv[1..])
                    .output()
            };
            let denied = |out: &std::process::Output| {
                let stderr = String::from_utf8_lossy(&out.stderr);
                stderr.contains("Operation not permitted") || stderr.contains("Permission denied")
            };
            let mut out = check(&[]).unwrap();
            if !out.status.success() && denied(&out) {
                if let Ok(retry) = check(&["unshare", "-rn"]) {
                    // Keep the first answer when unshare itself failed.
                    if !String::from_utf8_lossy(&retry.stderr).starts_with("unshare:") {
                        out = retry;
                    }
                }
            }
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                if denied(&out) {
                    eprintln!(
                        "skipping nft syntax check: nft -c needs CAP_NET_ADMIN here ({stderr})"
                    );
                    break;
                }
                panic!("nft rejected ruleset {i}:\n{rules}\n{stderr}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn decision_serializes_like_the_original() {
        let host = NetworkDecision::Host {
            metadata_block_unenforceable: true,
        };
        assert_eq!(
            serde_json::to_string(&host).unwrap(),
            r#"{"kind":"host","metadataBlockUnenforceable":true}"#
        );
        let deny = NetworkDecision::Namespaced {
            mode: NamespacedMode::Deny,
            egress_path: None,
            nft_ruleset: None,
        };
        assert_eq!(
            serde_json::to_string(&deny).unwrap(),
            r#"{"kind":"namespaced","mode":"deny"}"#
        );
        let allow = NetworkDecision::Namespaced {
            mode: NamespacedMode::Allowlist,
            egress_path: Some(EgressPath::Rootless),
            nft_ruleset: Some("x".into()),
        };
        assert_eq!(
            serde_json::to_string(&allow).unwrap(),
            r#"{"kind":"namespaced","mode":"allowlist","egressPath":"rootless","nftRuleset":"x"}"#
        );
        let degrade = NetworkDecision::Degrade { reason: "r".into() };
        assert_eq!(
            serde_json::to_string(&degrade).unwrap(),
            r#"{"kind":"degrade","reason":"r"}"#
        );
    }

    #[test]
    fn deny_and_empty_allowlist_are_routeless() {
        let caps = linux_caps();
        let routeless = NetworkDecision::Namespaced {
            mode: NamespacedMode::Deny,
            egress_path: None,
            nft_ruleset: None,
        };
        assert_eq!(
            build_network_layer(&net(NetworkMode::Deny, &[], true), &caps),
            routeless
        );
        assert_eq!(
            build_network_layer(&net(NetworkMode::Allowlist, &[], true), &caps),
            routeless
        );
        assert_eq!(
            build_network_layer(&net(NetworkMode::Allowlist, &[], false), &caps),
            routeless
        );
        // Deny needs no egress tools.
        let mut bare = caps.clone();
        bare.slirp4netns = None;
        bare.nft = None;
        bare.net_egress_rootless = false;
        assert_eq!(
            build_network_layer(&net(NetworkMode::Deny, &[], true), &bare),
            routeless
        );
    }

    #[test]
    fn deny_degrades_without_namespaces() {
        let mut caps = linux_caps();
        caps.native_namespaces = false;
        caps.net_egress_rootless = false;
        assert_eq!(
            build_network_layer(&net(NetworkMode::Deny, &[], true), &caps),
            NetworkDecision::Degrade {
                reason: "network deny needs a new network namespace, which cannot be created: user namespaces unavailable (they cannot be created on this host); egress unrestricted".into()
            }
        );
        let mut caps = linux_caps();
        caps.launcher = None;
        caps.engine = None;
        let NetworkDecision::Degrade { reason } =
            build_network_layer(&net(NetworkMode::Deny, &[], true), &caps)
        else {
            panic!("expected a degrade");
        };
        assert!(
            reason.contains("launcher executable was not found"),
            "{reason}"
        );
        let mut caps = linux_caps();
        caps.platform = Platform::Darwin;
        let NetworkDecision::Degrade { reason } =
            build_network_layer(&net(NetworkMode::Allowlist, &[], true), &caps)
        else {
            panic!("expected a degrade");
        };
        assert!(reason.contains("platform=darwin"), "{reason}");
    }

    #[test]
    fn allowlist_with_entries_needs_rootless_egress() {
        let caps = linux_caps();
        let policy = net(NetworkMode::Allowlist, &["10.0.0.0/8"], true);
        let expected_rules =
            build_egress_nft_rules(EgressRulesMode::Allowlist, &policy.allow, true).unwrap();
        assert_eq!(
            build_network_layer(&policy, &caps),
            NetworkDecision::Namespaced {
                mode: NamespacedMode::Allowlist,
                egress_path: Some(EgressPath::Rootless),
                nft_ruleset: Some(expected_rules),
            }
        );
        type Tweak = fn(&mut SandboxCapabilities);
        let cases: [(&str, Tweak); 4] = [
            ("slirp4netns not found", |c| {
                c.slirp4netns = None;
                c.net_egress_rootless = false;
            }),
            ("nft not found", |c| {
                c.nft = None;
                c.net_egress_rootless = false;
            }),
            ("/dev/net/tun not usable by this user", |c| {
                c.tun_usable = false;
                c.net_egress_rootless = false;
            }),
            ("user namespaces unavailable", |c| {
                c.native_namespaces = false;
                c.net_egress_rootless = false;
            }),
        ];
        for (needle, tweak) in cases {
            let mut caps = linux_caps();
            tweak(&mut caps);
            match build_network_layer(&policy, &caps) {
                NetworkDecision::Degrade { reason } => {
                    assert!(reason.contains(needle), "{reason}");
                    assert!(reason.ends_with("egress is unrestricted"), "{reason}");
                }
                other => panic!("expected a degrade, got {other:?}"),
            }
        }
    }

    #[test]
    fn unrestricted_with_and_without_the_metadata_block() {
        let caps = linux_caps();
        assert_eq!(
            build_network_layer(&net(NetworkMode::Unrestricted, &[], false), &caps),
            NetworkDecision::Host {
                metadata_block_unenforceable: false
            }
        );
        assert_eq!(
            build_network_layer(&net(NetworkMode::Unrestricted, &[], true), &caps),
            NetworkDecision::Namespaced {
                mode: NamespacedMode::Allowlist,
                egress_path: Some(EgressPath::Rootless),
                nft_ruleset: Some(
                    build_egress_nft_rules(EgressRulesMode::MetadataOnly, &[], true).unwrap()
                ),
            }
        );
        let mut no_tun = caps.clone();
        no_tun.tun_usable = false;
        no_tun.net_egress_rootless = false;
        assert_eq!(
            build_network_layer(&net(NetworkMode::Unrestricted, &[], true), &no_tun),
            NetworkDecision::Host {
                metadata_block_unenforceable: true
            }
        );
        assert!(metadata_block_downgrade_reason(&no_tun)
            .contains("/dev/net/tun not usable by this user"));
        // Unrestricted without the block is fine anywhere.
        let mut darwin = caps;
        darwin.platform = Platform::Darwin;
        assert_eq!(
            build_network_layer(&net(NetworkMode::Unrestricted, &[], false), &darwin),
            NetworkDecision::Host {
                metadata_block_unenforceable: false
            }
        );
    }
}
