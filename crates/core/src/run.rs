//! The run supervisor: spawns the launcher (or, with no engine, the command
//! itself), feeds stdin, captures output against one shared byte budget,
//! enforces the timeout and abort by killing the whole tree, plumbs egress
//! when the launcher asks for it, and reaps with `wait4` for the usage report.
//!
//! Everything here is async and non-blocking: many runs share one tokio
//! runtime, and nothing waits on the caller's thread.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use script_sandbox_spec::{LauncherEvent, CONTROL_FD, SPEC_FD, STATUS_FD};
use serde::Serialize;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::watch;

use crate::capabilities::SandboxCapabilities;
use crate::egress::{self, EgressHandle};
use crate::output::truncate_captured_output;
use crate::plan::{
    build_spawn_hardening, FilesystemInputs, HardeningInput, LaunchPlan, RealHostPaths,
    SpawnHardening,
};
use crate::policy::SandboxPolicy;
use crate::report::EffectiveSandbox;
use crate::scratch::ScratchDir;
use crate::spawn::{self, high_fd, SpawnSpec};

/// One run, fully resolved by the caller (policy chosen, caps detected).
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub command: Vec<String>,
    pub policy: SandboxPolicy,
    pub caps: SandboxCapabilities,
    pub timeout: Duration,
    pub cwd: Option<String>,
    /// The safe vars from the supervisor env.
    pub base_env: BTreeMap<String, String>,
    pub env_overrides: Vec<(String, String)>,
    /// `None`: the child reads end-of-file at once.
    pub stdin: Option<Vec<u8>>,
    /// Caller-supplied scratch dir: used as is and never deleted.
    pub scratch_dir: Option<String>,
    pub node_modules_dir: Option<String>,
    pub interpreter_path: Option<String>,
    pub applies_node_memory_cap: bool,
}

/// Receives output chunks as they are captured (only bytes within budget).
pub trait OutputSink: Send + Sync {
    fn stdout(&self, chunk: &[u8]);
    fn stderr(&self, chunk: &[u8]);
}

/// A sink that drops everything.
pub struct NoSink;

impl OutputSink for NoSink {
    fn stdout(&self, _: &[u8]) {}
    fn stderr(&self, _: &[u8]) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceUsage {
    pub user_cpu_ms: f64,
    pub system_cpu_ms: f64,
    pub max_rss_bytes: f64,
}

/// Why the sandbox could not be built (reported by the launcher or the supervisor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupFailure {
    pub step: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    pub exit_code: i32,
    pub signal: Option<String>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub aborted: bool,
    pub output_truncated: bool,
    pub duration_ms: f64,
    pub resource_usage: Option<ResourceUsage>,
    pub sandbox: EffectiveSandbox,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_error: Option<SetupFailure>,
    /// The egress ruleset as listed inside the run's namespace after loading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_ruleset: Option<String>,
}

impl RunResult {
    /// The sandbox could not be built: the command never ran.
    fn setup_failed(sandbox: EffectiveSandbox, step: &str, err: &io::Error) -> Self {
        let mut result = RunResult::not_started(
            sandbox,
            format!("sandbox setup failed: {step}: {err}"),
            false,
        );
        result.setup_error = Some(SetupFailure {
            step: step.into(),
            errno: err.raw_os_error(),
            message: err.to_string(),
        });
        result
    }

    /// A run that never started: nothing spawned, nothing enforced.
    fn not_started(sandbox: EffectiveSandbox, stderr: String, aborted: bool) -> Self {
        RunResult {
            exit_code: -1,
            signal: None,
            stdout: String::new(),
            stderr,
            timed_out: false,
            aborted,
            output_truncated: false,
            duration_ms: 0.0,
            resource_usage: None,
            sandbox,
            setup_error: None,
            egress_ruleset: None,
        }
    }
}

/// A bad option, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid option `{field}`: {message}")]
pub struct OptionError {
    pub field: String,
    pub message: String,
}

