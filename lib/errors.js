'use strict'

// The public error classes, and the one place native outcomes become them.

/** A policy input failed validation; `issues` names every bad field. */
class SandboxPolicyError extends Error {
  constructor(issues, message) {
    const list = Array.isArray(issues) ? issues : []
    super(message ?? `invalid sandbox policy: ${list.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
    this.name = 'SandboxPolicyError'
    this.code = 'INVALID_POLICY'
    this.issues = list
  }
}

/** A requested layer cannot be enforced and the policy says "fail". */
class SandboxUnavailableError extends Error {
  constructor(downgrades) {
    const list = Array.isArray(downgrades) ? downgrades : []
    super(`sandbox unavailable: ${list.map((d) => `${d.layer}: ${d.reason}`).join('; ')}`)
    this.name = 'SandboxUnavailableError'
    this.downgrades = list
  }
}

/** `{ ok, value }` → value; `{ ok: false, error }` → the matching throw. */
function unwrap(outcome) {
  if (outcome.ok) return outcome.value
  const { code, message } = outcome.error
  if (code === 'INVALID_POLICY') throw new SandboxPolicyError(outcome.error.issues, message)
  if (code === 'SANDBOX_UNAVAILABLE') throw new SandboxUnavailableError(outcome.error.downgrades)
  const error = code === 'INVALID_ARGUMENT' ? new TypeError(message) : new Error(message)
  error.code = code
  if (outcome.error.field !== undefined) error.field = outcome.error.field
  throw error
}

module.exports = { SandboxPolicyError, SandboxUnavailableError, unwrap }
