'use strict'

// The public API. The sandbox logic is native (binding.js loads the addon
// built for this platform); this file turns native outcomes into the public
// error classes, holds the JS-side state that must be JS (the policy
// provider closure, AbortSignal wiring) and re-exports the runners.

const native = require('./lib/native.js')
const { unwrap, SandboxPolicyError, SandboxUnavailableError } = require('./lib/errors.js')
const provider = require('./lib/provider.js')
const { deepFreeze } = require('./lib/freeze.js')

const constants = native.constants()

const SAFE_ENV_VARS = Object.freeze([...constants.safeEnvVars])
const FORBIDDEN_ENV_KEYS = Object.freeze([...constants.forbiddenEnvKeys])
const FORBIDDEN_ENV_PREFIXES = Object.freeze([...constants.forbiddenEnvPrefixes])
const ALWAYS_BLOCKED_CIDRS = Object.freeze([...constants.alwaysBlockedCidrs])
const SANDBOX_UID_ENV = constants.sandboxUidEnv
const SANDBOX_GID_ENV = constants.sandboxGidEnv


function requireObject(value, name) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${name}: expected an options object`)
  }
}

// ---------------------------------------------------------------- policy

const DEFAULT_SANDBOX_PROFILE = deepFreeze(native.defaultProfile())
const FAIL_CLOSED_SANDBOX_PROFILE = provider.FAIL_CLOSED_SANDBOX_PROFILE

/** Validate a policy input (strict, with defaults). Throws SandboxPolicyError. */
function parseSandboxPolicy(input) {
  return unwrap(native.parsePolicy(input))
}

/** zod-like facade so `sandboxPolicySchema.parse(x)` callers keep working. */
const sandboxPolicySchema = Object.freeze({
  parse: parseSandboxPolicy,
  safeParse(input) {
    try {
      return { success: true, data: parseSandboxPolicy(input) }
    } catch (error) {
      if (error instanceof SandboxPolicyError) return { success: false, error }
      throw error
    }
  },
})

function mergeSandboxPolicy(args) {
  requireObject(args, 'mergeSandboxPolicy')
  const { base, override } = args
  if (override === undefined) {
    if (base === undefined) throw new TypeError('mergeSandboxPolicy: `base` is required')
    return base
  }
  return unwrap(native.mergePolicy(base, override))
}

function resolveDefaultSandboxProfile() {
  return native.resolveDefaultProfile(process.env[SANDBOX_UID_ENV], process.env[SANDBOX_GID_ENV])
}

// ---------------------------------------------------------- capabilities

let cachedCapabilities

/** Probed natively once per process; later calls return the same object. */
function detectSandboxCapabilities() {
  if (cachedCapabilities === undefined) {
    cachedCapabilities = deepFreeze(native.detectCapabilities())
  }
  return cachedCapabilities
}

function __resetCapabilitiesCacheForTest() {
  cachedCapabilities = undefined
  native.resetCapabilitiesCache()
}

// -------------------------------------------------------------- env guard

function isForbiddenEnvKey(key) {
  if (typeof key !== 'string') throw new TypeError('isForbiddenEnvKey: `key` must be a string')
  return native.isForbiddenEnvKey(key)
}

/** The safe vars (SAFE_ENV_VARS) present in this process's environment. */
function pickSafeEnv() {
  return native.pickSafeEnv()
}

/** Safe base + overrides; with the denylist, forbidden overrides are dropped and listed. */
function buildSubprocessEnv(args) {
  requireObject(args, 'buildSubprocessEnv')
  return unwrap(native.buildSubprocessEnv(args))
}

// --------------------------------------------------------------- planning

function withWrapCmd(hardening) {
  const launch = hardening.launch
  return {
    ...hardening,
    wrapCmd(cmd) {
      if (!Array.isArray(cmd) || cmd.some((part) => typeof part !== 'string')) {
        throw new TypeError('wrapCmd: `cmd` must be an array of strings')
      }
      return launch == null ? [...cmd] : [launch.launcher, '--', ...cmd]
    },
  }
}

/** Pure: what would be enforced, the child env, and the launch plan. */
function buildSpawnHardening(input) {
  requireObject(input, 'buildSpawnHardening')
  return withWrapCmd(dropAbsent(unwrap(native.buildSpawnHardening(input))))
}

function buildNetworkLayer(input) {
  requireObject(input, 'buildNetworkLayer')
  return unwrap(native.buildNetworkLayer(input))
}

function buildEgressNftRules(input) {
  requireObject(input, 'buildEgressNftRules')
  return unwrap(native.buildEgressNftRules(input))
}

/** Optional fields that are not set are absent, never null. */
function dropAbsent(object) {
  for (const key of Object.keys(object)) {
    if (object[key] === null || object[key] === undefined) delete object[key]
  }
  return object
}

// ---------------------------------------------------------- observability

function summarizeCapabilities(caps) {
  return unwrap(native.summarizeCapabilities(caps))
}

/** Never throws: problems are reported as downgrades. */
function describeEffectiveDefault(input) {
  try {
    return native.describeEffectiveDefault(input ?? {})
  } catch (error) {
    const reason = `cannot describe the effective sandbox: ${error?.message ?? String(error)}`
    return {
      requested: FAIL_CLOSED_SANDBOX_PROFILE,
      enforced: { resources: false, filesystem: false, network: false, privilege: false },
      downgrades: ['resources', 'filesystem', 'network', 'privilege'].map((layer) => ({ layer, reason })),
      notes: [],
      platform: process.platform,
    }
  }
}

/** The downgrades of a run, summarized for one log line; undefined when none. */
function summarizeRunDowngrades(effective) {
  if (effective === undefined || effective === null) return undefined
  return unwrap(native.runLog(effective)).downgrades
}

/** Log a run's downgrades (one warning) and notes (one info line); silent when fully enforced. */
function surfaceRunDowngrades(args) {
  requireObject(args, 'surfaceRunDowngrades')
  const { logger, effective } = args
  if (effective === undefined || effective === null) return
  const log = unwrap(native.runLog(effective))
  if (log.warning !== undefined) logger.warn(log.warning, log.downgrades.reasons)
  if (log.info !== undefined) logger.info(log.info, log.notes.notes)
}

function logSandboxCapabilitiesAtStartup(args) {
  requireObject(args, 'logSandboxCapabilitiesAtStartup')
  const { logger, globalDefault, caps = detectSandboxCapabilities() } = args
  const policy = globalDefault ?? resolveDefaultSandboxProfile()
  const effective = describeEffectiveDefault({ policy, caps })
  logger.info('script sandbox capabilities', {
    capabilities: summarizeCapabilities(caps),
    enabled: policy.enabled,
    enforced: effective.enforced,
    downgrades: effective.downgrades,
    notes: effective.notes,
  })
}

function assessSandboxHostReadiness(args = {}) {
  requireObject(args, 'assessSandboxHostReadiness')
  return unwrap(native.assessReadiness(args.caps ?? detectSandboxCapabilities()))
}

function formatSandboxReadinessBanner(args) {
  requireObject(args, 'formatSandboxReadinessBanner')
  return unwrap(native.formatReadinessBanner(args.readiness))
}

function truncateCapturedOutput(input) {
  requireObject(input, 'truncateCapturedOutput')
  return unwrap(native.truncateCapturedOutput(input))
}

/** POSIX single-quoting for one argv word. */
function shellQuote(value) {
  if (typeof value !== 'string') throw new TypeError('shellQuote: `value` must be a string')
  return `'${value.replaceAll("'", "'\\''")}'`
}

// ----------------------------------------------------------------- running

/**
 * Wrap a chunk callback for the native side: empty chunks (the end-of-run
 * flush) are not passed on, and a throwing callback cannot take the process
 * down from a native call; its error becomes a warning.
 */
function deliver(callback) {
  if (callback === undefined) return undefined
  return (chunk) => {
    if (chunk.length === 0) return
    try {
      callback(chunk)
    } catch (error) {
      process.emitWarning(`script-sandbox: output callback threw: ${error?.stack ?? error}`)
    }
  }
}

/**
 * Run one command in the sandbox. Never rejects for a refusal, a timeout or
 * an abort (those resolve with exitCode -1); rejects with a TypeError naming
 * the option for bad options.
 */
async function runSandboxed(options) {
  requireObject(options, 'runSandboxed')
  const { signal, onStdout, onStderr, policy: given, ...rest } = options
  if (signal !== undefined && (signal === null || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function')) {
    throw new TypeError('runSandboxed: `signal` must be an AbortSignal')
  }
  for (const [name, fn] of [['onStdout', onStdout], ['onStderr', onStderr]]) {
    if (fn !== undefined && typeof fn !== 'function') {
      throw new TypeError(`runSandboxed: \`${name}\` must be a function`)
    }
  }
  let policy = given
  let failedClosed = false
  if (policy === undefined) {
    ;({ policy, failedClosed } = await provider.resolveActiveSandboxPolicy())
  }
  const id = native.newRunId()
  const abort = () => native.abortRun(id)
  signal?.addEventListener('abort', abort, { once: true })
  try {
    const outcome = await native.runSandboxed(
      { ...rest, policy },
      id,
      signal?.aborted ?? false,
      deliver(onStdout),
      deliver(onStderr),
    )
    const result = unwrap(outcome)
    if (failedClosed) provider.markFailedClosed(result.sandbox)
    return result
  } finally {
    signal?.removeEventListener('abort', abort)
  }
}

