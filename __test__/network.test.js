'use strict'

// Network egress proven by traffic, to test hosts this suite creates itself
// (two network namespaces with veth pairs and addresses we assign). Nothing
// goes to any other address; the metadata block is proven from the ruleset
// loaded in the run's own namespace.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const sandbox = require('..')
const { requireCapability, hasNamespaces, commandPids, securePolicy } = require('./helpers.js')
const { createTestHosts, hostsFromEnv, namespaceExists } = require('./testhosts.js')

const isRoot = process.geteuid() === 0
let fixture
let hosts = hostsFromEnv()

test.before(async () => {
  if (hosts === null && isRoot && spawnSync('ip', ['-V']).status === 0) {
    fixture = createTestHosts()
    await fixture.ready
    hosts = fixture.hosts
  }
})

test.after(() => {
  if (fixture) {
    fixture.cleanup()
    for (const h of Object.values(fixture.hosts)) assert.equal(namespaceExists(h.namespace), false, `${h.namespace} left behind`)
  }
})

/** Skip (or fail under SANDBOX_MUST_WORK) unless egress can really be tested here. */
function ready(t) {
  if (!requireCapability(t, hasNamespaces(), 'the native engine cannot build namespaces on this host')) return false
  if (!requireCapability(t, hosts !== null, 'no test hosts: creating them needs root and iproute2 (the root pass hands them to the unprivileged pass)')) return false
  const caps = sandbox.detectSandboxCapabilities()
  const missing = [!caps.slirp4netns && 'slirp4netns', !caps.nft && 'nft', !caps.tunUsable && '/dev/net/tun access'].filter(Boolean)
  return requireCapability(t, caps.netEgressRootless, `rootless egress unavailable: ${missing.join(', ') || 'unknown'}`)
}

/** A bash probe that tries both hosts and prints what answered. */
function probeBoth() {
  return Object.values(hosts)
    .map((h) => `(exec 3<>/dev/tcp/${h.ip}/${h.port} && head -1 <&3) 2>/dev/null || echo "no-answer-from-${h.ip}"`)
    .join('; ')
}

function run(network, extra = {}) {
  return sandbox.runSandboxed({
    command: ['bash', '-c', probeBoth()],
    policy: securePolicy({ onUnavailable: 'fail', network }),
    timeoutMs: 20000,
    ...extra,
  })
}

test('allowlist reaches the allowed host and not the other one', async (t) => {
  if (!ready(t)) return
  const r = await run({ mode: 'allowlist', allow: [`${hosts.A.ip}/32`] })
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(r.sandbox.downgrades, [])
  assert.equal(r.sandbox.enforced.network, true)
  assert.match(r.stdout, new RegExp(hosts.A.reply))
  assert.equal(r.stdout.includes(hosts.B.reply), false)
  assert.match(r.stdout, new RegExp(`no-answer-from-${hosts.B.ip.replaceAll('.', '\\.')}`))
})

test('deny reaches neither host', async (t) => {
  if (!ready(t)) return
  const r = await run({ mode: 'deny' })
  assert.equal(r.sandbox.enforced.network, true)
  assert.equal(r.stdout.includes(hosts.A.reply), false)
  assert.equal(r.stdout.includes(hosts.B.reply), false)
})

test('unrestricted with the metadata block reaches both hosts', async (t) => {
  if (!ready(t)) return
  const r = await run({ mode: 'unrestricted', denyLinkLocalAndMetadata: true })
  assert.equal(r.sandbox.enforced.network, true)
  assert.deepEqual(r.sandbox.downgrades, [])
  assert.match(r.stdout, new RegExp(hosts.A.reply))
  assert.match(r.stdout, new RegExp(hosts.B.reply))
})

/** The ruleset loaded in a live run's network namespace, read from outside. */
function liveRuleset(pid) {
  const nft = sandbox.detectSandboxCapabilities().nft
  const r = spawnSync('nsenter', ['-t', String(pid), '-n', nft, 'list', 'ruleset'], { encoding: 'utf8' })
  assert.equal(r.status, 0, `nsenter/nft failed: ${r.stderr}`)
  return r.stdout
}

/**
 * The rulesets of one run: as the launcher listed it inside the namespace
 * after loading (reported in the result), and, as root, read independently
 * from the live namespace while the run sleeps.
 */
async function rulesetsOfRun(network) {
  const marker = `9${Math.floor(Math.random() * 1e8)}`
  const controller = new AbortController()
  const pending = sandbox.runSandboxed({ command: ['sleep', marker], policy: securePolicy({ network }), timeoutMs: 10000, signal: controller.signal })
  let pids = []
  for (let i = 0; i < 200 && pids.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 25))
    pids = commandPids(['sleep', marker])
  }
  assert.ok(pids.length > 0, 'the run was seen from the host')
  let live
  try {
    if (isRoot) live = liveRuleset(pids[0])
  } finally {
    controller.abort()
  }
  const result = await pending
  assert.equal(typeof result.egressRuleset, 'string', 'the run reports its loaded ruleset')
  return [result.egressRuleset, ...(live === undefined ? [] : [live])]
}

/** Index of the first line matching `pattern` (-1 if none). */
function lineOf(text, pattern) {
  return text.split('\n').findIndex((line) => pattern.test(line))
}

