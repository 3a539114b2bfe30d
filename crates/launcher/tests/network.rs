//! The network layer: a fresh namespace cannot reach the host's loopback,
//! the nft filter loads inside it (and fails closed), and AwaitEgress holds
//! the run until the supervisor's go-ahead. Traffic only ever goes to
//! loopback addresses.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use common::*;
use script_sandbox_spec::{LauncherEvent, Namespaces, SetupOp};

fn python() -> Option<PathBuf> {
    let p = which("python3");
    if p.is_none() {
        skip("python3 is not installed");
    }
    p
}

fn nft() -> Option<PathBuf> {
    let p = which("nft");
    if p.is_none() {
        skip("nft is not installed");
    }
    p
}

/// Connects to the host listener's port, then checks the namespace's own
/// loopback with a listener of its own.
const CONNECT_PROBE: &str = r#"
import socket, sys
port = int(sys.argv[1])
try:
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    print("host-reachable")
except OSError as e:
    print("host-unreachable")
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
socket.create_connection(srv.getsockname(), timeout=5).close()
print("own-loopback-ok")
"#;

#[test]
fn net_namespace_cuts_off_the_host_loopback() {
    let Some(python) = python() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let argv = [python.to_str().unwrap(), "-c", CONNECT_PROBE, &port];
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        // Control: on the host network the listener answers.
        let host_net = Namespaces {
            net: false,
            ..all_namespaces()
        };
        let out = launch(&env, &env.spec(host_net, vec![], process(&argv)));
        out.assert_exit(0);
        assert_eq!(
            out.stdout, "host-reachable\nown-loopback-ok\n",
            "{mode:?} control: {out:#?}"
        );

        let out = launch(
            &env,
            &env.spec(all_namespaces(), vec![SetupOp::LoopbackUp], process(&argv)),
        );
        out.assert_exit(0);
        assert_eq!(
            out.stdout, "host-unreachable\nown-loopback-ok\n",
            "{mode:?}: {out:#?}"
        );
    }
}

const RULESET: &str = "table inet sbtest_filter {
  chain out {
    type filter hook output priority 0; policy accept;
    tcp dport 7002 reject with tcp reset
  }
}
";

/// Listens on 7001 and 7002 inside the namespace and connects to both.
const PORTS_PROBE: &str = r#"
import socket
for port in (7001, 7002):
    srv = socket.socket()
    srv.bind(("127.0.0.1", port))
    srv.listen()
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        print(port, "open")
    except OSError:
        print(port, "blocked")
"#;

#[test]
fn nft_ruleset_is_loaded_inside_the_namespace() {
    let (Some(python), Some(nft)) = (python(), nft()) else {
        return;
    };
    let argv = [python.to_str().unwrap(), "-c", PORTS_PROBE];
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let setup = vec![
            SetupOp::LoopbackUp,
            SetupOp::NftRuleset {
                nft: nft.to_str().unwrap().into(),
                ruleset: RULESET.into(),
                table: "sbtest_filter".into(),
            },
        ];
        let out = launch(&env, &env.spec(all_namespaces(), setup, process(&argv)));
        out.assert_exit(0);
        assert_eq!(
            out.stdout, "7001 open\n7002 blocked\n",
            "{mode:?}: {out:#?}"
        );
    }
}

#[test]
fn bad_nft_ruleset_fails_closed() {
    let Some(nft) = nft() else { return };
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let scratch = Scratch::new(env.account);
        let marker = scratch.join("ran");
        let setup = vec![
            SetupOp::LoopbackUp,
            SetupOp::NftRuleset {
                nft: nft.to_str().unwrap().into(),
                ruleset: "table inet broken { this is not nft }\n".into(),
                table: "broken".into(),
            },
        ];
        let p = sh(&format!("touch {}", marker.display()));
        let out = launch(&env, &env.spec(all_namespaces(), setup, p));
        let (_, message) = out.assert_failed_at("nft broken");
        // nft's own diagnostics come back in the event.
        assert!(message.contains("syntax error"), "{mode:?}: {message}");
        assert!(
            !marker.exists(),
            "{mode:?}: the command ran without its filter"
        );
    }
}

fn egress_setup() -> Vec<SetupOp> {
    vec![SetupOp::LoopbackUp, SetupOp::AwaitEgress]
}

#[test]
fn await_egress_holds_the_run_until_the_go_ahead() {
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let scratch = Scratch::new(env.account);
        let marker = scratch.join("ran");
        let p = sh(&format!("touch {}", marker.display()));
        let mut waited = false;
        let mut hook = |ev: &LauncherEvent, h: &mut Handle| {
            if *ev == LauncherEvent::EgressWait {
                // The init is parked on the control pipe: the command has not
                // started, and does not start while we hold the byte back.
                assert!(!marker.exists());
                std::thread::sleep(Duration::from_millis(200));
                assert!(!marker.exists(), "the command started before the go-ahead");
                waited = true;
                h.go();
            }
        };
        let out = launch_with(
            &env,
            &env.spec(all_namespaces(), egress_setup(), p),
            Options {
                on_event: Some(&mut hook),
                ..Default::default()
            },
        );
        out.assert_exit(0);
        assert!(waited, "{mode:?}: no egressWait event: {out:#?}");
        assert!(marker.exists(), "{mode:?}");
        assert!(matches!(
            out.events[..],
            [
                LauncherEvent::Started { .. },
                LauncherEvent::EgressWait,
                LauncherEvent::Exited { .. }
            ]
        ));
    }
}

#[test]
fn await_egress_aborts_when_the_supervisor_gives_up() {
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let scratch = Scratch::new(env.account);
        let marker = scratch.join("ran");
        let p = sh(&format!("touch {}", marker.display()));
        let mut hook = |ev: &LauncherEvent, h: &mut Handle| {
            if *ev == LauncherEvent::EgressWait {
                h.close_control();
            }
        };
        let out = launch_with(
            &env,
            &env.spec(all_namespaces(), egress_setup(), p),
            Options {
                on_event: Some(&mut hook),
                ..Default::default()
            },
        );
        out.assert_failed_at("await egress");
        assert!(!marker.exists(), "{mode:?}: the command ran");
    }
}

#[test]
fn network_steps_need_a_network_namespace() {
    let Some(env) = env_for(Mode::Rootless) else {
        return;
    };
    let ns = Namespaces {
        net: false,
        ..all_namespaces()
    };
    let out = launch(
        &env,
        &env.spec(ns, vec![SetupOp::LoopbackUp], process(&["true"])),
    );
    out.assert_failed_at("spec");
}
