//! Resource limits, each proven by hitting it.

mod common;

use std::fs;
use std::process::Command;

use common::*;
use script_sandbox_spec::{Namespaces, Rlimit, RlimitResource, SetupOp};

fn limited(
    script: &str,
    cwd: &str,
    limits: &[(RlimitResource, u64)],
) -> script_sandbox_spec::ProcessSpec {
    let mut p = sh(script);
    p.cwd = Some(cwd.into());
    p.rlimits = limits
        .iter()
        .map(|&(resource, value)| Rlimit { resource, value })
        .collect();
    p
}

/// Mount + PID namespaces over the host tree, so the scratch dir is the cwd
/// and everything the command starts dies with it.
fn ns() -> Namespaces {
    Namespaces {
        net: false,
        ..all_namespaces()
    }
}

#[test]
fn nofile_is_applied() {
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let p = limited(
            "ulimit -n; ulimit -Hn",
            "/",
            &[(RlimitResource::Nofile, 64)],
        );
        let out = launch(&env, &env.spec(ns(), vec![], p));
        out.assert_exit(0);
        assert_eq!(out.stdout, "64\n64\n", "{mode:?}");
    }
}

#[test]
fn fsize_stops_writes_past_the_limit() {
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let scratch = Scratch::new(env.account);
        let p = limited(
            "head -c 100000 /dev/zero > big; echo rc=$?",
            scratch.str(),
            &[(RlimitResource::Fsize, 4096)],
        );
        let out = launch(&env, &env.spec(ns(), vec![], p));
        out.assert_exit(0);
        // head dies of SIGXFSZ (128 + 25) and the file stops at the limit.
        assert_eq!(out.stdout, "rc=153\n", "{mode:?}: {out:#?}");
        assert_eq!(
            fs::metadata(scratch.join("big")).unwrap().len(),
            4096,
            "{mode:?}"
        );
    }
}

#[test]
fn nproc_contains_a_fork_bomb() {
    // RLIMIT_NPROC binds per user namespace and uid: only meaningful (and
    // only planned) when the run has its own user namespace.
    for mode in USERNS_MODES {
        let Some(env) = env_for(mode) else { continue };
        // dash syntax; the outer shell sleeps while the bomb runs, then exits,
        // which kills the PID namespace (bomb included).
        let p = limited(
            "f(){ f|f& }; f; sleep 2; echo outer-done",
            "/",
            &[(RlimitResource::Nproc, 32)],
        );
        let setup = vec![SetupOp::Proc {
            dest: "/proc".into(),
        }];
        let out = launch(&env, &env.spec(ns(), setup, p));
        assert!(!out.timed_out, "{mode:?}: {out:#?}");
        assert!(out.exited().is_some(), "{mode:?}: {:?}", out.events);
        // Proof the bomb really ran into the cap (not a syntax error).
        assert!(
            out.stderr.contains("Cannot fork"),
            "{mode:?}: stderr {:?}",
            &out.stderr[..out.stderr.len().min(500)]
        );
        assert!(!out.stderr.contains("Syntax error"), "{mode:?}");
        // The supervisor side can still fork.
        assert!(Command::new("true").status().unwrap().success());
    }
}

#[test]
fn cpu_limit_kills_a_busy_loop() {
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let p = limited("while :; do :; done", "/", &[(RlimitResource::Cpu, 1)]);
        let out = launch(&env, &env.spec(ns(), vec![], p));
        assert!(!out.timed_out, "{mode:?}: {out:#?}");
        let signal = out.exited().and_then(|(_, s)| s);
        assert!(
            matches!(signal, Some(libc::SIGKILL) | Some(libc::SIGXCPU)),
            "{mode:?}: {out:#?}"
        );
    }
}