fn option_error(field: &str, message: &str) -> OptionError {
    OptionError {
        field: field.to_string(),
        message: message.to_string(),
    }
}

/// Checks the parts of a request the type system cannot.
pub fn validate_request(req: &RunRequest) -> Result<(), OptionError> {
    if req.command.is_empty() {
        return Err(option_error(
            "command",
            "must be a non-empty array of strings",
        ));
    }
    if req.command[0].is_empty() {
        return Err(option_error("command", "command[0] must not be empty"));
    }
    for (i, arg) in req.command.iter().enumerate() {
        if arg.contains('\0') {
            return Err(option_error(
                "command",
                &format!("command[{i}] contains a NUL byte"),
            ));
        }
    }
    for (field, value) in [
        ("cwd", &req.cwd),
        ("scratchDir", &req.scratch_dir),
        ("nodeModulesDir", &req.node_modules_dir),
        ("interpreterPath", &req.interpreter_path),
    ] {
        if let Some(path) = value {
            if !path.starts_with('/') {
                return Err(option_error(field, "must be an absolute path"));
            }
            if path.contains('\0') {
                return Err(option_error(field, "contains a NUL byte"));
            }
        }
    }
    for (key, value) in &req.env_overrides {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(option_error(
                "env",
                &format!("invalid variable name {key:?}"),
            ));
        }
        if value.contains('\0') {
            return Err(option_error(
                "env",
                &format!("value of {key} contains a NUL byte"),
            ));
        }
    }
    Ok(())
}

/// Runs one command to completion. Never panics; a refusal, a setup failure,
/// a timeout and an abort all resolve with `exit_code: -1` and a report.
pub async fn run_sandboxed(
    req: RunRequest,
    sink: &dyn OutputSink,
    mut cancel: watch::Receiver<bool>,
) -> RunResult {
    let platform = req.caps.platform.as_str();
    if *cancel.borrow() {
        let report = EffectiveSandbox::refused(req.policy.clone(), Vec::new(), platform);
        return RunResult::not_started(report, String::new(), true);
    }

    // A managed scratch dir gets its name now and is created only once the
    // plan is accepted, so a refused run leaves nothing behind.
    let managed_scratch = match &req.scratch_dir {
        Some(_) => None,
        None => Some(ScratchDir::reserve()),
    };
    let scratch_path = req
        .scratch_dir
        .clone()
        .or_else(|| managed_scratch.as_ref().map(|s| s.path().to_string()));

    let hardening = {
        let input = HardeningInput {
            policy: &req.policy,
            caps: &req.caps,
            base_env: req.base_env.clone(),
            env_overrides: req.env_overrides.clone(),
            filesystem: FilesystemInputs {
                scratch_dir: scratch_path.clone(),
                node_modules_dir: req.node_modules_dir.clone(),
                interpreter_path: req.interpreter_path.clone(),
            },
            nft_ruleset_path: None,
            rootless_launcher_path: None,
            applies_node_memory_cap: req.applies_node_memory_cap,
            supervisor_ids: crate::capabilities::supervisor_ids(),
            paths: &RealHostPaths,
        };
        build_spawn_hardening(&input)
    };
    let hardening = match hardening {
        Ok(h) => h,
        Err(unavailable) => {
            let message = unavailable.to_string();
            let report =
                EffectiveSandbox::refused(req.policy.clone(), unavailable.downgrades, platform);
            return RunResult::not_started(report, message, false);
        }
    };

    let mut managed_scratch = managed_scratch;
    if let Some(scratch) = managed_scratch.as_mut() {
        let owner = hardening
            .launch
            .as_ref()
            .and_then(|l| l.switch_to)
            .map(|ids| (ids.uid, ids.gid));
        if let Err(err) = scratch.create(owner) {
            return RunResult::setup_failed(
                EffectiveSandbox::refused(req.policy.clone(), Vec::new(), platform),
                "scratch dir",
                &err,
            );
        }
    }

    let result = supervise(&req, &hardening, scratch_path.as_deref(), sink, &mut cancel).await;
    if let Some(scratch) = managed_scratch {
        scratch.remove();
    }
    result
}

