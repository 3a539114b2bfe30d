//! The final `execve`: argv[0] is looked up in the PATH of the command's own
//! environment (not ours, which is empty), and the environment is passed
//! exactly as planned.

use std::ffi::CString;

use nix::errno::Errno;
use script_sandbox_spec::ProcessSpec;

use crate::error::StepError;

const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn cstring(s: &str) -> CString {
    // NUL bytes were rejected when the spec was read.
    CString::new(s).unwrap_or_default()
}

/// Candidate paths for argv[0], in the order `execvp` would try them.
pub fn candidates(argv0: &str, env: &[(String, String)]) -> Vec<String> {
    if argv0.contains('/') {
        return vec![argv0.to_string()];
    }
    let path = env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .map(|dir| {
            if dir.is_empty() {
                format!("./{argv0}")
            } else {
                format!("{dir}/{argv0}")
            }
        })
        .collect()
}

/// Replace this process with the command. Only returns on failure.
pub fn exec(process: &ProcessSpec) -> StepError {
    let argv0 = &process.argv[0];
    let argv: Vec<CString> = process.argv.iter().map(|a| cstring(a)).collect();
    let envp: Vec<CString> = process
        .env
        .iter()
        .map(|(k, v)| cstring(&format!("{k}={v}")))
        .collect();
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());

    let mut result = Errno::ENOENT;
    let mut saw_eacces = false;
    for candidate in candidates(argv0, &process.env) {
        let path = cstring(&candidate);
        // SAFETY: all pointers reference NUL-terminated strings kept alive
        // above, and both arrays are NULL-terminated.
        unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
        result = Errno::last();
        match result {
            // Keep searching, as execvp does; remember a permission problem.
            Errno::EACCES => saw_eacces = true,
            Errno::ENOENT | Errno::ENOTDIR | Errno::ENAMETOOLONG | Errno::ELOOP => {}
            _ => break,
        }
    }
    if saw_eacces && matches!(result, Errno::ENOENT | Errno::ENOTDIR) {
        result = Errno::EACCES;
    }
    StepError {
        step: "exec".into(),
        errno: Some(result as i32),
        message: format!("cannot execute '{argv0}': {}", result.desc()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_search_uses_the_command_env() {
        let env = vec![("PATH".to_string(), "/a::/b".to_string())];
        assert_eq!(candidates("sh", &env), vec!["/a/sh", "./sh", "/b/sh"]);
        assert_eq!(candidates("/bin/sh", &env), vec!["/bin/sh"]);
        assert_eq!(
            candidates("x", &[]),
            vec!["/usr/local/bin/x", "/usr/bin/x", "/bin/x"]
        );
    }
}
