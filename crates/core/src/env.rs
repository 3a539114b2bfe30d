//! The child's environment: a short allowlist of supervisor vars, caller
//! overrides on top, and a denylist of keys that would let a caller subvert
//! the loader, the runtime or binary lookup.

use std::collections::BTreeMap;

/// Supervisor vars forwarded to every child (when present). Anything else in
/// the supervisor env (database URLs, tokens, ...) never reaches a script.
pub const SAFE_ENV_VARS: [&str; 10] = [
    "PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "HOSTNAME", "SHELL",
];

/// Keys a caller may not set while the sandbox is enabled: loader injection
/// (`LD_*`, `DYLD_*`), runtime injection (`NODE_OPTIONS`), Bun's install and
/// config switches, and `PATH` (the forwarded one stays; a replacement would
/// redirect every command lookup).
pub const FORBIDDEN_ENV_KEYS: [&str; 8] = [
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "DYLD_INSERT_LIBRARIES",
    "DYLD_LIBRARY_PATH",
    "NODE_OPTIONS",
    "BUN_INSTALL",
    "PATH",
];

/// Key prefixes a caller may not set while the sandbox is enabled.
pub const FORBIDDEN_ENV_PREFIXES: [&str; 1] = ["BUN_CONFIG_"];

/// The safe subset of `vars` (typically the supervisor's environment).
pub fn pick_safe_env(vars: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
    vars.into_iter()
        .filter(|(key, _)| SAFE_ENV_VARS.contains(&key.as_str()))
        .collect()
}

/// The safe subset of this process's environment (vars that are not valid
/// UTF-8 are skipped).
pub fn pick_safe_env_from_process() -> BTreeMap<String, String> {
    pick_safe_env(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    )
}

/// True when a caller may not set `key` (exact or prefix match).
pub fn is_forbidden_env_key(key: &str) -> bool {
    FORBIDDEN_ENV_KEYS.contains(&key)
        || FORBIDDEN_ENV_PREFIXES
            .iter()
            .any(|prefix| key.starts_with(prefix))
}

/// `base` with `overrides` applied in order (a later duplicate wins). With
/// `apply_denylist`, forbidden override keys are skipped (the base value, if
/// any, survives) and returned, each once, in the order first seen.
pub fn build_subprocess_env(
    base: &BTreeMap<String, String>,
    overrides: &[(String, String)],
    apply_denylist: bool,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut env = base.clone();
    let mut dropped: Vec<String> = Vec::new();
    for (key, value) in overrides {
        if apply_denylist && is_forbidden_env_key(key) {
            if !dropped.contains(key) {
                dropped.push(key.clone());
            }
            continue;
        }
        env.insert(key.clone(), value.clone());
    }
    (env, dropped)
}

/// Why an entry cannot be passed to `execve`, if it cannot: an empty key, a
/// key containing `=`, or a NUL byte anywhere.
pub fn env_entry_problem(key: &str, value: &str) -> Option<String> {
    if key.is_empty() {
        return Some("environment variable names must not be empty".to_string());
    }
    if key.contains('=') {
        return Some(format!(
            "environment variable name {key:?} must not contain '='"
        ));
    }
    if key.contains('\0') {
        return Some(format!(
            "environment variable name {key:?} must not contain a NUL byte"
        ));
    }
    if value.contains('\0') {
        return Some(format!(
            "the value of environment variable {key:?} must not contain a NUL byte"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn picks_only_the_safe_vars() {
        let env = pick_safe_env(pairs(&[
            ("PATH", "/usr/bin"),
            ("DATABASE_URL", "postgres://secret"),
            ("HOME", "/home/app"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("LC_ALL", "C.UTF-8"),
        ]));
        assert_eq!(
            env,
            BTreeMap::from([
                ("HOME".to_string(), "/home/app".to_string()),
                ("LC_ALL".to_string(), "C.UTF-8".to_string()),
                ("PATH".to_string(), "/usr/bin".to_string()),
            ])
        );
    }

    #[test]
    fn forbidden_keys_and_prefixes() {
        for key in FORBIDDEN_ENV_KEYS {
            assert!(is_forbidden_env_key(key), "{key}");
        }
        assert!(is_forbidden_env_key("BUN_CONFIG_REGISTRY"));
        assert!(is_forbidden_env_key("BUN_CONFIG_"));
        assert!(!is_forbidden_env_key("BUN_CONFIG"));
        assert!(!is_forbidden_env_key("path"));
        assert!(!is_forbidden_env_key("MY_TOKEN"));
        assert!(!is_forbidden_env_key("LD_PRELOAD_X"));
    }

    #[test]
    fn denylist_drops_forbidden_overrides_but_keeps_the_base_path() {
        let base = BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]);
        let overrides = pairs(&[
            ("PATH", "/evil"),
            ("LD_PRELOAD", "/evil.so"),
            ("TOKEN", "t1"),
            ("BUN_CONFIG_REGISTRY", "http://evil"),
            ("TOKEN", "t2"),
            ("LD_PRELOAD", "/evil2.so"),
        ]);
        let (env, dropped) = build_subprocess_env(&base, &overrides, true);
        assert_eq!(
            env,
            BTreeMap::from([
                ("PATH".to_string(), "/usr/bin:/bin".to_string()),
                ("TOKEN".to_string(), "t2".to_string()),
            ])
        );
        assert_eq!(dropped, vec!["PATH", "LD_PRELOAD", "BUN_CONFIG_REGISTRY"]);
    }

    #[test]
    fn without_the_denylist_overrides_all_win() {
        let base = BTreeMap::from([("PATH".to_string(), "/usr/bin".to_string())]);
        let (env, dropped) = build_subprocess_env(
            &base,
            &pairs(&[("PATH", "/x"), ("NODE_OPTIONS", "--inspect")]),
            false,
        );
        assert_eq!(
            env,
            BTreeMap::from([
                ("NODE_OPTIONS".to_string(), "--inspect".to_string()),
                ("PATH".to_string(), "/x".to_string()),
            ])
        );
        assert!(dropped.is_empty());
    }

    #[test]
    fn entries_execve_cannot_take_are_named() {
        assert_eq!(env_entry_problem("A", "b"), None);
        assert!(env_entry_problem("", "b").is_some());
        assert!(env_entry_problem("A=B", "b").unwrap().contains("'='"));
        assert!(env_entry_problem("A", "b\0c").unwrap().contains("NUL"));
    }
}