/// The final env for the child, in a stable order.
fn child_env(req: &RunRequest, hardening: &SpawnHardening) -> Vec<(String, String)> {
    let mut env = hardening.env.clone();
    if req.applies_node_memory_cap {
        if let Some(extra) = &hardening.node_memory_flag_env {
            env.extend(extra.clone());
        }
    }
    env.into_iter().collect()
}

async fn supervise(
    req: &RunRequest,
    hardening: &SpawnHardening,
    scratch: Option<&str>,
    sink: &dyn OutputSink,
    cancel: &mut watch::Receiver<bool>,
) -> RunResult {
    let started = Instant::now();
    let env = child_env(req, hardening);
    let spawned = match &hardening.launch {
        Some(plan) => spawn_launcher(plan, req, env, scratch),
        None => spawn_direct(req, env, scratch),
    };
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => return RunResult::setup_failed(refused_like(hardening), "spawn", &err),
    };
    if let (Some(data), Some(mut stdin)) = (req.stdin.clone(), child.stdin.take()) {
        tokio::spawn(async move {
            // The child may exit without reading: a broken pipe is fine.
            let _ = stdin.write_all(&data).await;
        });
    }

    let outcome = watch_run(&mut child, hardening, req, sink, cancel).await;
    let usage = child.reap();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;

    let cap = hardening.max_output_bytes;
    let (mut stdout, mut stderr) = (decode(outcome.stdout), decode(outcome.stderr));
    let mut trimmed = false;
    // The capture already held both streams to one budget; only invalid
    // UTF-8 (replaced by the 3-byte U+FFFD) can push the text past the cap.
    if cap.is_some_and(|c| (stdout.len() + stderr.len()) as u64 > c) {
        (stdout, stderr, trimmed) = truncate_captured_output(&stdout, &stderr, cap);
    }
    let mut result = RunResult {
        exit_code: -1,
        signal: None,
        stdout,
        stderr,
        timed_out: outcome.timed_out,
        aborted: outcome.aborted,
        output_truncated: outcome.truncated || trimmed,
        duration_ms,
        resource_usage: usage.map(|(_, u)| u),
        sandbox: hardening.effective.clone(),
        setup_error: None,
        egress_ruleset: outcome.egress_ruleset,
    };

    if let Some(failure) = outcome.setup_error {
        result.sandbox = refused_like(hardening);
        if !result.stderr.is_empty() && !result.stderr.ends_with('\n') {
            result.stderr.push('\n');
        }
        result.stderr.push_str(&format!(
            "sandbox setup failed: {}: {}",
            failure.step, failure.message
        ));
        result.setup_error = Some(failure);
        return result;
    }
    if outcome.timed_out || outcome.aborted {
        result.signal = Some("SIGKILL".into());
        return result;
    }
    // The command's own status: from the launcher's report, else from wait4
    // (direct runs, or a launcher that died before reporting).
    let status = outcome.exited.or(usage.map(|(s, _)| s));
    match status {
        Some(ExitStatus::Code(code)) => result.exit_code = code,
        Some(ExitStatus::Signal(sig)) => {
            result.exit_code = 128 + sig;
            result.signal = Some(signal_name(sig));
        }
        None => {}
    }
    result
}

/// The report for a run whose sandbox was never built: nothing enforced.
fn refused_like(hardening: &SpawnHardening) -> EffectiveSandbox {
    let e = &hardening.effective;
    EffectiveSandbox::refused(e.requested.clone(), e.downgrades.clone(), &e.platform)
}

