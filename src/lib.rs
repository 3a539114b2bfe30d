//! N-API binding: converts JS values to core types and core results back.
//! No sandbox logic lives here.
//!
//! Every export returns an *outcome* object — `{ ok: true, value }` or
//! `{ ok: false, error: { code, message, ... } }` — and `index.js` turns
//! failures into the public error classes, so `instanceof` works from JS.
//! Every export also catches panics (`catch_unwind`): none reaches JS.

mod args;
mod convert;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::{Buffer, PromiseRaw, ToNapiValue, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Result, Status};
use napi_derive::napi;
use serde_json::{json, Value};
use tokio::sync::watch;

use script_sandbox_core::capabilities::{self, SandboxCapabilities};
use script_sandbox_core::input::Input;
use script_sandbox_core::plan::{self, FilesystemInputs, HardeningInput, RealHostPaths};
use script_sandbox_core::run::{self, OutputSink};
use script_sandbox_core::{env as env_guard, network, observability, output, policy};

use args::{
    caps_arg, field, opt_bool, opt_string, policy_arg, string_list, string_pairs, ArgError,
};
use convert::{to_input, to_js};

fn ok(value: Value) -> Value {
    json!({ "ok": true, "value": value })
}

fn fail(code: &str, message: String, extra: Value) -> Value {
    let mut error = json!({ "code": code, "message": message });
    if let (Value::Object(e), Value::Object(x)) = (&mut error, extra) {
        e.extend(x);
    }
    json!({ "ok": false, "error": error })
}

fn policy_failure(err: &policy::PolicyError) -> Value {
    fail(
        "INVALID_POLICY",
        err.to_string(),
        json!({ "issues": err.issues }),
    )
}

fn arg_failure(err: ArgError) -> Value {
    match err {
        ArgError::Policy(p) => policy_failure(&p),
        ArgError::Invalid { field, message } => fail(
            "INVALID_ARGUMENT",
            format!("invalid `{field}`: {message}"),
            json!({ "field": field }),
        ),
    }
}

fn unavailable_failure(err: &script_sandbox_core::report::SandboxUnavailable) -> Value {
    fail(
        "SANDBOX_UNAVAILABLE",
        err.to_string(),
        json!({ "downgrades": err.downgrades }),
    )
}

/// Where the launcher may be: the override, else next to this `.node` file.
fn launcher_candidates() -> Vec<PathBuf> {
    if let Some(path) = std::env::var_os("CHECKSTACK_SANDBOX_LAUNCHER").filter(|v| !v.is_empty()) {
        return vec![PathBuf::from(path)];
    }
    addon_dir()
        .map(|dir| vec![dir.join("script-sandbox-launcher")])
        .unwrap_or_default()
}

/// The directory holding this shared object, found via `dladdr`.
fn addon_dir() -> Option<PathBuf> {
    // SAFETY: dladdr only reads loader tables for an address inside this object.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(launcher_candidates as *const libc::c_void, &mut info) == 0
            || info.dli_fname.is_null()
        {
            return None;
        }
        let path = std::ffi::CStr::from_ptr(info.dli_fname).to_str().ok()?;
        let path = std::fs::canonicalize(path).ok()?;
        path.parent().map(|p| p.to_path_buf())
    }
}

fn detected_caps() -> SandboxCapabilities {
    capabilities::detect_cached(&launcher_candidates())
}

/// Caps from the caller, or the detected ones when absent.
fn caps_or_detected(
    input: &Input,
    name: &str,
) -> std::result::Result<SandboxCapabilities, ArgError> {
    match field(input, name) {
        Some(c) => caps_arg(c, name),
        None => Ok(detected_caps()),
    }
}

#[napi(catch_unwind)]
pub fn parse_policy(env: Env, input: Unknown) -> Result<Value> {
    let input = to_input(&env, &input)?;
    Ok(match policy::parse_policy(&input) {
        Ok(p) => ok(to_js(&p)?),
        Err(e) => policy_failure(&e),
    })
}

