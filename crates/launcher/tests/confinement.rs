//! Hostile checks from inside the sandbox: the confined root, the PID
//! namespace, the privilege drop, seccomp and Landlock, each asserted by
//! trying the escape.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use script_sandbox_spec::{
    IdMap, Ids, LandlockRules, LauncherEvent, Namespaces, SeccompProfile, SetupOp,
};

const PROBES: &str = r#"
echo pid: $$
cat /etc/shadow >/dev/null 2>&1 && echo LEAK-shadow-readable
ls /root >/dev/null 2>&1 && echo LEAK-root-visible
ls /home >/dev/null 2>&1 && echo LEAK-home-visible
touch /usr/x 2>/dev/null && echo LEAK-usr-writable
touch /x 2>/dev/null && echo LEAK-root-writable
touch /etc/x 2>/dev/null && echo LEAK-etc-writable
touch /ro-view/y 2>/dev/null && echo LEAK-ro-bind-writable
echo data > written.txt && echo scratch-ok
echo tmp > /tmp/t && echo tmp-ok
echo root: $(ls -A / | sort)
grep -E '^(NoNewPrivs|CapPrm|CapEff|CapBnd|CapAmb|Seccomp):' /proc/self/status
"#;

fn status_field<'a>(out: &'a str, field: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {field} in {out}"))
}

#[test]
fn confined_root_shows_only_the_plan() {
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let scratch = Scratch::new(env.account);
        // Owned by the command's account: only the read-only flag stops writes.
        let ro_view = Scratch::new(env.account);
        let mut setup = confined_setup(scratch.str());
        let at = setup.len() - 1;
        setup.insert(
            at,
            SetupOp::Bind {
                source: ro_view.str().into(),
                dest: "/ro-view".into(),
                readonly: true,
            },
        );
        let mut p = sh(PROBES);
        p.cwd = Some(scratch.str().into());
        p.seccomp = Some(SeccompProfile::default());
        let out = launch(&env, &env.spec(all_namespaces(), setup, p));
        out.assert_exit(0);
        let so = &out.stdout;
        assert!(!so.contains("LEAK"), "{mode:?}: {out:#?}");
        assert!(
            so.contains("scratch-ok") && so.contains("tmp-ok"),
            "{mode:?}: {out:#?}"
        );
        // Written in the sandbox, visible on the host.
        assert_eq!(
            fs::read_to_string(scratch.join("written.txt")).unwrap(),
            "data\n",
            "{mode:?}"
        );
        // The root holds exactly the planned entries; the parked host tree is gone.
        let mut expected: Vec<&str> = system_dirs().iter().map(|d| &d[1..]).collect();
        expected.extend(["dev", "proc", "ro-view", "tmp"]);
        expected.sort();
        assert_eq!(status_field(so, "root"), expected.join(" "), "{mode:?}");
        assert_eq!(status_field(so, "pid"), "2", "{mode:?}: PID namespace");
        assert_eq!(status_field(so, "NoNewPrivs"), "1", "{mode:?}");
        for caps in ["CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(
                status_field(so, caps),
                "0000000000000000",
                "{mode:?}: {caps}"
            );
        }
        assert_eq!(status_field(so, "Seccomp"), "2", "{mode:?}");
    }
}

#[test]
fn pid_namespace_takes_survivors_down() {
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let marker = sleep_marker(1000);
        let script = format!("sleep {marker} & echo started=$!");
        let setup = vec![SetupOp::Proc {
            dest: "/proc".into(),
        }];
        let out = launch(&env, &env.spec(all_namespaces(), setup, sh(&script)));
        out.assert_exit(0);
        assert!(out.stdout.starts_with("started="), "{mode:?}: {out:#?}");
        assert_eq!(
            processes_with(&marker),
            Vec::<i32>::new(),
            "{mode:?}: background sleep survived"
        );
    }
}

