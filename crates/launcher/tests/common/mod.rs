//! Test harness: run the real launcher binary with a `LaunchSpec` on fd 3,
//! a status pipe on fd 4 and a control pipe on fd 5, as root or as an
//! unprivileged account, and collect its output and events.
#![allow(dead_code)]

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use script_sandbox_spec::{
    IdMap, Ids, LaunchSpec, LauncherEvent, Namespaces, ProcessSpec, SetupOp,
};

pub const LAUNCHER: &str = env!("CARGO_BIN_EXE_script-sandbox-launcher");
pub const UNPRIVILEGED_USER: &str = "sbtest";

/// A host account the sandboxed command maps to or runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub fn lookup_user(name: &str) -> Option<Account> {
    let c = CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer into static storage or NULL; the
    // entry is read immediately.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: non-null passwd entry.
    unsafe {
        Some(Account {
            uid: (*pw).pw_uid,
            gid: (*pw).pw_gid,
        })
    }
}

pub fn current_account() -> Account {
    // SAFETY: no preconditions.
    unsafe {
        Account {
            uid: libc::geteuid(),
            gid: libc::getegid(),
        }
    }
}

/// Skip a test with a printed reason; with SANDBOX_MUST_WORK=1 the missing
/// primitive is a failure instead.
pub fn skip(reason: &str) {
    if std::env::var("SANDBOX_MUST_WORK").as_deref() == Ok("1") {
        panic!("SANDBOX_MUST_WORK=1 but: {reason}");
    }
    eprintln!("skipping: {reason}");
}

/// How a run is launched: the three ways a supervisor uses the launcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Root supervisor, own user namespace mapping in-namespace root to the
    /// unprivileged account.
    RootUserns,
    /// Root supervisor, no user namespace, drop to the unprivileged account.
    RootSwitch,
    /// Unprivileged supervisor (the `sbtest` account, or the current user
    /// when the tests themselves run unprivileged), own user namespace.
    Rootless,
}

pub const ALL_MODES: [Mode; 3] = [Mode::RootUserns, Mode::RootSwitch, Mode::Rootless];
/// Modes where the command is isolated enough for RLIMIT_NPROC (own user
/// namespace): NPROC counts per user namespace and uid.
pub const USERNS_MODES: [Mode; 2] = [Mode::RootUserns, Mode::Rootless];

/// Who runs the launcher, and the host account the command ends up as.
#[derive(Debug, Clone, Copy)]
pub struct Env {
    pub mode: Mode,
    /// `Some` when the launcher must be started as that account.
    pub run_as: Option<Account>,
    /// Host identity of the sandboxed command.
    pub account: Account,
}

/// Resolve `mode` on this host, or print why it is skipped.
pub fn env_for(mode: Mode) -> Option<Env> {
    match mode {
        Mode::RootUserns | Mode::RootSwitch => {
            if !is_root() {
                // Not a missing primitive: the suite is running unprivileged,
                // where the Rootless mode covers the same ground.
                eprintln!("skipping {mode:?}: tests are not running as root");
                return None;
            }
            let Some(account) = lookup_user(UNPRIVILEGED_USER) else {
                skip(&format!(
                    "{mode:?}: user {UNPRIVILEGED_USER} does not exist"
                ));
                return None;
            };
            let env = Env {
                mode,
                run_as: None,
                account,
            };
            if mode == Mode::RootUserns && !userns_works(&env) {
                return None;
            }
            Some(env)
        }
        Mode::Rootless => {
            let env = if is_root() {
                let Some(account) = lookup_user(UNPRIVILEGED_USER) else {
                    skip(&format!(
                        "Rootless: user {UNPRIVILEGED_USER} does not exist"
                    ));
                    return None;
                };
                Env {
                    mode,
                    run_as: Some(account),
                    account,
                }
            } else {
                Env {
                    mode,
                    run_as: None,
                    account: current_account(),
                }
            };
            if !userns_works(&env) {
                return None;
            }
            Some(env)
        }
    }
}

