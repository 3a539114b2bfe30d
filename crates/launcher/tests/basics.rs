//! The launcher's protocol: exit codes and signals come back as events, errors
//! name their step and stop the run before the command, and nothing but
//! stdio leaks into the command.

mod common;

use common::*;
use script_sandbox_spec::{LauncherEvent, Namespaces, SetupOp};

#[test]
fn exit_code_output_and_signal_are_reported() {
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let out = launch(
            &env,
            &env.spec(
                all_namespaces(),
                vec![],
                sh("echo out; echo err >&2; exit 3"),
            ),
        );
        out.assert_exit(3);
        assert_eq!(out.stdout, "out\n", "{mode:?}");
        assert_eq!(out.stderr, "err\n", "{mode:?}");
        assert!(
            matches!(out.events[0], LauncherEvent::Started { pid } if pid > 1),
            "{mode:?}: {out:#?}"
        );
        assert_eq!(out.events.len(), 2, "{mode:?}: {out:#?}");

        let out = launch(&env, &env.spec(all_namespaces(), vec![], sh("kill -9 $$")));
        assert_eq!(out.exited(), Some((None, Some(9))), "{mode:?}: {out:#?}");
        assert!(out.status.success(), "{mode:?}: {out:#?}");
    }
}

#[test]
fn without_namespaces_it_is_a_plain_fork() {
    // Root (no switch) and, when available, the unprivileged account.
    let mut envs = vec![];
    if is_root() {
        envs.push(Env {
            mode: Mode::RootUserns,
            run_as: None,
            account: current_account(),
        });
    }
    if let Some(env) = env_for(Mode::Rootless) {
        envs.push(env);
    }
    for env in envs {
        let mut spec = env.spec(
            Namespaces::default(),
            vec![],
            sh("echo $$ $(id -u); exit 7"),
        );
        spec.id_map = None;
        let out = launch(&env, &spec);
        out.assert_exit(7);
        let fields: Vec<u32> = out
            .stdout
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        // A host pid (not 1 or 2 of a fresh namespace) and the host uid.
        assert!(fields[0] > 2, "{out:#?}");
        let expected_uid = env.run_as.unwrap_or(current_account()).uid;
        assert_eq!(fields[1], expected_uid, "{out:#?}");
    }
}

#[test]
fn only_stdio_reaches_the_command() {
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        // dash keeps no fds of its own open for -c scripts, so its fd table
        // is exactly what it inherited. A fresh /proc (over the host's, no
        // new root) makes $$ meaningful in the PID namespace.
        let setup = vec![SetupOp::Proc {
            dest: "/proc".into(),
        }];
        let out = launch(
            &env,
            &env.spec(all_namespaces(), setup, sh("ls /proc/$$/fd")),
        );
        out.assert_exit(0);
        let fds: Vec<&str> = out.stdout.split_whitespace().collect();
        assert_eq!(fds, ["0", "1", "2"], "{mode:?}: {out:#?}");
    }
}

#[test]
fn environment_is_exactly_the_spec() {
    let Some(env) = env_for(Mode::Rootless) else {
        return;
    };
    let mut process = process(&["env"]);
    process.env.push(("SPECIAL".into(), "a b=c".into()));
    let out = launch(&env, &env.spec(all_namespaces(), vec![], process));
    out.assert_exit(0);
    assert_eq!(
        out.stdout,
        "PATH=/usr/local/bin:/usr/bin:/bin\nLANG=C\nSPECIAL=a b=c\n"
    );
}

#[test]
fn missing_command_is_an_exec_error() {
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let out = launch(
            &env,
            &env.spec(
                all_namespaces(),
                vec![],
                process(&["no-such-command-xyz", "arg"]),
            ),
        );
        let (errno, message) = out.assert_failed_at("exec");
        assert_eq!(errno, Some(libc::ENOENT), "{mode:?}");
        assert!(
            message.contains("cannot execute 'no-such-command-xyz'"),
            "{message}"
        );
    }
}

#[test]
fn missing_bind_source_stops_the_run() {
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let scratch = Scratch::new(env.account);
        let marker = scratch.join("ran");
        let mut setup = confined_setup(scratch.str());
        setup.insert(
            2,
            SetupOp::Bind {
                source: "/no/such/source-dir".into(),
                dest: "/opt/x".into(),
                readonly: true,
            },
        );
        let script = format!("touch {}", marker.display());
        let mut p = sh(&script);
        p.cwd = Some(scratch.str().into());
        let out = launch(&env, &env.spec(all_namespaces(), setup, p));
        let (errno, message) = out.assert_failed_at("bind /no/such/source-dir");
        assert_eq!(errno, Some(libc::ENOENT), "{mode:?}: {message}");
        assert!(!marker.exists(), "{mode:?}: the command ran");
    }
}

#[test]
fn bad_spec_is_a_spec_error() {
    let Some(env) = env_for(Mode::Rootless) else {
        return;
    };
    let dummy = env.spec(Namespaces::default(), vec![], process(&["true"]));
    let opts = Options {
        raw_spec: Some(b"{\"namespaces\": 42}".to_vec()),
        ..Default::default()
    };
    let out = launch_with(&env, &dummy, opts);
    let (_, message) = out.assert_failed_at("spec");
    assert!(message.contains("invalid launch spec"), "{message}");
    assert_eq!(out.started_pid(), None);

    // Mount steps without a mount namespace would change the host: refused.
    let mut spec = env.spec(
        Namespaces::default(),
        vec![SetupOp::Tmpfs {
            dest: "/tmp".into(),
            size_bytes: None,
        }],
        process(&["true"]),
    );
    spec.id_map = None;
    let out = launch(&env, &spec);
    out.assert_failed_at("spec");
}

#[test]
fn hostname_is_private() {
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let setup = vec![SetupOp::Hostname {
            name: "sandbox-host".into(),
        }];
        let out = launch(
            &env,
            &env.spec(all_namespaces(), setup, process(&["hostname"])),
        );
        out.assert_exit(0);
        assert_eq!(out.stdout, "sandbox-host\n", "{mode:?}");
    }
    // And the host's name did not change.
    assert_ne!(
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim(),
        "sandbox-host"
    );
}

#[test]
fn command_session_follows_the_pid_namespace() {
    let script = "echo $$ $(cut -d' ' -f5,6 /proc/$$/stat)";
    // SAFETY: no preconditions.
    let our_group = unsafe { libc::getpgrp() };
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        // Own PID namespace: the command leads its own session (no
        // controlling terminal shared with the supervisor).
        let setup = vec![SetupOp::Proc {
            dest: "/proc".into(),
        }];
        let out = launch(&env, &env.spec(all_namespaces(), setup, sh(script)));
        out.assert_exit(0);
        let f: Vec<i32> = out
            .stdout
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(f, [2, 2, 2], "{mode:?}: pid, pgrp, session");

        // No PID namespace: the command stays in the launcher's process
        // group, which is how the supervisor kills the whole run.
        let ns = Namespaces {
            pid: false,
            ..all_namespaces()
        };
        let out = launch(&env, &env.spec(ns, vec![], sh(script)));
        out.assert_exit(0);
        let f: Vec<i32> = out
            .stdout
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(f[1], our_group, "{mode:?}: {out:#?}");
    }
}