/// Find the running `sleep <marker>` (after its exec, not the shell that
/// mentions it) and read its host uid line.
fn host_uid_of(marker: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for pid in processes_with(marker) {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if !cmdline.starts_with(b"sleep\0") {
                continue;
            }
            if let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) {
                if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
                    return line
                        .split_whitespace()
                        .skip(1)
                        .collect::<Vec<_>>()
                        .join(" ");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("command with marker {marker} never appeared");
}

#[test]
fn root_supervisor_drop_is_real_on_the_host() {
    if !is_root() {
        eprintln!("skipping: needs a root supervisor");
        return;
    }
    let Some(account) = lookup_user(UNPRIVILEGED_USER) else {
        skip("user sbtest does not exist");
        return;
    };
    let n = account.uid;
    // With a user namespace mapping n to n, and without one: either way the
    // command must be uid n on the host, not 0, with no confined root.
    let with_userns = Namespaces {
        user: true,
        mount: true,
        pid: true,
        ..Default::default()
    };
    let without = Namespaces {
        user: false,
        ..with_userns
    };
    for ns in [with_userns, without] {
        if ns.user && env_for(Mode::RootUserns).is_none() {
            continue;
        }
        let env = Env {
            mode: Mode::RootUserns,
            run_as: None,
            account,
        };
        let marker = sleep_marker(1000);
        let mut p = sh(&format!(
            "id -u; cat /etc/shadow >/dev/null 2>&1 && echo LEAK-shadow-readable; exec sleep {marker}"
        ));
        p.switch_to = Some(Ids {
            uid: n,
            gid: account.gid,
        });
        let spec = script_sandbox_spec::LaunchSpec {
            namespaces: ns,
            id_map: ns.user.then_some(IdMap {
                inside_uid: n,
                outside_uid: n,
                inside_gid: account.gid,
                outside_gid: account.gid,
            }),
            clear_supplementary_groups: true,
            setup: vec![],
            process: p,
        };
        let mut host_uid = None;
        let mut hook = |ev: &LauncherEvent, h: &mut Handle| {
            if let LauncherEvent::Started { .. } = ev {
                host_uid = Some(host_uid_of(&marker));
                h.kill_run();
            }
        };
        let out = launch_with(
            &env,
            &spec,
            Options {
                on_event: Some(&mut hook),
                ..Default::default()
            },
        );
        assert!(!out.timed_out, "{out:#?}");
        assert_eq!(
            out.stdout,
            format!("{n}\n"),
            "user ns {}: {out:#?}",
            ns.user
        );
        assert_eq!(
            host_uid.unwrap(),
            format!("{n} {n} {n} {n}"),
            "user ns {}",
            ns.user
        );
    }
}

#[test]
fn seccomp_refuses_new_namespaces() {
    let Some(unshare) = which("unshare") else {
        skip("unshare(1) is not installed");
        return;
    };
    let unshare = unshare.to_str().unwrap().to_string();
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let script = format!(
            "{unshare} -U true && echo unshare-ok || echo unshare-refused; grep '^Seccomp:' /proc/self/status"
        );
        let setup = vec![SetupOp::Proc {
            dest: "/proc".into(),
        }];
        // Control: without the filter, an unprivileged nested user namespace works.
        let out = launch(
            &env,
            &env.spec(all_namespaces(), setup.clone(), sh(&script)),
        );
        out.assert_exit(0);
        assert!(
            out.stdout.contains("unshare-ok"),
            "{mode:?} control: {out:#?}"
        );

        let mut p = sh(&script);
        p.seccomp = Some(SeccompProfile::default());
        let out = launch(&env, &env.spec(all_namespaces(), setup, p));
        out.assert_exit(0);
        assert!(out.stdout.contains("unshare-refused"), "{mode:?}: {out:#?}");
        assert!(out.stdout.contains("Seccomp:\t2"), "{mode:?}: {out:#?}");
    }
}

const SOCKET_PROBE: &str = r#"
import socket
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    print("inet-allowed")
except OSError as e:
    print("inet-refused", e.errno)
try:
    socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    print("inet6-allowed")
except OSError as e:
    print("inet6-refused", e.errno)
socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
print("unix-ok")
"#;

