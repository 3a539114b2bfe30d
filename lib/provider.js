'use strict'

// The process-wide policy provider. It holds a JS closure, so it lives in
// JS; what it returns is validated natively like any other policy.

const native = require('./native.js')
const { deepFreeze } = require('./freeze.js')

/** Made once: what every failed or missing provider resolves to. */
const FAIL_CLOSED_SANDBOX_PROFILE = deepFreeze(native.failClosedProfile())

const FAIL_CLOSED_DOWNGRADE_REASON =
  'no global sandbox policy provider was registered (or it failed); fell back to the most ' +
  'restrictive fail-closed policy (deny egress, scratch filesystem with read-only managed ' +
  'packages, privilege drop) instead of running unsandboxed'

let active

function registerSandboxPolicyProvider(provider) {
  if (typeof provider !== 'function') {
    throw new TypeError('registerSandboxPolicyProvider: `provider` must be a function returning a Promise<SandboxPolicy>')
  }
  active = provider
}

function resetSandboxPolicyProvider() {
  active = undefined
}

/**
 * The active policy; no provider, a throwing/rejecting provider, or one that
 * returns an invalid policy → the fail-closed profile, never the permissive
 * default.
 */
async function resolveActiveSandboxPolicy() {
  const failClosed = { policy: FAIL_CLOSED_SANDBOX_PROFILE, failedClosed: true }
  if (active === undefined) return failClosed
  try {
    const candidate = await active()
    const outcome = native.parsePolicy(candidate)
    return outcome.ok ? { policy: outcome.value, failedClosed: false } : failClosed
  } catch {
    return failClosed
  }
}

/** Record the fallback in a run's report, as the original runners do. */
function markFailedClosed(effective) {
  if (effective && Array.isArray(effective.downgrades)) {
    effective.downgrades.push({ layer: 'network', reason: FAIL_CLOSED_DOWNGRADE_REASON })
  }
}

module.exports = {
  FAIL_CLOSED_SANDBOX_PROFILE,
  FAIL_CLOSED_DOWNGRADE_REASON,
  registerSandboxPolicyProvider,
  resetSandboxPolicyProvider,
  resolveActiveSandboxPolicy,
  markFailedClosed,
}