#[napi(catch_unwind)]
pub fn merge_policy(env: Env, base: Unknown, override_: Unknown) -> Result<Value> {
    let base = to_input(&env, &base)?;
    let over = to_input(&env, &override_)?;
    let base = match policy_arg(&base, "base") {
        Ok(b) => b,
        Err(e) => return Ok(arg_failure(e)),
    };
    let over = match over {
        Input::Undefined => None,
        other => Some(other),
    };
    Ok(match policy::merge_policy(&base, over.as_ref()) {
        Ok(p) => ok(to_js(&p)?),
        Err(e) => policy_failure(&e),
    })
}

#[napi(catch_unwind)]
pub fn default_profile() -> Result<Value> {
    to_js(&policy::default_profile())
}

#[napi(catch_unwind)]
pub fn fail_closed_profile() -> Result<Value> {
    to_js(&policy::fail_closed_profile())
}

#[napi(catch_unwind)]
pub fn resolve_default_profile(uid_env: Option<String>, gid_env: Option<String>) -> Result<Value> {
    to_js(&policy::resolve_default_profile(
        uid_env.as_deref(),
        gid_env.as_deref(),
    ))
}

#[napi(catch_unwind)]
pub fn constants() -> Result<Value> {
    Ok(json!({
        "alwaysBlockedCidrs": network::ALWAYS_BLOCKED_CIDRS,
        "safeEnvVars": env_guard::SAFE_ENV_VARS,
        "forbiddenEnvKeys": env_guard::FORBIDDEN_ENV_KEYS,
        "forbiddenEnvPrefixes": env_guard::FORBIDDEN_ENV_PREFIXES,
        "sandboxUidEnv": policy::SANDBOX_UID_ENV,
        "sandboxGidEnv": policy::SANDBOX_GID_ENV,
    }))
}

/// The safe vars of this process's environment.
#[napi(catch_unwind)]
pub fn pick_safe_env() -> Result<Value> {
    to_js(&env_guard::pick_safe_env_from_process())
}

#[napi(catch_unwind)]
pub fn is_forbidden_env_key(key: String) -> bool {
    env_guard::is_forbidden_env_key(&key)
}

/// `{ base, overrides?, applyDenylist }` → `{ env, dropped }`.
#[napi(catch_unwind)]
pub fn build_subprocess_env(env: Env, input: Unknown) -> Result<Value> {
    let input = to_input(&env, &input)?;
    let parsed = (|| -> std::result::Result<_, ArgError> {
        let base = string_pairs(
            Some(field(&input, "base").unwrap_or(&Input::Undefined)),
            "base",
        )?;
        let overrides = string_pairs(field(&input, "overrides"), "overrides")?;
        let deny = opt_bool(field(&input, "applyDenylist"), "applyDenylist")?
            .ok_or_else(|| ArgError::invalid("applyDenylist", "expected boolean"))?;
        Ok((base, overrides, deny))
    })();
    Ok(match parsed {
        Ok((base, overrides, deny)) => {
            let (env, dropped) =
                env_guard::build_subprocess_env(&base.into_iter().collect(), &overrides, deny);
            ok(json!({ "env": env, "dropped": dropped }))
        }
        Err(e) => arg_failure(e),
    })
}

#[napi(catch_unwind)]
pub fn detect_capabilities() -> Result<Value> {
    to_js(&detected_caps())
}

#[napi(catch_unwind)]
pub fn reset_capabilities_cache() {
    capabilities::reset_cache();
}

#[napi(catch_unwind)]
pub fn capability_probe_count() -> u32 {
    capabilities::probe_count() as u32
}

