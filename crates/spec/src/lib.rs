//! The contract between the supervisor (the addon) and the launcher
//! executable: what to build (`LaunchSpec`) and what happened (`LauncherEvent`).
//!
//! The supervisor decides; the launcher only executes. Keeping the contract in
//! its own small crate lets the launcher be built and tested without the
//! addon, and makes every plan printable as JSON.

use serde::{Deserialize, Serialize};

/// fd on which the launcher reads its JSON `LaunchSpec` (a sealed memfd).
pub const SPEC_FD: i32 = 3;
/// fd on which the launcher writes newline-delimited JSON `LauncherEvent`s.
pub const STATUS_FD: i32 = 4;
/// fd from which the namespace init reads the supervisor's go-ahead byte
/// after `SetupOp::AwaitEgress` (egress plumbing is attached by then).
pub const CONTROL_FD: i32 = 5;

/// Everything the launcher needs to build one sandbox and exec one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LaunchSpec {
    /// Namespaces to create for the run (all in one `clone`).
    pub namespaces: Namespaces,
    /// Identity mapping written by the launcher into the new user namespace.
    /// Required when `namespaces.user` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_map: Option<IdMap>,
    /// Drop the launcher's supplementary groups before cloning (root
    /// supervisor only: otherwise the child would keep host root's groups).
    #[serde(default)]
    pub clear_supplementary_groups: bool,
    /// Ordered steps run by the namespace init, while it still holds its
    /// capabilities inside the new user namespace.
    pub setup: Vec<SetupOp>,
    /// The final process: applied in the child just before `exec`.
    pub process: ProcessSpec,
}

/// Which namespaces the run gets. `user` implies the init has full
/// capabilities inside it during setup (and none after).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Namespaces {
    pub user: bool,
    pub mount: bool,
    pub pid: bool,
    pub ipc: bool,
    pub uts: bool,
    pub net: bool,
}

impl Namespaces {
    /// True when no namespace at all is requested.
    pub fn is_empty(&self) -> bool {
        !(self.user || self.mount || self.pid || self.ipc || self.uts || self.net)
    }
}

/// One-to-one uid and gid mapping into the run's user namespace:
/// `inside` is the id the child sees, `outside` the host id it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdMap {
    pub inside_uid: u32,
    pub outside_uid: u32,
    pub inside_gid: u32,
    pub outside_gid: u32,
}

/// One setup step, executed in order by the namespace init.
///
/// Paths in `source` fields are host paths; `dest` fields are paths inside
/// the new root. Between `NewRoot` and `FinishRoot` the host tree is still
/// reachable for bind sources; after `FinishRoot` it is gone. Planners must
/// order: `NftRuleset` before `NewRoot` (the `nft` path is resolved in the
/// host root); a `Tmpfs` before any `Bind` beneath it (or it hides the
/// bind); `Proc`/`Dev` between `NewRoot` and `FinishRoot`.
///
/// Once the id maps are written, the init runs as `IdMap::inside_uid/gid`
/// (keeping its capabilities in the new user namespace until setup ends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", deny_unknown_fields)]
pub enum SetupOp {
    /// Bring `lo` up in the new network namespace.
    LoopbackUp,
    /// Load an nftables ruleset with the `nft` binary (given
    /// CAP_NET_ADMIN for that exec only), then verify the table is present.
    #[serde(rename_all = "camelCase")]
    NftRuleset {
        nft: String,
        ruleset: String,
        table: String,
    },
    /// Report `LauncherEvent::EgressWait` and block until the supervisor
    /// writes the go-ahead byte on `CONTROL_FD` (slirp4netns is attached).
    AwaitEgress,
    /// Set the UTS hostname.
    #[serde(rename_all = "camelCase")]
    Hostname { name: String },
    /// Start a fresh root: a tmpfs that later becomes `/`.
    NewRoot,
    /// Bind a host path into the new root (`nosuid,nodev`; read-only when
    /// `readonly`). `source` must exist; `dest`'s parents are created.
    #[serde(rename_all = "camelCase")]
    Bind {
        source: String,
        dest: String,
        readonly: bool,
    },
    /// Mount a fresh tmpfs (`nosuid,nodev`) at `dest`.
    #[serde(rename_all = "camelCase")]
    Tmpfs {
        dest: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size_bytes: Option<u64>,
    },
    /// Mount a fresh procfs for the run's PID namespace at `dest`.
    #[serde(rename_all = "camelCase")]
    Proc { dest: String },
    /// A minimal `/dev`: tmpfs with null, zero, full, random, urandom, tty
    /// bound from the host, the std fd links, and a private devpts/shm.
    #[serde(rename_all = "camelCase")]
    Dev { dest: String },
    /// Pivot into the new root, detach the host tree, and make `/` itself
    /// read-only (the writable places are the tmpfs and rw binds).
    FinishRoot,
}