/// Probe (once per launcher identity and test binary) whether the launcher
/// can create a user namespace here.
fn userns_works(env: &Env) -> bool {
    static ROOT: OnceLock<Result<(), String>> = OnceLock::new();
    static USER: OnceLock<Result<(), String>> = OnceLock::new();
    let cell = if env.run_as.is_some() || !is_root() {
        &USER
    } else {
        &ROOT
    };
    let probe = cell.get_or_init(|| {
        let spec = env.spec(all_namespaces(), vec![], process(&["true"]));
        let out = launch(env, &spec);
        match out.error() {
            None if out.exited() == Some((Some(0), None)) => Ok(()),
            Some((step, _, msg)) => Err(format!("{step}: {msg}")),
            None => Err(format!("unexpected outcome {:?}", out.events)),
        }
    });
    match probe {
        Ok(()) => true,
        Err(why) => {
            skip(&format!(
                "{:?}: user namespaces unavailable ({why})",
                env.mode
            ));
            false
        }
    }
}

pub fn all_namespaces() -> Namespaces {
    Namespaces {
        user: true,
        mount: true,
        pid: true,
        ipc: true,
        uts: true,
        net: true,
    }
}

pub fn process(argv: &[&str]) -> ProcessSpec {
    ProcessSpec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: vec![
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("LANG".into(), "C".into()),
        ],
        cwd: None,
        rlimits: vec![],
        switch_to: None,
        landlock: None,
        seccomp: None,
    }
}

pub fn sh(script: &str) -> ProcessSpec {
    process(&["sh", "-c", script])
}