#[test]
fn seccomp_deny_inet_sockets_without_a_net_namespace() {
    let Some(python) = which("python3") else {
        skip("python3 is not installed");
        return;
    };
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let ns = Namespaces {
            net: false,
            ..all_namespaces()
        };
        let mut p = process(&[python.to_str().unwrap(), "-c", SOCKET_PROBE]);
        p.seccomp = Some(SeccompProfile {
            deny_inet_sockets: true,
            ..Default::default()
        });
        let out = launch(&env, &env.spec(ns, vec![], p));
        out.assert_exit(0);
        assert_eq!(
            out.stdout, "inet-refused 13\ninet6-refused 13\nunix-ok\n",
            "{mode:?}: {out:#?}"
        );
    }
}

const UNIX_AND_SESSION_PROBE: &str = r#"
import os, socket
try:
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    print("unix-open")
except OSError as e:
    print("unix-refused", e.errno)
a, b = socket.socketpair()
print("socketpair-ok", flush=True)
# Each in a fresh child, so neither depends on the other's effect.
for name, call in (("setsid", os.setsid), ("setpgid", lambda: os.setpgid(0, 0))):
    pid = os.fork()
    if pid == 0:
        try:
            call()
            os._exit(0)
        except OSError as e:
            os._exit(e.errno)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    print(f"{name}-ok" if code == 0 else f"{name}-refused {code}")
"#;

#[test]
fn seccomp_keeps_the_process_group_and_refuses_unix_sockets_without_namespaces() {
    let Some(python) = which("python3") else {
        skip("python3 is not installed");
        return;
    };
    let Some(env) = env_for(Mode::Rootless).or_else(|| env_for(Mode::RootSwitch)) else {
        return;
    };
    let run = |profile: Option<SeccompProfile>| {
        let mut p = process(&[python.to_str().unwrap(), "-c", UNIX_AND_SESSION_PROBE]);
        p.seccomp = profile;
        let mut spec = env.spec(Namespaces::default(), vec![], p);
        spec.id_map = None;
        launch(&env, &spec)
    };
    let open = run(None);
    open.assert_exit(0);
    assert_eq!(
        open.stdout, "unix-open\nsocketpair-ok\nsetsid-ok\nsetpgid-ok\n",
        "{open:#?}"
    );
    let closed = run(Some(SeccompProfile {
        deny_unix_sockets: true,
        keep_process_group: true,
        ..Default::default()
    }));
    closed.assert_exit(0);
    assert_eq!(
        closed.stdout, "unix-refused 13\nsocketpair-ok\nsetsid-refused 1\nsetpgid-refused 1\n",
        "{closed:#?}"
    );
}

#[test]
fn landlock_fences_the_host_filesystem() {
    // The layer used where no namespaces can be made: no namespaces at all,
    // only Landlock (+ no_new_privs), as the unprivileged account.
    let Some(env) = env_for(Mode::Rootless).or_else(|| env_for(Mode::RootSwitch)) else {
        return;
    };
    let scratch = Scratch::new(env.account);
    let outside = Scratch::new(env.account);
    fs::write(outside.join("secret"), "s").unwrap();
    let mut p = sh(&format!(
        "cat {o}/secret >/dev/null 2>&1 && echo LEAK-read; touch {o}/new 2>/dev/null && echo LEAK-write; \
         echo x > inside && cat inside && ls /usr >/dev/null && echo usr-ok",
        o = outside.str()
    ));
    p.cwd = Some(scratch.str().into());
    let read_only: Vec<String> = system_dirs().iter().map(|s| s.to_string()).collect();
    let read_write = vec![scratch.str().into(), "/dev/null".into()];
    p.landlock = Some(LandlockRules {
        read_only,
        read_write,
        required: true,
    });
    let mut spec = env.spec(Namespaces::default(), vec![], p);
    spec.id_map = None;
    let out = launch(&env, &spec);
    if let Some(("landlock", _, msg)) = out.error() {
        skip(&format!("Landlock unavailable: {msg}"));
        return;
    }
    out.assert_exit(0);
    assert_eq!(out.stdout, "x\nusr-ok\n", "{out:#?}");
    assert!(!Path::new(&outside.join("new")).exists());
}