/// The final process and the restrictions applied to it before `exec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProcessSpec {
    /// argv; `argv[0]` is looked up in the `PATH` of `env` when it has no `/`.
    pub argv: Vec<String>,
    /// The complete environment, in order.
    pub env: Vec<(String, String)>,
    /// Working directory (inside the new root when there is one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Resource limits, soft = hard = value.
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    /// Switch to these ids (setgroups/setresgid/setresuid) before exec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch_to: Option<Ids>,
    /// Landlock filesystem fence, applied best-effort for the kernel's ABI
    /// unless `required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landlock: Option<LandlockRules>,
    /// Seccomp filter installed last, just before exec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<SeccompProfile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RlimitResource {
    Cpu,
    Nofile,
    Nproc,
    Fsize,
    Core,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rlimit {
    pub resource: RlimitResource,
    pub value: u64,
}

/// Paths (as seen by the final process) that stay reachable under Landlock;
/// everything else is refused. `required` means: reads, writes, execution
/// and truncation (ABI 3) are fenced and signals / abstract Unix sockets are
/// scoped to the sandbox (ABI 6), or the run fails.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LandlockRules {
    pub read_only: Vec<String>,
    pub read_write: Vec<String>,
    /// Fail the run when the kernel cannot enforce the rules fully.
    #[serde(default)]
    pub required: bool,
}

/// What the seccomp filter refuses. The base set (namespaces, mounts,
/// ptrace, keyrings, bpf, module loading, ...) is always refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeccompProfile {
    /// Also refuse `socket(AF_INET|AF_INET6, ...)`: the deny layer when no
    /// network namespace can be made.
    #[serde(default)]
    pub deny_inet_sockets: bool,
    /// Also refuse `socket(AF_UNIX, ...)` (`socketpair` stays allowed): with
    /// no mount namespace, host Unix sockets are otherwise reachable by path.
    #[serde(default)]
    pub deny_unix_sockets: bool,
    /// Also refuse `setsid`/`setpgid`: with no PID namespace the supervisor
    /// ends the run by killing its process group, which must hold everything.
    #[serde(default)]
    pub keep_process_group: bool,
}

/// Progress and failure reports from the launcher, one JSON object per line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum LauncherEvent {
    /// The namespace init exists; `pid` is its host pid.
    #[serde(rename_all = "camelCase")]
    Started { pid: i32 },
    /// The egress ruleset as `nft list table` shows it right after loading:
    /// what is really in force in the run's network namespace.
    #[serde(rename_all = "camelCase")]
    RulesetLoaded { listing: String },
    /// The egress filter is loaded; attach egress to `Started.pid`'s
    /// network namespace, then write one byte on `CONTROL_FD`.
    EgressWait,
    /// A step failed; the run must end without executing the command. A
    /// failed `exec` is reported this way too: a run ends with exactly one
    /// of `Error` or `Exited`.
    #[serde(rename_all = "camelCase")]
    Error {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        errno: Option<i32>,
        message: String,
    },
    /// The command ended: exactly one of `code` / `signal` is set.
    #[serde(rename_all = "camelCase")]
    Exited {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
    },
}

impl LauncherEvent {
    /// One line of the status stream.
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("events always serialize");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_ops_round_trip_with_tags() {
        let ops = vec![
            SetupOp::LoopbackUp,
            SetupOp::NewRoot,
            SetupOp::Bind {
                source: "/usr".into(),
                dest: "/usr".into(),
                readonly: true,
            },
            SetupOp::Tmpfs {
                dest: "/tmp".into(),
                size_bytes: Some(1 << 20),
            },
            SetupOp::FinishRoot,
        ];
        let json = serde_json::to_string(&ops).unwrap();
        assert_eq!(
            json,
            r#"[{"op":"loopbackUp"},{"op":"newRoot"},{"op":"bind","source":"/usr","dest":"/usr","readonly":true},{"op":"tmpfs","dest":"/tmp","sizeBytes":1048576},{"op":"finishRoot"}]"#
        );
        let back: Vec<SetupOp> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ops);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<Namespaces>(
            r#"{"user":true,"mount":true,"pid":true,"ipc":true,"uts":true,"net":true,"cgroup":true}"#,
        );
        assert!(err.is_err());
    }

    #[test]
    fn events_are_single_lines() {
        let line = LauncherEvent::Error {
            step: "mount /usr".into(),
            errno: Some(13),
            message: "a\nb".into(),
        }
        .to_line();
        assert_eq!(line.matches('\n').count(), 1);
        assert_eq!(
            line,
            "{\"event\":\"error\",\"step\":\"mount /usr\",\"errno\":13,\"message\":\"a\\nb\"}\n"
        );
    }
}