#[napi(catch_unwind)]
pub fn build_spawn_hardening(env: Env, input: Unknown) -> Result<Value> {
    let input = to_input(&env, &input)?;
    let parsed = (|| -> std::result::Result<_, ArgError> {
        let policy = policy_arg(
            field(&input, "policy").unwrap_or(&Input::Undefined),
            "policy",
        )?;
        let caps = caps_or_detected(&input, "caps")?;
        let base_env = string_pairs(field(&input, "baseEnv"), "baseEnv")?;
        let overrides = string_pairs(field(&input, "envOverrides"), "envOverrides")?;
        let fs = field(&input, "filesystem");
        let filesystem = FilesystemInputs {
            scratch_dir: opt_string(
                fs.and_then(|f| field(f, "scratchDir")),
                "filesystem.scratchDir",
            )?,
            node_modules_dir: opt_string(
                fs.and_then(|f| field(f, "nodeModulesDir")),
                "filesystem.nodeModulesDir",
            )?,
            interpreter_path: opt_string(
                fs.and_then(|f| field(f, "interpreterPath")),
                "filesystem.interpreterPath",
            )?,
        };
        Ok((
            policy,
            caps,
            base_env,
            overrides,
            filesystem,
            opt_string(field(&input, "nftRulesetPath"), "nftRulesetPath")?,
            opt_string(
                field(&input, "rootlessLauncherPath"),
                "rootlessLauncherPath",
            )?,
            opt_bool(
                field(&input, "appliesNodeMemoryCap"),
                "appliesNodeMemoryCap",
            )?
            .unwrap_or(false),
        ))
    })();
    let (policy, caps, base_env, overrides, filesystem, nft_path, launcher_path, node_cap) =
        match parsed {
            Ok(p) => p,
            Err(e) => return Ok(arg_failure(e)),
        };
    let hardening_input = HardeningInput {
        policy: &policy,
        caps: &caps,
        base_env: base_env.into_iter().collect(),
        env_overrides: overrides,
        filesystem,
        nft_ruleset_path: nft_path,
        rootless_launcher_path: launcher_path,
        applies_node_memory_cap: node_cap,
        supervisor_ids: capabilities::supervisor_ids(),
        paths: &RealHostPaths,
    };
    Ok(match plan::build_spawn_hardening(&hardening_input) {
        Ok(h) => ok(json!({
            "env": h.env,
            "droppedEnvKeys": h.dropped_env_keys,
            "uid": h.uid,
            "gid": h.gid,
            "maxOutputBytes": h.max_output_bytes,
            "nodeMemoryFlagEnv": h.node_memory_flag_env,
            "nftRuleset": h.nft_ruleset,
            "rootlessLauncher": h.rootless_launcher,
            "effective": to_js(&h.effective)?,
            "launch": to_js(&h.launch)?,
        })),
        Err(e) => unavailable_failure(&e),
    })
}

#[napi(catch_unwind)]
pub fn build_network_layer(env: Env, input: Unknown) -> Result<Value> {
    let input = to_input(&env, &input)?;
    let parsed = (|| -> std::result::Result<_, ArgError> {
        let network = args::network_arg(field(&input, "policy"), "policy")?;
        let caps = caps_or_detected(&input, "caps")?;
        Ok((network, caps))
    })();
    Ok(match parsed {
        Ok((network, caps)) => ok(to_js(&network::build_network_layer(&network, &caps))?),
        Err(e) => arg_failure(e),
    })
}

#[napi(catch_unwind)]
pub fn build_egress_nft_rules(env: Env, input: Unknown) -> Result<Value> {
    let input = to_input(&env, &input)?;
    let parsed = (|| -> std::result::Result<_, ArgError> {
        let mode = match opt_string(field(&input, "mode"), "mode")?.as_deref() {
            Some("allowlist") => network::EgressRulesMode::Allowlist,
            Some("metadata-only") => network::EgressRulesMode::MetadataOnly,
            _ => {
                return Err(ArgError::invalid(
                    "mode",
                    "expected \"allowlist\" or \"metadata-only\"",
                ))
            }
        };
        let allow = string_list(field(&input, "allow"), "allow")?;
        let deny = opt_bool(field(&input, "denyMetadata"), "denyMetadata")?
            .ok_or_else(|| ArgError::invalid("denyMetadata", "expected boolean"))?;
        Ok((mode, allow, deny))
    })();
    Ok(match parsed {
        Ok((mode, allow, deny)) => match network::build_egress_nft_rules(mode, &allow, deny) {
            Ok(rules) => ok(Value::String(rules)),
            Err(e) => policy_failure(&e),
        },
        Err(e) => arg_failure(e),
    })
}

