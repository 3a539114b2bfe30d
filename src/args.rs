//! Reading typed arguments out of `Input` objects, with errors that name
//! the field.

use std::time::Duration;

use script_sandbox_core::capabilities::SandboxCapabilities;
use script_sandbox_core::input::Input;
use script_sandbox_core::observability::{Readiness, ReportView};
use script_sandbox_core::policy::{self, NetworkPolicy, PolicyError, SandboxPolicy};
use script_sandbox_core::run::{validate_request, RunRequest};

use crate::convert::input_to_json;

pub enum ArgError {
    Policy(PolicyError),
    Invalid { field: String, message: String },
}

impl ArgError {
    pub fn invalid(field: &str, message: &str) -> Self {
        ArgError::Invalid {
            field: field.to_string(),
            message: message.to_string(),
        }
    }
}

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArgError::Policy(p) => write!(f, "{p}"),
            ArgError::Invalid { field, message } => write!(f, "invalid `{field}`: {message}"),
        }
    }
}

pub fn field<'a>(input: &'a Input, name: &str) -> Option<&'a Input> {
    input.get(name)
}

fn expected(name: &str, what: &str, got: &Input) -> ArgError {
    ArgError::invalid(
        name,
        &format!("expected {what}, received {}", got.type_name()),
    )
}