/// Captured bytes to text in place (no copy for valid UTF-8), dropping a
/// code point the budget cut in half; other invalid bytes become U+FFFD.
fn decode(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| {
        let cut_at_end = e.utf8_error().error_len().is_none();
        let valid = e.utf8_error().valid_up_to();
        let mut bytes = e.into_bytes();
        if cut_at_end {
            bytes.truncate(valid);
            // Everything before `valid_up_to` is valid UTF-8.
            return String::from_utf8(bytes).unwrap_or_default();
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn signal_name(sig: i32) -> String {
    match nix::sys::signal::Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("SIG{sig}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    fn from_wait(status: libc::c_int) -> Self {
        if libc::WIFSIGNALED(status) {
            ExitStatus::Signal(libc::WTERMSIG(status))
        } else {
            ExitStatus::Code(libc::WEXITSTATUS(status))
        }
    }
}

/// A spawned launcher or direct command, not yet reaped.
struct Spawned {
    pid: libc::pid_t,
    /// Readable when the process exits (pidfd), if the kernel has pidfds.
    exit_fd: Option<AsyncFd<OwnedFd>>,
    stdin: Option<pipe::Sender>,
    stdout: Option<pipe::Receiver>,
    stderr: Option<pipe::Receiver>,
    status: Option<pipe::Receiver>,
    control: Option<pipe::Sender>,
    reaped: bool,
    /// The process group still holds live members that a kill must reach.
    group_alive: bool,
}

impl Spawned {
    /// Kill everything in the run's process group. Only valid before reaping,
    /// so the group id cannot have been reused.
    fn kill_group(&mut self) {
        if !self.reaped && self.group_alive {
            // SAFETY: plain syscall on our own, unreaped child's group.
            unsafe {
                libc::kill(-self.pid, libc::SIGKILL);
            }
        }
    }

    /// Wait (asynchronously) until the process has exited, without reaping.
    async fn exited(&self) {
        match &self.exit_fd {
            Some(fd) => {
                let _ = fd.readable().await;
            }
            None => loop {
                // No pidfd: poll for a zombie without reaping it.
                if self.has_exited_now() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            },
        }
    }

    fn has_exited_now(&self) -> bool {
        // SAFETY: waitid with WNOWAIT only inspects our own child.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        rc != 0 || unsafe { info.si_pid() } != 0
    }

    /// Reap the exited process; kill its group first so no member survives.
    fn reap(&mut self) -> Option<(ExitStatus, ResourceUsage)> {
        if self.reaped {
            return None;
        }
        self.kill_group();
        let mut status: libc::c_int = 0;
        // SAFETY: zeroed rusage is a valid out-parameter.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let rc = loop {
            // SAFETY: waiting for our own child; blocks only if it is still
            // alive, which callers avoid by awaiting `exited` (or killing) first.
            let rc = unsafe { libc::wait4(self.pid, &mut status, 0, &mut usage) };
            if rc == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break rc;
        };
        self.reaped = true;
        if rc != self.pid {
            return None;
        }
        let ms = |tv: libc::timeval| tv.tv_sec as f64 * 1000.0 + tv.tv_usec as f64 / 1000.0;
        Some((
            ExitStatus::from_wait(status),
            ResourceUsage {
                user_cpu_ms: ms(usage.ru_utime),
                system_cpu_ms: ms(usage.ru_stime),
                max_rss_bytes: usage.ru_maxrss as f64 * 1024.0,
            },
        ))
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Last line of defence: never leave a live tree or a zombie behind.
        if !self.reaped {
            self.kill_group();
            let _ = self.reap();
        }
    }
}

/// A pipe pair with both ends close-on-exec; `(read, write)`.
fn pipe_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    Ok((r, w))
}

fn receiver(fd: OwnedFd) -> io::Result<pipe::Receiver> {
    pipe::Receiver::from_owned_fd(fd)
}

fn sender(fd: OwnedFd) -> io::Result<pipe::Sender> {
    pipe::Sender::from_owned_fd(fd)
}

/// The spec travels in a memfd: no size limit, no partial reads, and it is
/// gone when the launcher closes it.
fn spec_memfd(json: &[u8]) -> io::Result<OwnedFd> {
    // SAFETY: memfd_create with a static, NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"script-sandbox-spec".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(fd);
    use std::io::{Seek, Write};
    file.write_all(json)?;
    file.seek(std::io::SeekFrom::Start(0))?;
    Ok(OwnedFd::from(file))
}

fn pidfd(pid: libc::pid_t) -> Option<AsyncFd<OwnedFd>> {
    // SAFETY: pidfd_open on our own unreaped child.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    // SAFETY: the OwnedFd stays open and unchanged for the AsyncFd's lifetime.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok()
}

/// The child's ends of its stdio pipes and our ends, `(ours, theirs)`.
struct StdioPipes {
    stdin: Option<(OwnedFd, OwnedFd)>,
    stdout: (OwnedFd, OwnedFd),
    stderr: (OwnedFd, OwnedFd),
}

fn stdio_pipes(with_stdin: bool) -> io::Result<StdioPipes> {
    let swap =
        |(r, w): (OwnedFd, OwnedFd)| -> io::Result<(OwnedFd, OwnedFd)> { Ok((w, high_fd(r)?)) };
    let keep =
        |(r, w): (OwnedFd, OwnedFd)| -> io::Result<(OwnedFd, OwnedFd)> { Ok((r, high_fd(w)?)) };
    Ok(StdioPipes {
        stdin: if with_stdin {
            Some(swap(pipe_pair()?)?)
        } else {
            None
        },
        stdout: keep(pipe_pair()?)?,
        stderr: keep(pipe_pair()?)?,
    })
}

/// Our ends of the launcher's status and control pipes.
struct LauncherChannels {
    status: OwnedFd,
    control: OwnedFd,
}

/// Start `program` in its own process group with the stdio pipes on 0/1/2
/// plus `extra` fd mappings, and wrap our ends for tokio.
fn start(
    program: &str,
    argv: &[String],
    env: &[(String, String)],
    cwd: Option<&str>,
    pipes: StdioPipes,
    extra: &[(RawFd, RawFd)],
    channels: Option<LauncherChannels>,
) -> io::Result<Spawned> {
    let StdioPipes {
        stdin,
        stdout,
        stderr,
    } = pipes;
    let (status, control) = match channels {
        Some(LauncherChannels { status, control }) => (Some(status), Some(control)),
        None => (None, None),
    };
    let mut fds = vec![(stdout.1.as_raw_fd(), 1), (stderr.1.as_raw_fd(), 2)];
    if let Some((_, theirs)) = &stdin {
        fds.push((theirs.as_raw_fd(), 0));
    }
    fds.extend_from_slice(extra);
    let pid = spawn::spawn(&SpawnSpec {
        program,
        argv,
        env,
        fds: &fds,
        stdin_null: stdin.is_none(),
        cwd,
        new_group: true,
    })?;
    // Our copies of the child's ends close here; only the child holds them now.
    Ok(Spawned {
        pid,
        exit_fd: pidfd(pid),
        stdin: stdin.map(|(ours, _)| sender(ours)).transpose()?,
        stdout: Some(receiver(stdout.0)?),
        stderr: Some(receiver(stderr.0)?),
        status: status.map(receiver).transpose()?,
        control: control.map(sender).transpose()?,
        reaped: false,
        group_alive: true,
    })
}

fn spawn_launcher(
    plan: &LaunchPlan,
    req: &RunRequest,
    env: Vec<(String, String)>,
    scratch: Option<&str>,
) -> io::Result<Spawned> {
    let mut spec = plan.to_spec(req.command.clone(), env);
    // The caller's cwd wins; else the plan's (the scratch dir under a
    // confined root); else the scratch dir, as with a direct run.
    if let Some(cwd) = req
        .cwd
        .clone()
        .or_else(|| spec.process.cwd.clone())
        .or_else(|| scratch.map(str::to_string))
    {
        spec.process.cwd = Some(cwd);
    }
    let json = serde_json::to_vec(&spec).map_err(io::Error::other)?;
    let spec_fd = high_fd(spec_memfd(&json)?)?;
    let (status_r, status_w) = pipe_pair()?;
    let (control_r, control_w) = pipe_pair()?;
    let status_w = high_fd(status_w)?;
    let control_r = high_fd(control_r)?;
    let argv: Vec<String> = [plan.launcher.clone(), "--".to_string()]
        .into_iter()
        .chain(req.command.iter().cloned())
        .collect();
    let extra = [
        (spec_fd.as_raw_fd(), SPEC_FD),
        (status_w.as_raw_fd(), STATUS_FD),
        (control_r.as_raw_fd(), CONTROL_FD),
    ];
    let pipes = stdio_pipes(req.stdin.is_some())?;
    start(
        &plan.launcher,
        &argv,
        &[],
        None,
        pipes,
        &extra,
        Some(LauncherChannels {
            status: status_r,
            control: control_w,
        }),
    )
}

fn spawn_direct(
    req: &RunRequest,
    env: Vec<(String, String)>,
    scratch: Option<&str>,
) -> io::Result<Spawned> {
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    let program = spawn::resolve_program(&req.command[0], path).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("cannot execute '{}': not found on PATH", req.command[0]),
        )
    })?;
    let pipes = stdio_pipes(req.stdin.is_some())?;
    start(
        &program,
        &req.command,
        &env,
        req.cwd.as_deref().or(scratch),
        pipes,
        &[],
        None,
    )
}