impl Env {
    /// The spec this mode's supervisor would send: the user namespace and id
    /// map, or the uid switch, filled in for the mode.
    pub fn spec(
        &self,
        mut namespaces: Namespaces,
        setup: Vec<SetupOp>,
        mut process: ProcessSpec,
    ) -> LaunchSpec {
        let mut id_map = None;
        match self.mode {
            Mode::RootSwitch => {
                namespaces.user = false;
                process.switch_to = Some(Ids {
                    uid: self.account.uid,
                    gid: self.account.gid,
                });
            }
            Mode::RootUserns | Mode::Rootless => {
                if namespaces.user {
                    id_map = Some(IdMap {
                        inside_uid: 0,
                        outside_uid: self.account.uid,
                        inside_gid: 0,
                        outside_gid: self.account.gid,
                    });
                }
            }
        }
        LaunchSpec {
            namespaces,
            id_map,
            clear_supplementary_groups: is_root() && self.run_as.is_none(),
            setup,
            process,
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name no other test (or test process) uses.
pub fn unique(tag: &str) -> String {
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A scratch dir under /tmp owned by the sandboxed account, removed on drop.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(owner: Account) -> Scratch {
        let path = std::env::temp_dir().join(unique("ss-launcher-test"));
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        if is_root() {
            chown(&path, Some(owner.uid), Some(owner.gid)).unwrap();
        }
        Scratch { path }
    }

    pub fn str(&self) -> &str {
        self.path.to_str().unwrap()
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The host directories a confined root shows read-only (those that exist).
pub fn system_dirs() -> Vec<&'static str> {
    ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"]
        .into_iter()
        .filter(|d| Path::new(d).exists())
        .collect()
}

/// A fully confined root like the supervisor's scratch-only plan.
pub fn confined_setup(scratch: &str) -> Vec<SetupOp> {
    let mut ops = vec![SetupOp::NewRoot];
    for dir in system_dirs() {
        ops.push(SetupOp::Bind {
            source: dir.into(),
            dest: dir.into(),
            readonly: true,
        });
    }
    ops.push(SetupOp::Tmpfs {
        dest: "/tmp".into(),
        size_bytes: Some(16 << 20),
    });
    ops.push(SetupOp::Bind {
        source: scratch.into(),
        dest: scratch.into(),
        readonly: false,
    });
    ops.push(SetupOp::Proc {
        dest: "/proc".into(),
    });
    ops.push(SetupOp::Dev {
        dest: "/dev".into(),
    });
    ops.push(SetupOp::FinishRoot);
    ops
}

/// What one launcher run produced.
#[derive(Debug)]
pub struct Outcome {
    pub events: Vec<LauncherEvent>,
    pub stdout: String,
    pub stderr: String,
    pub status: ExitStatus,
    pub timed_out: bool,
}

impl Outcome {
    pub fn exited(&self) -> Option<(Option<i32>, Option<i32>)> {
        self.events.iter().find_map(|e| match e {
            LauncherEvent::Exited { code, signal } => Some((*code, *signal)),
            _ => None,
        })
    }

    pub fn error(&self) -> Option<(&str, Option<i32>, &str)> {
        self.events.iter().find_map(|e| match e {
            LauncherEvent::Error {
                step,
                errno,
                message,
            } => Some((step.as_str(), *errno, message.as_str())),
            _ => None,
        })
    }

    pub fn started_pid(&self) -> Option<i32> {
        self.events.iter().find_map(|e| match e {
            LauncherEvent::Started { pid } => Some(*pid),
            _ => None,
        })
    }

    /// The command ran and exited with `code`, and nothing failed.
    pub fn assert_exit(&self, code: i32) {
        assert!(!self.timed_out, "run timed out: {self:#?}");
        assert_eq!(self.exited(), Some((Some(code), None)), "run: {self:#?}");
        assert!(self.error().is_none(), "unexpected error: {self:#?}");
        assert!(self.status.success(), "launcher status: {self:#?}");
    }

    /// The run failed at `step` before the command ran.
    pub fn assert_failed_at(&self, step: &str) -> (Option<i32>, &str) {
        assert!(!self.timed_out, "run timed out: {self:#?}");
        let Some((s, errno, message)) = self.error() else {
            panic!("expected an error at {step}: {self:#?}")
        };
        assert_eq!(s, step, "{self:#?}");
        assert_eq!(
            self.exited(),
            None,
            "the command must not have run: {self:#?}"
        );
        assert_eq!(self.status.code(), Some(1), "launcher status: {self:#?}");
        (errno, message)
    }
}

/// Handed to the event hook: the live run's control pipe and init pid.
pub struct Handle {
    control: Option<OwnedFd>,
    pub init_pid: Option<i32>,
}

impl Handle {
    /// Write the go-ahead byte the init waits for after `EgressWait`.
    pub fn go(&mut self) {
        let fd = self.control.as_ref().expect("control pipe already closed");
        let mut f = fs::File::from(fd.try_clone().unwrap());
        f.write_all(b"1").unwrap();
    }

    pub fn close_control(&mut self) {
        self.control = None;
    }

    /// Kill the whole run (its PID namespace, when it has one).
    pub fn kill_run(&self) {
        if let Some(pid) = self.init_pid {
            // SAFETY: sending a signal.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

type Hook<'a> = &'a mut dyn FnMut(&LauncherEvent, &mut Handle);

pub struct Options<'a> {
    /// Safety net only: a run that takes this long is killed and reported.
    pub timeout: Duration,
    pub on_event: Option<Hook<'a>>,
    /// Raw bytes for fd 3 instead of the serialized spec.
    pub raw_spec: Option<Vec<u8>>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(40),
            on_event: None,
            raw_spec: None,
        }
    }
}

pub fn launch(env: &Env, spec: &LaunchSpec) -> Outcome {
    launch_with(env, spec, Options::default())
}

fn check(ret: libc::c_int, what: &str) -> libc::c_int {
    assert!(ret >= 0, "{what}: {}", std::io::Error::last_os_error());
    ret
}

/// Move `fd` to a number >= 10 (so the dup2 onto 3..5 in the child cannot
/// clobber another source fd), close-on-exec.
fn high(fd: RawFd) -> OwnedFd {
    // SAFETY: duplicating an fd we own, then closing the original.
    unsafe {
        let h = check(
            libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10),
            "F_DUPFD_CLOEXEC",
        );
        libc::close(fd);
        OwnedFd::from_raw_fd(h)
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the array.
    check(
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) },
        "pipe2",
    );
    (high(fds[0]), high(fds[1]))
}

/// A copy of the launcher the unprivileged account can execute (the cargo
/// target dir may not be reachable for it).
struct StagedBinary {
    dir: PathBuf,
    path: PathBuf,
}

impl StagedBinary {
    fn new() -> StagedBinary {
        let dir = std::env::temp_dir().join(unique("ss-launcher-bin"));
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.join("script-sandbox-launcher");
        fs::copy(LAUNCHER, &path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        StagedBinary { dir, path }
    }
}

impl Drop for StagedBinary {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub fn launch_with(env: &Env, spec: &LaunchSpec, mut opts: Options) -> Outcome {
    let spec_bytes = opts
        .raw_spec
        .take()
        .unwrap_or_else(|| serde_json::to_vec(spec).unwrap());
    // SAFETY: memfd_create with a static name.
    let memfd = high(check(
        unsafe { libc::memfd_create(c"spec".as_ptr(), libc::MFD_CLOEXEC) },
        "memfd_create",
    ));
    fs::File::from(memfd.try_clone().unwrap())
        .write_all(&spec_bytes)
        .unwrap();
    let (status_r, status_w) = pipe();
    let (control_r, control_w) = pipe();

    let staged = env.run_as.map(|_| StagedBinary::new());
    let binary = staged
        .as_ref()
        .map(|s| s.path.clone())
        .unwrap_or_else(|| PathBuf::from(LAUNCHER));
    let mut cmd = Command::new(&binary);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear();
    if let Some(acct) = env.run_as {
        cmd.uid(acct.uid).gid(acct.gid);
    }
    let (spec_fd, st_fd, ctl_fd) = (
        memfd.as_raw_fd(),
        status_w.as_raw_fd(),
        control_r.as_raw_fd(),
    );
    // SAFETY: only dup2 (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for (from, to) in [(spec_fd, 3), (st_fd, 4), (ctl_fd, 5)] {
                if libc::dup2(from, to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    // A freshly copied binary can be briefly "busy": another test thread may
    // be between fork and exec while still holding the copy's write fd.
    let mut attempts = 0;
    let mut child = loop {
        match cmd.spawn() {
            Ok(c) => break c,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 100 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("spawn launcher: {e}"),
        }
    };
    drop((memfd, status_w, control_r));
    let mut handle = Handle {
        control: Some(control_w),
        init_pid: None,
    };

    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    // (fd, bytes, still open)
    let mut streams: Vec<(RawFd, Vec<u8>, bool)> = vec![
        (stdout.as_raw_fd(), vec![], true),
        (stderr.as_raw_fd(), vec![], true),
        (status_r.as_raw_fd(), vec![], true),
    ];
    let mut events = Vec::new();
    let mut parsed_upto = 0;
    let deadline = Instant::now() + opts.timeout;
    let mut timed_out = false;
    while streams.iter().any(|s| s.2) {
        if Instant::now() > deadline {
            timed_out = true;
            handle.kill_run();
            let _ = child.kill();
            break;
        }
        let mut pfds: Vec<libc::pollfd> = streams
            .iter()
            .filter(|s| s.2)
            .map(|s| libc::pollfd {
                fd: s.0,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: polling our own fds.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 100) };
        if n <= 0 {
            continue;
        }
        for p in pfds.iter().filter(|p| p.revents != 0) {
            let s = streams.iter_mut().find(|s| s.0 == p.fd).unwrap();
            let mut buf = [0u8; 65536];
            // SAFETY: reading into a local buffer.
            let r = unsafe { libc::read(p.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                s.2 = false;
            } else {
                s.1.extend_from_slice(&buf[..r as usize]);
            }
        }
        // Deliver complete event lines as they arrive.
        while let Some(pos) = streams[2].1[parsed_upto..].iter().position(|&b| b == b'\n') {
            let line = streams[2].1[parsed_upto..parsed_upto + pos].to_vec();
            parsed_upto += pos + 1;
            let ev: LauncherEvent = serde_json::from_slice(&line).unwrap_or_else(|e| {
                panic!("bad event line {:?}: {e}", String::from_utf8_lossy(&line))
            });
            if let LauncherEvent::Started { pid } = ev {
                handle.init_pid = Some(pid);
            }
            if let Some(hook) = opts.on_event.as_mut() {
                hook(&ev, &mut handle);
            }
            events.push(ev);
        }
    }
    let status = child.wait().unwrap();
    drop(staged);
    Outcome {
        events,
        stdout: String::from_utf8_lossy(&streams[0].1).into_owned(),
        stderr: String::from_utf8_lossy(&streams[1].1).into_owned(),
        status,
        timed_out,
    }
}

/// Host pids whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<i32> {
    let mut found = vec![];
    let me = std::process::id() as i32;
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(cmd) = fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(marker) {
                found.push(pid);
            }
        }
    }
    found
}

/// Path of a host tool, if installed in a standard place.
pub fn which(tool: &str) -> Option<PathBuf> {
    [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]
    .iter()
    .map(|d| Path::new(d).join(tool))
    .find(|p| p.exists())
}

/// `sleep` argument that doubles as a unique marker in /proc/*/cmdline.
pub fn sleep_marker(seconds: u32) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!(
        "{seconds}.{:05}{:04}1",
        std::process::id() % 100_000,
        n % 10_000
    )
}