#[napi(catch_unwind)]
pub fn summarize_capabilities(env: Env, caps: Unknown) -> Result<Value> {
    let caps = to_input(&env, &caps)?;
    Ok(match caps_arg(&caps, "caps") {
        Ok(c) => ok(to_js(&observability::summarize_capabilities(&c))?),
        Err(e) => arg_failure(e),
    })
}

/// Never fails: a malformed policy or caps object is reported as a
/// downgrade of every layer.
#[napi(catch_unwind)]
pub fn describe_effective_default(env: Env, input: Unknown) -> Result<Value> {
    let input = to_input(&env, &input).unwrap_or(Input::Undefined);
    let policy = field(&input, "policy").cloned().unwrap_or(Input::Undefined);
    to_js(&match caps_or_detected(&input, "caps") {
        Ok(caps) => plan::describe_effective_default_input(&policy, &caps, &RealHostPaths),
        Err(e) => plan::undescribable(e.to_string(), std::env::consts::OS),
    })
}

/// What to log for a run's report: `{ downgrades?, warning?, notes?, info? }`.
#[napi(catch_unwind)]
pub fn run_log(env: Env, effective: Unknown) -> Result<Value> {
    let effective = to_input(&env, &effective)?;
    Ok(match args::report_view_arg(&effective, "effective") {
        Ok(view) => ok(to_js(&observability::run_log(&view))?),
        Err(e) => arg_failure(e),
    })
}

#[napi(catch_unwind)]
pub fn assess_readiness(env: Env, caps: Unknown) -> Result<Value> {
    let caps = to_input(&env, &caps)?;
    let caps = match caps {
        Input::Undefined => Ok(detected_caps()),
        ref c => caps_arg(c, "caps"),
    };
    Ok(match caps {
        Ok(c) => ok(to_js(&observability::assess_readiness(&c))?),
        Err(e) => arg_failure(e),
    })
}

#[napi(catch_unwind)]
pub fn format_readiness_banner(env: Env, readiness: Unknown) -> Result<Value> {
    let readiness = to_input(&env, &readiness)?;
    Ok(match args::readiness_arg(&readiness, "readiness") {
        Ok(r) => ok(Value::String(observability::format_readiness_banner(&r))),
        Err(e) => arg_failure(e),
    })
}

#[napi(catch_unwind)]
pub fn truncate_captured_output(env: Env, input: Unknown) -> Result<Value> {
    let input = to_input(&env, &input)?;
    let parsed = (|| -> std::result::Result<_, ArgError> {
        let stdout = opt_string(field(&input, "stdout"), "stdout")?
            .ok_or_else(|| ArgError::invalid("stdout", "expected string"))?;
        let stderr = opt_string(field(&input, "stderr"), "stderr")?
            .ok_or_else(|| ArgError::invalid("stderr", "expected string"))?;
        let max = args::opt_count(field(&input, "maxOutputBytes"), "maxOutputBytes")?;
        Ok((stdout, stderr, max))
    })();
    Ok(match parsed {
        Ok((stdout, stderr, max)) => {
            let (o, e, t) = output::truncate_captured_output(&stdout, &stderr, max);
            ok(json!({ "stdout": o, "stderr": e, "truncated": t }))
        }
        Err(e) => arg_failure(e),
    })
}

/// A process-wide run id (JS module instances in worker threads share this
/// addon, so ids must not come from a per-module counter).
#[napi(catch_unwind)]
pub fn new_run_id() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Cancellation senders of in-flight runs, by id (see `new_run_id`).
fn runs() -> &'static Mutex<HashMap<u32, watch::Sender<bool>>> {
    static RUNS: OnceLock<Mutex<HashMap<u32, watch::Sender<bool>>>> = OnceLock::new();
    RUNS.get_or_init(|| Mutex::new(HashMap::new()))
}

type ChunkCallback = ThreadsafeFunction<Buffer, (), Buffer, Status, false>;

/// A finished run, converted straight into JS values (no intermediate
/// `serde_json::Value`: the captured output is not copied once more).
pub struct RunReply(std::result::Result<run::RunResult, Value>);

