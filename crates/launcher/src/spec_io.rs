//! The launcher's two wires to the supervisor: the JSON `LaunchSpec` read once
//! from `SPEC_FD`, and the newline-delimited `LauncherEvent` stream written to
//! `STATUS_FD`. Every event is one `write(2)` below `PIPE_BUF`, so events from
//! the launcher, the namespace init and the final child never interleave.

use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;

use nix::errno::Errno;
use script_sandbox_spec::{LaunchSpec, LauncherEvent, SetupOp, SPEC_FD, STATUS_FD};

use crate::error::{Step, StepError, StepResult};

/// Largest line we write: the kernel only guarantees atomic pipe writes up to
/// `PIPE_BUF` (4096 on Linux).
const MAX_LINE: usize = 4000;

/// Read the spec to end of file, close the fd, parse and sanity-check it.
pub fn read_spec() -> StepResult<LaunchSpec> {
    // SAFETY: F_GETFD only inspects the descriptor table.
    if unsafe { libc::fcntl(SPEC_FD, libc::F_GETFD) } < 0 {
        return Err(StepError::sys("spec", "fd 3 is not open", Errno::last()));
    }
    // A memfd may still sit at the offset its writer left; a pipe cannot seek
    // (ESPIPE), which is fine.
    // SAFETY: plain syscall on an fd we own.
    unsafe { libc::lseek(SPEC_FD, 0, libc::SEEK_SET) };
    // SAFETY: fd 3 is open (checked above) and owned by us from here on; the
    // File closes it when dropped.
    let mut file = unsafe { File::from_raw_fd(SPEC_FD) };
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).step("spec", "read fd 3")?;
    drop(file);
    let spec: LaunchSpec = serde_json::from_slice(&buf)
        .map_err(|e| StepError::msg("spec", format!("invalid launch spec: {e}")))?;
    validate(&spec)?;
    Ok(spec)
}

/// Checks the launcher needs before doing anything irreversible.
fn validate(spec: &LaunchSpec) -> StepResult<()> {
    if spec.process.argv.is_empty() {
        return Err(StepError::msg("spec", "process.argv is empty"));
    }
    if spec.namespaces.user && spec.id_map.is_none() {
        return Err(StepError::msg("spec", "namespaces.user requires idMap"));
    }
    let has_nul = |s: &str| s.as_bytes().contains(&0);
    if spec.process.argv.iter().any(|a| has_nul(a))
        || spec
            .process
            .env
            .iter()
            .any(|(k, v)| has_nul(k) || has_nul(v) || k.contains('=') || k.is_empty())
    {
        return Err(StepError::msg(
            "spec",
            "argv or env contains a NUL byte or a malformed variable name",
        ));
    }
    let mounts = spec.setup.iter().any(|op| {
        matches!(
            op,
            SetupOp::NewRoot
                | SetupOp::Bind { .. }
                | SetupOp::Tmpfs { .. }
                | SetupOp::Proc { .. }
                | SetupOp::Dev { .. }
                | SetupOp::FinishRoot
        )
    });
    if mounts && !spec.namespaces.mount {
        // Mounting without a private mount namespace would change the host.
        return Err(StepError::msg(
            "spec",
            "mount steps require namespaces.mount",
        ));
    }
    let net_ops = spec
        .setup
        .iter()
        .any(|op| matches!(op, SetupOp::LoopbackUp | SetupOp::NftRuleset { .. }));
    if net_ops && !spec.namespaces.net {
        // Same for the host's interfaces and firewall.
        return Err(StepError::msg(
            "spec",
            "network steps require namespaces.net",
        ));
    }
    let hostname = spec
        .setup
        .iter()
        .any(|op| matches!(op, SetupOp::Hostname { .. }));
    if hostname && !spec.namespaces.uts {
        return Err(StepError::msg("spec", "hostname requires namespaces.uts"));
    }
    Ok(())
}

/// Write one event line; returns false when the supervisor is gone.
pub fn report(event: &LauncherEvent) -> bool {
    let line = fit_line(event);
    write_all_once(line.as_bytes())
}

pub fn report_error(err: &StepError) -> bool {
    report(&err.to_event())
}

/// Serialize, shortening an error's text until the line fits in one atomic
/// pipe write.
fn fit_line(event: &LauncherEvent) -> String {
    let mut line = event.to_line();
    if line.len() <= MAX_LINE {
        return line;
    }
    if let LauncherEvent::RulesetLoaded { listing } = event {
        // Only the namespace init writes at this point, but keep the line
        // bounded all the same; the supervisor treats it as a report.
        return LauncherEvent::RulesetLoaded {
            listing: format!("{}\n...", truncate(listing, MAX_LINE / 2)),
        }
        .to_line();
    }
    if let LauncherEvent::Error {
        step,
        errno,
        message,
    } = event
    {
        let mut step = truncate(step, 200).to_string();
        let mut budget = MAX_LINE / 2;
        loop {
            let msg = format!("{}...", truncate(message, budget));
            line = LauncherEvent::Error {
                step: step.clone(),
                errno: *errno,
                message: msg,
            }
            .to_line();
            if line.len() <= MAX_LINE || budget == 0 {
                break;
            }
            budget /= 2;
            step = truncate(&step, 64).to_string();
        }
    }
    line
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn write_all_once(bytes: &[u8]) -> bool {
    loop {
        // SAFETY: writing a valid buffer to the status fd.
        let n = unsafe { libc::write(STATUS_FD, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 && Errno::last() == Errno::EINTR {
            continue;
        }
        return n == bytes.len() as isize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_errors_are_cut_to_one_atomic_line() {
        let ev = LauncherEvent::Error {
            step: "nft t".into(),
            errno: None,
            message: "\u{1}é".repeat(5000),
        };
        let line = fit_line(&ev);
        assert!(line.len() <= MAX_LINE, "{}", line.len());
        assert_eq!(line.matches('\n').count(), 1);
        let back: LauncherEvent = serde_json::from_str(line.trim_end()).unwrap();
        assert!(matches!(back, LauncherEvent::Error { ref step, .. } if step == "nft t"));
    }

    #[test]
    fn short_events_are_untouched() {
        let ev = LauncherEvent::Started { pid: 42 };
        assert_eq!(fit_line(&ev), ev.to_line());
    }
}