pub fn opt_string(value: Option<&Input>, name: &str) -> Result<Option<String>, ArgError> {
    match value {
        None | Some(Input::Undefined) => Ok(None),
        Some(Input::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(expected(name, "string", other)),
    }
}

pub fn opt_bool(value: Option<&Input>, name: &str) -> Result<Option<bool>, ArgError> {
    match value {
        None | Some(Input::Undefined) => Ok(None),
        Some(Input::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(expected(name, "boolean", other)),
    }
}

/// A non-negative integer count (e.g. a byte budget).
pub fn opt_count(value: Option<&Input>, name: &str) -> Result<Option<u64>, ArgError> {
    match value {
        None | Some(Input::Undefined) => Ok(None),
        Some(Input::Number(n))
            if n.is_finite() && n.fract() == 0.0 && *n >= 0.0 && *n <= 9.007_199_254_740_991e15 =>
        {
            Ok(Some(*n as u64))
        }
        Some(other) => Err(expected(name, "a non-negative integer", other)),
    }
}

pub fn string_list(value: Option<&Input>, name: &str) -> Result<Vec<String>, ArgError> {
    match value {
        Some(Input::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Input::String(s) => Ok(s.clone()),
                other => Err(expected(&format!("{name}[{i}]"), "string", other)),
            })
            .collect(),
        Some(other) => Err(expected(name, "array of strings", other)),
        None => Err(ArgError::invalid(name, "is required")),
    }
}

/// An object whose values are all strings, as ordered pairs.
pub fn string_pairs(value: Option<&Input>, name: &str) -> Result<Vec<(String, String)>, ArgError> {
    match value {
        None | Some(Input::Undefined) => Ok(Vec::new()),
        Some(Input::Object(entries)) => entries
            .iter()
            .map(|(k, v)| match v {
                Input::String(s) => Ok((k.clone(), s.clone())),
                other => Err(expected(&format!("{name}.{k}"), "string", other)),
            })
            .collect(),
        Some(other) => Err(expected(name, "object of strings", other)),
    }
}

fn from_json<T: serde::de::DeserializeOwned>(value: &Input, name: &str) -> Result<T, ArgError> {
    let json = input_to_json(value).map_err(|m| ArgError::invalid(name, &m))?;
    serde_json::from_value(json).map_err(|e| ArgError::invalid(name, &e.to_string()))
}

pub fn caps_arg(value: &Input, name: &str) -> Result<SandboxCapabilities, ArgError> {
    match value {
        Input::Object(_) => from_json(value, name),
        other => Err(expected(name, "a capabilities object", other)),
    }
}

/// A policy, validated (defaults filled in for a partial input).
pub fn policy_arg(value: &Input, name: &str) -> Result<SandboxPolicy, ArgError> {
    match value {
        Input::Undefined => Err(ArgError::invalid(name, "is required")),
        other => policy::parse_policy(other).map_err(ArgError::Policy),
    }
}

/// The network part of a policy, validated by parsing it inside a policy.
pub fn network_arg(value: Option<&Input>, name: &str) -> Result<NetworkPolicy, ArgError> {
    let value = value.ok_or_else(|| ArgError::invalid(name, "is required"))?;
    let wrapped = Input::Object(vec![("network".to_string(), value.clone())]);
    policy::parse_policy(&wrapped)
        .map(|p| p.network)
        .map_err(|mut e| {
            for issue in &mut e.issues {
                if !issue.path.is_empty() {
                    issue.path.remove(0);
                }
            }
            ArgError::Policy(e)
        })
}

pub fn report_view_arg(value: &Input, name: &str) -> Result<ReportView, ArgError> {
    from_json(value, name)
}

pub fn readiness_arg(value: &Input, name: &str) -> Result<Readiness, ArgError> {
    from_json(value, name)
}

const RUN_OPTION_KEYS: &[&str] = &[
    "command",
    "policy",
    "timeoutMs",
    "cwd",
    "env",
    "stdin",
    "scratchDir",
    "nodeModulesDir",
    "interpreterPath",
    "appliesNodeMemoryCap",
    "caps",
];

/// `runSandboxed` options into a core request (policy already resolved by
/// the JS layer). Every problem names its option.
pub fn run_request(
    input: &Input,
    detect: impl Fn() -> SandboxCapabilities,
) -> Result<RunRequest, ArgError> {
    let Input::Object(entries) = input else {
        return Err(expected("options", "object", input));
    };
    if let Some((key, _)) = entries
        .iter()
        .find(|(k, _)| !RUN_OPTION_KEYS.contains(&k.as_str()))
    {
        return Err(ArgError::invalid(key, "unknown option"));
    }
    let command = string_list(field(input, "command"), "command")?;
    let policy = policy_arg(
        field(input, "policy").unwrap_or(&Input::Undefined),
        "policy",
    )?;
    let timeout = match field(input, "timeoutMs") {
        Some(Input::Number(n)) if n.is_finite() && *n > 0.0 && *n <= 2_147_483_647.0 => {
            Duration::from_secs_f64(n / 1000.0)
        }
        Some(Input::Number(_)) => {
            return Err(ArgError::invalid(
                "timeoutMs",
                "must be a positive number of milliseconds",
            ))
        }
        Some(other) => return Err(expected("timeoutMs", "number", other)),
        None => return Err(ArgError::invalid("timeoutMs", "is required")),
    };
    let stdin = match field(input, "stdin") {
        None | Some(Input::Undefined) => None,
        Some(Input::String(s)) => Some(s.as_bytes().to_vec()),
        Some(Input::Bytes(b)) => Some(b.clone()),
        Some(other) => return Err(expected("stdin", "string or Buffer", other)),
    };
    let caps = match field(input, "caps") {
        Some(c) => caps_arg(c, "caps")?,
        None => detect(),
    };
    let req = RunRequest {
        command,
        policy,
        caps,
        timeout,
        cwd: opt_string(field(input, "cwd"), "cwd")?,
        base_env: script_sandbox_core::env::pick_safe_env_from_process(),
        env_overrides: string_pairs(field(input, "env"), "env")?,
        stdin,
        scratch_dir: opt_string(field(input, "scratchDir"), "scratchDir")?,
        node_modules_dir: opt_string(field(input, "nodeModulesDir"), "nodeModulesDir")?,
        interpreter_path: opt_string(field(input, "interpreterPath"), "interpreterPath")?,
        applies_node_memory_cap: opt_bool(
            field(input, "appliesNodeMemoryCap"),
            "appliesNodeMemoryCap",
        )?
        .unwrap_or(false),
    };
    validate_request(&req).map_err(|e| ArgError::Invalid {
        field: e.field,
        message: e.message,
    })?;
    Ok(req)
}