/// A tmpfs mounted on the host for the duration of a test.
struct HostMount(std::path::PathBuf);

impl HostMount {
    fn tmpfs(at: std::path::PathBuf) -> HostMount {
        fs::create_dir(&at).unwrap();
        let target = std::ffi::CString::new(at.to_str().unwrap()).unwrap();
        // SAFETY: mount with valid C strings.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                c"mode=0777".as_ptr().cast(),
            )
        };
        assert_eq!(r, 0, "mount tmpfs: {}", std::io::Error::last_os_error());
        HostMount(at)
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let target = std::ffi::CString::new(self.0.to_str().unwrap()).unwrap();
        // SAFETY: unmounting the tmpfs this guard mounted.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

#[test]
fn readonly_bind_covers_submounts() {
    if !is_root() {
        eprintln!("skipping: creating a host submount needs root");
        return;
    }
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let source = Scratch::new(env.account);
        let _sub = HostMount::tmpfs(source.join("sub"));
        for readonly in [false, true] {
            let mut setup = vec![SetupOp::NewRoot];
            for dir in system_dirs() {
                setup.push(SetupOp::Bind {
                    source: dir.into(),
                    dest: dir.into(),
                    readonly: true,
                });
            }
            setup.push(SetupOp::Bind {
                source: source.str().into(),
                dest: "/view".into(),
                readonly,
            });
            setup.push(SetupOp::Dev {
                dest: "/dev".into(),
            });
            setup.push(SetupOp::FinishRoot);
            let p = sh("touch /view/top 2>/dev/null && echo top-written; touch /view/sub/inner 2>/dev/null && echo sub-written; true");
            let out = launch(&env, &env.spec(all_namespaces(), setup, p));
            out.assert_exit(0);
            if readonly {
                assert_eq!(out.stdout, "", "{mode:?}: {out:#?}");
                assert!(!source.join("sub/inner").exists(), "{mode:?}");
            } else {
                // Control: the same binds writable, so the probes can succeed.
                assert_eq!(
                    out.stdout, "top-written\nsub-written\n",
                    "{mode:?}: {out:#?}"
                );
                fs::remove_file(source.join("top")).unwrap();
                fs::remove_file(source.join("sub/inner")).unwrap();
            }
        }
    }
}

/// Makes a fresh pty its controlling terminal and tries to fake input on it.
const TIOCSTI_PROBE: &str = r#"
import os, fcntl, termios
master, slave = os.openpty()
name = os.ttyname(slave)
os.close(slave)
pid = os.fork()
if pid == 0:
    os.setsid()
    fd = os.open(name, os.O_RDWR)
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b"x")
        os.write(1, b"tiocsti-allowed\n")
    except OSError as e:
        os.write(1, ("tiocsti-refused %d\n" % e.errno).encode())
    os._exit(0)
os.waitpid(pid, 0)
"#;

#[test]
fn seccomp_refuses_terminal_injection() {
    let Some(python) = which("python3") else {
        skip("python3 is not installed");
        return;
    };
    for mode in ALL_MODES {
        let Some(env) = env_for(mode) else { continue };
        let scratch = Scratch::new(env.account);
        let mut p = process(&[python.to_str().unwrap(), "-c", TIOCSTI_PROBE]);
        // Control: the private devpts works and, without the filter, the
        // ioctl is allowed on one's own controlling terminal.
        let out = launch(
            &env,
            &env.spec(all_namespaces(), confined_setup(scratch.str()), p.clone()),
        );
        out.assert_exit(0);
        if out.stdout != "tiocsti-allowed\n" {
            eprintln!(
                "skipping {mode:?}: TIOCSTI is disabled on this kernel ({})",
                out.stdout.trim()
            );
            continue;
        }
        p.seccomp = Some(SeccompProfile::default());
        let out = launch(
            &env,
            &env.spec(all_namespaces(), confined_setup(scratch.str()), p),
        );
        out.assert_exit(0);
        assert_eq!(out.stdout, "tiocsti-refused 1\n", "{mode:?}: {out:#?}");
    }
}
