//! One error type for every step: what was being done (`step`), the errno
//! when a syscall failed, and a human message. It maps 1:1 onto
//! `LauncherEvent::Error`, so a failure anywhere reaches the supervisor intact.

use nix::errno::Errno;
use script_sandbox_spec::LauncherEvent;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub step: String,
    pub errno: Option<i32>,
    pub message: String,
}

impl StepError {
    /// A failure that has no errno (bad input, a helper's exit status...).
    pub fn msg(step: impl Into<String>, message: impl Into<String>) -> Self {
        StepError {
            step: step.into(),
            errno: None,
            message: message.into(),
        }
    }

    /// A failed syscall: `what` names the call, the errno text follows.
    pub fn sys(step: impl Into<String>, what: &str, errno: Errno) -> Self {
        StepError {
            step: step.into(),
            errno: Some(errno as i32),
            message: format!("{what}: {}", errno.desc()),
        }
    }

    /// A failed `std::io` operation (file reads/writes on /proc and friends).
    pub fn io(step: impl Into<String>, what: &str, err: &std::io::Error) -> Self {
        let errno = err.raw_os_error();
        let text = match errno {
            Some(n) => Errno::from_raw(n).desc().to_string(),
            None => err.to_string(),
        };
        StepError {
            step: step.into(),
            errno,
            message: format!("{what}: {text}"),
        }
    }

    pub fn to_event(&self) -> LauncherEvent {
        LauncherEvent::Error {
            step: self.step.clone(),
            errno: self.errno,
            message: self.message.clone(),
        }
    }
}

/// Attach a step name to a failed syscall result.
pub trait Step<T> {
    fn step(self, step: &str, what: &str) -> Result<T, StepError>;
}

impl<T> Step<T> for Result<T, Errno> {
    fn step(self, step: &str, what: &str) -> Result<T, StepError> {
        self.map_err(|e| StepError::sys(step, what, e))
    }
}

impl<T> Step<T> for std::io::Result<T> {
    fn step(self, step: &str, what: &str) -> Result<T, StepError> {
        self.map_err(|e| StepError::io(step, what, &e))
    }
}

pub type StepResult<T> = Result<T, StepError>;

static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Route panic messages away from the run's stderr (which belongs to the
/// command) into the next `guard` error.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut slot) = LAST_PANIC.lock() {
            *slot = Some(info.to_string());
        }
    }));
}

/// Run `f`, turning a panic into a `StepError` for `step`: the launcher must
/// always report, never die with a backtrace on the command's stderr.
pub fn guard<T>(step: &str, f: impl FnOnce() -> StepResult<T>) -> StepResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            let text = LAST_PANIC
                .lock()
                .ok()
                .and_then(|mut s| s.take())
                .unwrap_or_else(|| "panic".into());
            Err(StepError::msg(step, format!("internal error: {text}")))
        }
    }
}