test('the loaded allowlist ruleset blocks metadata ranges before any accept', async (t) => {
  if (!ready(t)) return
  for (const ruleset of await rulesetsOfRun({ mode: 'allowlist', allow: [`${hosts.A.ip}/32`, '169.254.169.254/32'] })) {
  const block4 = lineOf(ruleset, /ip daddr 169\.254\.0\.0\/16 goto refuse/)
  const block6 = lineOf(ruleset, /ip6 daddr \{ (fc00::\/7, fe80::\/10|fe80::\/10, fc00::\/7) \} goto refuse/)
  const firstAccept = lineOf(ruleset, /accept/)
  assert.ok(block4 >= 0 && block6 >= 0, ruleset)
  assert.ok(block4 < firstAccept && block6 < firstAccept, `blocks must come first:\n${ruleset}`)
  assert.ok(lineOf(ruleset, new RegExp(`ip daddr .*${hosts.A.ip.replaceAll('.', '\\.')}.* accept`)) > block4, ruleset)
  assert.match(ruleset, /policy drop/)
  }
})

test('the loaded metadata-only ruleset accepts by default and blocks the metadata ranges', async (t) => {
  if (!ready(t)) return
  for (const ruleset of await rulesetsOfRun({ mode: 'unrestricted', denyLinkLocalAndMetadata: true })) {
  assert.match(ruleset, /policy accept/)
  assert.ok(lineOf(ruleset, /ip daddr 169\.254\.0\.0\/16 goto refuse/) >= 0, ruleset)
  assert.ok(lineOf(ruleset, /ip6 daddr \{ (fc00::\/7, fe80::\/10|fe80::\/10, fc00::\/7) \} goto refuse/) >= 0, ruleset)
  }
})

test('a missing nft or slirp4netns degrades the allowlist, or refuses it under "fail"', async (t) => {
  if (!requireCapability(t, hasNamespaces(), 'the native engine cannot build namespaces on this host')) return
  const caps = sandbox.detectSandboxCapabilities()
  const network = { mode: 'allowlist', allow: ['192.0.2.1/32'], denyLinkLocalAndMetadata: true }
  for (const [missing, injected] of [['nft', { ...caps, nft: null, netEgressRootless: false }], ['slirp4netns', { ...caps, slirp4netns: null, netEgressRootless: false }]]) {
    const degraded = await sandbox.runSandboxed({ command: ['true'], policy: securePolicy({ network }), caps: injected, timeoutMs: 10000 })
    assert.equal(degraded.sandbox.enforced.network, false)
    const reason = degraded.sandbox.downgrades.find((d) => d.layer === 'network')?.reason ?? ''
    assert.match(reason, new RegExp(missing))
    const refused = await sandbox.runSandboxed({ command: ['true'], policy: securePolicy({ onUnavailable: 'fail', network }), caps: injected, timeoutMs: 10000 })
    assert.equal(refused.exitCode, -1)
    assert.match(refused.stderr, new RegExp(`sandbox unavailable: .*${missing}`))
  }
})

test('with slirp4netns gone from PATH, detection notices and the allowlist degrades', async (t) => {
  if (!requireCapability(t, hasNamespaces(), 'the native engine cannot build namespaces on this host')) return
  // A PATH with the tools a run needs but not slirp4netns.
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'path-without-slirp-'))
  try {
    for (const tool of ['sh', 'true']) {
      const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim()
      fs.symlinkSync(found, path.join(bin, tool))
    }
    const child = spawnSync(process.execPath, ['-e', `
      const s = require(${JSON.stringify(path.resolve(__dirname, '..'))})
      const caps = s.detectSandboxCapabilities()
      s.runSandboxed({ command: ['true'], timeoutMs: 10000, policy: { network: { mode: 'allowlist', allow: ['192.0.2.1'] } } })
        .then((r) => console.log(JSON.stringify({ slirp: caps.slirp4netns, rootless: caps.netEgressRootless, downgrades: r.sandbox.downgrades })))
    `], { encoding: 'utf8', env: { PATH: bin, HOME: os.tmpdir() } })
    assert.equal(child.status, 0, child.stderr)
    const out = JSON.parse(child.stdout)
    assert.equal(out.slirp, null)
    assert.equal(out.rootless, false)
    assert.ok(out.downgrades.some((d) => d.layer === 'network' && /slirp4netns/.test(d.reason)), JSON.stringify(out.downgrades))
  } finally {
    fs.rmSync(bin, { recursive: true, force: true })
  }
})

test('egress outlives idle worker threads: still there 12 s into a run', async (t) => {
  if (!ready(t)) return
  const script = `sleep 12; (exec 3<>/dev/tcp/${hosts.A.ip}/${hosts.A.port} && head -1 <&3) 2>&1; cat /proc/net/dev`
  const r = await sandbox.runSandboxed({
    command: ['bash', '-c', script],
    policy: securePolicy({ onUnavailable: 'fail', network: { mode: 'allowlist', allow: [`${hosts.A.ip}/32`] } }),
    timeoutMs: 30000,
  })
  assert.equal(r.exitCode, 0, r.stderr)
  assert.match(r.stdout, new RegExp(hosts.A.reply))
  assert.match(r.stdout, /tap0/)
})