/// What watching the run observed.
#[derive(Default)]
struct Outcome {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    truncated: bool,
    timed_out: bool,
    aborted: bool,
    exited: Option<ExitStatus>,
    setup_error: Option<SetupFailure>,
    egress_ruleset: Option<String>,
}

/// One shared budget for stdout and stderr together.
struct Budget {
    remaining: Option<u64>,
}

impl Budget {
    /// How many of `n` new bytes may be kept; `None` means the cap was crossed.
    fn take(&mut self, n: usize) -> (usize, bool) {
        match &mut self.remaining {
            None => (n, false),
            Some(left) => {
                let keep = (*left).min(n as u64) as usize;
                *left -= keep as u64;
                (keep, keep < n)
            }
        }
    }
}

const READ_CHUNK: usize = 64 * 1024;
/// After a kill, how long to keep draining pipes a straggler holds open.
const KILL_GRACE: Duration = Duration::from_secs(2);

async fn watch_run(
    child: &mut Spawned,
    hardening: &SpawnHardening,
    req: &RunRequest,
    sink: &dyn OutputSink,
    cancel: &mut watch::Receiver<bool>,
) -> Outcome {
    let mut out = Outcome::default();
    let mut budget = Budget {
        remaining: hardening.max_output_bytes,
    };
    // Before exit: the run's deadline. After a kill or exit: how long a
    // straggler holding a pipe open may delay the end of the run.
    let mut timer = tokio::time::Instant::now() + req.timeout;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut status = child.status.take().map(|r| BufReader::new(r).lines());
    let mut out_buf = vec![0u8; READ_CHUNK];
    let mut err_buf = vec![0u8; READ_CHUNK];
    let mut init_pid: Option<i32> = None;
    let mut egress: Option<EgressHandle> = None;
    let mut exited = false;
    let mut killed = false;
    let mut cancel_open = true;

    loop {
        if exited && stdout.is_none() && stderr.is_none() && status.is_none() {
            break;
        }
        tokio::select! {
            r = read_some(&mut stdout, &mut out_buf) => {
                match r {
                    Some(n) => {
                        let (keep, crossed) = budget.take(n);
                        out.stdout.extend_from_slice(&out_buf[..keep]);
                        if keep > 0 { sink.stdout(&out_buf[..keep]); }
                        if crossed { out.truncated = true; stdout = None; stderr = None; kill(child, &mut killed); }
                    }
                    None => stdout = None,
                }
            }
            r = read_some(&mut stderr, &mut err_buf) => {
                match r {
                    Some(n) => {
                        let (keep, crossed) = budget.take(n);
                        out.stderr.extend_from_slice(&err_buf[..keep]);
                        if keep > 0 { sink.stderr(&err_buf[..keep]); }
                        if crossed { out.truncated = true; stdout = None; stderr = None; kill(child, &mut killed); }
                    }
                    None => stderr = None,
                }
            }
            line = next_line(&mut status) => {
                match line {
                    Some(line) => match serde_json::from_str::<LauncherEvent>(&line) {
                        Ok(LauncherEvent::Started { pid }) => init_pid = Some(pid),
                        Ok(LauncherEvent::RulesetLoaded { listing }) => out.egress_ruleset = Some(listing),
                        Ok(LauncherEvent::EgressWait) => {
                            match attach_egress(hardening, init_pid, child).await {
                                Ok(handle) => egress = Some(handle),
                                Err(failure) => {
                                    out.setup_error.get_or_insert(failure);
                                    kill(child, &mut killed);
                                }
                            }
                        }
                        Ok(LauncherEvent::Error { step, errno, message }) => {
                            out.setup_error.get_or_insert(SetupFailure { step, errno, message });
                        }
                        Ok(LauncherEvent::Exited { code, signal }) => {
                            out.exited = match (code, signal) {
                                (_, Some(sig)) => Some(ExitStatus::Signal(sig)),
                                (Some(code), None) => Some(ExitStatus::Code(code)),
                                (None, None) => None,
                            };
                        }
                        Err(_) => {
                            out.setup_error.get_or_insert(SetupFailure {
                                step: "protocol".into(),
                                errno: None,
                                message: format!("unreadable launcher report: {}", line.chars().take(200).collect::<String>()),
                            });
                            kill(child, &mut killed);
                        }
                    },
                    None => status = None,
                }
            }
            _ = child.exited(), if !exited => {
                exited = true;
                // The main process is gone: take down whatever it left behind
                // in its group (a pid namespace is already gone with its init).
                child.kill_group();
                child.group_alive = false;
                if killed {
                    timer = tokio::time::Instant::now() + KILL_GRACE;
                }
            }
            _ = tokio::time::sleep_until(timer) => {
                if exited {
                    // The command finished; only a straggler holds a pipe open.
                    break;
                }
                if !killed {
                    out.timed_out = true;
                }
                kill(child, &mut killed);
                timer = tokio::time::Instant::now() + KILL_GRACE;
            }
            changed = cancel.changed(), if cancel_open && !killed => {
                match changed {
                    Ok(()) if *cancel.borrow() => {
                        out.aborted = true;
                        kill(child, &mut killed);
                    }
                    Ok(()) => {}
                    Err(_) => cancel_open = false,
                }
            }
        }
    }
    if let Some(handle) = egress {
        handle.stop();
    }
    out
}