module.exports = {
  // policy
  parseSandboxPolicy,
  sandboxPolicySchema,
  mergeSandboxPolicy,
  DEFAULT_SANDBOX_PROFILE,
  FAIL_CLOSED_SANDBOX_PROFILE,
  resolveDefaultSandboxProfile,
  SANDBOX_UID_ENV,
  SANDBOX_GID_ENV,
  SandboxPolicyError,
  // provider
  registerSandboxPolicyProvider: provider.registerSandboxPolicyProvider,
  resetSandboxPolicyProvider: provider.resetSandboxPolicyProvider,
  resolveActiveSandboxPolicy: provider.resolveActiveSandboxPolicy,
  FAIL_CLOSED_DOWNGRADE_REASON: provider.FAIL_CLOSED_DOWNGRADE_REASON,
  // capabilities
  detectSandboxCapabilities,
  __resetCapabilitiesCacheForTest,
  // env
  SAFE_ENV_VARS,
  FORBIDDEN_ENV_KEYS,
  FORBIDDEN_ENV_PREFIXES,
  pickSafeEnv,
  isForbiddenEnvKey,
  buildSubprocessEnv,
  // planning
  buildSpawnHardening,
  buildNetworkLayer,
  buildEgressNftRules,
  ALWAYS_BLOCKED_CIDRS,
  SandboxUnavailableError,
  // observability
  summarizeCapabilities,
  describeEffectiveDefault,
  summarizeRunDowngrades,
  surfaceRunDowngrades,
  logSandboxCapabilitiesAtStartup,
  assessSandboxHostReadiness,
  formatSandboxReadinessBanner,
  truncateCapturedOutput,
  shellQuote,
  // running
  runSandboxed,
}

// The runners use the exports above, so they attach last.
const runners = require('./lib/runners.js')
Object.assign(module.exports, runners)
