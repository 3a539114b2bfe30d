'use strict'

// Shared test helpers: capability skips that become failures in CI, and
// process-survivor checks.

const fs = require('node:fs')
const crypto = require('node:crypto')
const sandbox = require('..')

/** Skip with a printed reason, or fail when the host is known to support it. */
function requireCapability(t, ok, reason) {
  if (ok) return true
  if (process.env.SANDBOX_MUST_WORK === '1') {
    throw new Error(`required capability missing: ${reason}`)
  }
  console.log(`# skipping: ${reason}`)
  t.skip(reason)
  return false
}

/** True when this host lets the native engine build namespaces. */
function hasNamespaces() {
  const caps = sandbox.detectSandboxCapabilities()
  return caps.engine === 'native' && caps.nativeNamespaces === true
}

function uniqueToken() {
  return crypto.randomBytes(6).toString('hex')
}

/** Every live process whose argv contains `marker`. */
function processesWith(marker) {
  const found = []
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      if (cmdline.includes(marker)) found.push(Number(pid))
    } catch {
      // exited while we looked
    }
  }
  return found
}

/** Live processes whose argv starts with `argv` (the command itself, not its launcher). */
function commandPids(argv) {
  const prefix = argv.join('\0') + '\0'
  return processesWith(prefix).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(prefix)
    } catch {
      return false
    }
  })
}

/** Wait (bounded) until no process carries `marker`; returns the survivors. */
async function survivorsAfter(marker, ms = 3000) {
  const deadline = Date.now() + ms
  let left = processesWith(marker)
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50))
    left = processesWith(marker)
  }
  return left
}

/** The secure default with "degrade", so a host that lacks a layer still runs. */
function securePolicy(overrides = {}) {
  const base = sandbox.resolveDefaultSandboxProfile()
  return {
    ...base,
    onUnavailable: 'degrade',
    ...overrides,
    resources: { ...base.resources, ...(overrides.resources ?? {}) },
    filesystem: { ...base.filesystem, ...(overrides.filesystem ?? {}) },
    network: { ...base.network, ...(overrides.network ?? {}) },
    privilege: { ...base.privilege, ...(overrides.privilege ?? {}) },
  }
}

function sh(script, policy = securePolicy(), extra = {}) {
  return sandbox.runSandboxed({ command: ['sh', '-c', script], policy, timeoutMs: 20000, ...extra })
}

/** Paths of the injected fake host. */
const FAKE_HOST = Object.freeze({
  LAUNCHER: '/opt/sandbox/script-sandbox-launcher',
  SLIRP: '/usr/bin/slirp4netns',
  NFT: '/usr/sbin/nft',
})

/** A complete capability set, for injection: a Linux host with every primitive. */
function fullCaps(overrides = {}) {
  return {
    platform: 'linux',
    euidIsRoot: false,
    hasPrlimit: true,
    rlimitNative: true,
    wrapper: 'bwrap',
    userNamespaces: true,
    netNamespaces: true,
    userNsCreatable: true,
    netEgressIface: null,
    netEgressAddressing: null,
    netEgressRootless: true,
    nativeNamespaces: true,
    landlockAbi: 4,
    seccomp: true,
    cgroup: { version: 2, writable: true },
    slirp4netns: FAKE_HOST.SLIRP,
    nft: FAKE_HOST.NFT,
    tunUsable: true,
    engine: 'native',
    launcher: FAKE_HOST.LAUNCHER,
    ...overrides,
  }
}

/** A macOS host: nothing the engine needs. */
function darwinCaps(overrides = {}) {
  return {
    platform: 'darwin',
    euidIsRoot: false,
    hasPrlimit: false,
    rlimitNative: false,
    wrapper: null,
    userNamespaces: false,
    netNamespaces: false,
    userNsCreatable: false,
    netEgressIface: null,
    netEgressAddressing: null,
    netEgressRootless: false,
    nativeNamespaces: false,
    landlockAbi: null,
    seccomp: false,
    cgroup: null,
    slirp4netns: null,
    nft: null,
    tunUsable: false,
    engine: null,
    launcher: null,
    ...overrides,
  }
}

module.exports = {
  FAKE_HOST,
  fullCaps,
  darwinCaps,
  requireCapability,
  hasNamespaces,
  uniqueToken,
  processesWith,
  commandPids,
  survivorsAfter,
  securePolicy,
  sh,
}