impl ToNapiValue for RunReply {
    unsafe fn to_napi_value(
        raw: napi::sys::napi_env,
        reply: Self,
    ) -> Result<napi::sys::napi_value> {
        let env = Env::from_raw(raw);
        match reply.0 {
            Ok(result) => {
                let mut outcome = napi::bindgen_prelude::Object::new(&env)?;
                outcome.set_named_property("ok", true)?;
                outcome.set_named_property("value", env.to_js_value(&result)?)?;
                // SAFETY: converting an object created in this env.
                unsafe { ToNapiValue::to_napi_value(raw, outcome) }
            }
            // SAFETY: as above.
            Err(failure) => unsafe { ToNapiValue::to_napi_value(raw, failure) },
        }
    }
}

struct CallbackSink {
    stdout: Option<ChunkCallback>,
    stderr: Option<ChunkCallback>,
}

impl OutputSink for CallbackSink {
    fn stdout(&self, chunk: &[u8]) {
        if let Some(cb) = &self.stdout {
            cb.call(
                Buffer::from(chunk.to_vec()),
                ThreadsafeFunctionCallMode::NonBlocking,
            );
        }
    }
    fn stderr(&self, chunk: &[u8]) {
        if let Some(cb) = &self.stderr {
            cb.call(
                Buffer::from(chunk.to_vec()),
                ThreadsafeFunctionCallMode::NonBlocking,
            );
        }
    }
}

/// Start a run. Options are validated here (synchronously, so errors name
/// the field); the run itself happens on the tokio runtime.
#[napi(catch_unwind, ts_return_type = "Promise<unknown>")]
pub fn run_sandboxed<'env>(
    env: &'env Env,
    options: Unknown,
    run_id: u32,
    already_aborted: bool,
    on_stdout: Option<ChunkCallback>,
    on_stderr: Option<ChunkCallback>,
) -> Result<PromiseRaw<'env, RunReply>> {
    let input = to_input(env, &options)?;
    let request = args::run_request(&input, detected_caps);
    let (tx, rx) = watch::channel(already_aborted);
    let request = match request {
        Ok(r) => {
            runs()
                .lock()
                .map_err(|_| napi::Error::from_reason("run registry poisoned"))?
                .insert(run_id, tx);
            Ok(r)
        }
        Err(e) => Err(arg_failure(e)),
    };
    let sink = CallbackSink {
        stdout: on_stdout,
        stderr: on_stderr,
    };
    env.spawn_future(async move {
        let req = match request {
            Ok(r) => r,
            Err(failure) => return Ok(RunReply(Err(failure))),
        };
        // A panic inside the run surfaces as a JoinError here, never in JS.
        let joined = tokio::spawn(async move {
            let result = run::run_sandboxed(req, &sink, rx).await;
            // Each callback queue is FIFO: an empty chunk sent last and awaited
            // means every real chunk was delivered before the promise settles.
            for callback in [&sink.stdout, &sink.stderr].into_iter().flatten() {
                let _ = callback.call_async(Buffer::from(Vec::new())).await;
            }
            result
        })
        .await;
        if let Ok(mut map) = runs().lock() {
            map.remove(&run_id);
        }
        Ok(RunReply(match joined {
            Ok(result) => Ok(result),
            Err(e) => Err(fail(
                "INTERNAL",
                format!("the run failed internally: {e}"),
                json!({}),
            )),
        }))
    })
}

/// Abort an in-flight run (no-op when it already ended).
#[napi(catch_unwind)]
pub fn abort_run(run_id: u32) {
    if let Ok(map) = runs().lock() {
        if let Some(tx) = map.get(&run_id) {
            let _ = tx.send(true);
        }
    }
}

/// Remove a per-run directory and everything a run left in it, including
/// directories it made unreadable. Used by the ESM runner's `finally`.
#[napi(catch_unwind)]
pub fn remove_tree(path: String) {
    if path.starts_with('/') && path != "/" {
        script_sandbox_core::scratch::remove_tree(std::path::Path::new(&path));
    }
}