fn kill(child: &mut Spawned, killed: &mut bool) {
    *killed = true;
    child.kill_group();
}

async fn read_some(pipe: &mut Option<pipe::Receiver>, buf: &mut [u8]) -> Option<usize> {
    match pipe {
        Some(p) => match p.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

async fn next_line(
    lines: &mut Option<tokio::io::Lines<BufReader<pipe::Receiver>>>,
) -> Option<String> {
    match lines {
        Some(l) => l.next_line().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

async fn attach_egress(
    hardening: &SpawnHardening,
    init_pid: Option<i32>,
    child: &mut Spawned,
) -> Result<EgressHandle, SetupFailure> {
    let fail = |message: String| SetupFailure {
        step: "egress".into(),
        errno: None,
        message,
    };
    let plan = hardening
        .launch
        .as_ref()
        .and_then(|l| l.egress.as_ref())
        .ok_or_else(|| fail("the launcher asked for egress, but the plan has none".into()))?;
    let pid = init_pid
        .ok_or_else(|| fail("the launcher asked for egress before reporting its pid".into()))?;
    let handle = egress::attach(plan, pid).await.map_err(fail)?;
    let control = child
        .control
        .as_mut()
        .ok_or_else(|| fail("no control channel to the launcher".into()))?;
    control
        .write_all(b"1")
        .await
        .map_err(|e| fail(format!("cannot release the launcher: {e}")))?;
    Ok(handle)
}
