'use strict'

// Fail-closed refusals: a host without the engine (simulated by pointing the
// launcher override at nothing, before the first detection in this process)
// must refuse a "fail" policy without spawning anything or leaving files.

process.env.CHECKSTACK_SANDBOX_LAUNCHER = '/nonexistent/script-sandbox-launcher'

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const sandbox = require('..')
const { uniqueToken } = require('./helpers.js')

const failPolicy = { ...sandbox.DEFAULT_SANDBOX_PROFILE, onUnavailable: 'fail' }

function tmpEntries(prefix) {
  return fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(prefix)).sort()
}

test.afterEach(() => sandbox.resetSandboxPolicyProvider())

test('without the launcher the engine is reported missing', () => {
  const caps = sandbox.detectSandboxCapabilities()
  assert.equal(caps.launcher, null)
  assert.equal(caps.engine, null)
  assert.equal(sandbox.assessSandboxHostReadiness({ caps }).enforceable, false)
})

test('runSandboxed refuses, spawns nothing and leaves no scratch dir', async () => {
  const marker = path.join(os.tmpdir(), `refused-${uniqueToken()}`)
  const before = tmpEntries('script-sandbox-')
  const r = await sandbox.runSandboxed({ command: ['sh', '-c', `touch ${marker}`], policy: failPolicy, timeoutMs: 5000 })
  assert.equal(r.exitCode, -1)
  assert.match(r.stderr, /^sandbox unavailable: /)
  assert.ok(r.sandbox.downgrades.length > 0)
  assert.deepEqual(r.sandbox.enforced, { resources: false, filesystem: false, network: false, privilege: false })
  assert.equal(r.resourceUsage, null)
  assert.equal(fs.existsSync(marker), false, 'the refused command ran')
  assert.deepEqual(tmpEntries('script-sandbox-'), before)
})

test('buildSpawnHardening throws SandboxUnavailableError under "fail"', () => {
  assert.throws(
    () => sandbox.buildSpawnHardening({ policy: failPolicy, caps: sandbox.detectSandboxCapabilities(), baseEnv: {}, filesystem: { scratchDir: '/tmp/x' } }),
    (error) => error instanceof sandbox.SandboxUnavailableError && error.name === 'SandboxUnavailableError' && error.downgrades.length > 0,
  )
})

test('shell runner refusal: exitCode -1, the downgrades, no marker, no leaked dir', async () => {
  sandbox.registerSandboxPolicyProvider(async () => failPolicy)
  const marker = path.join(os.tmpdir(), `refused-shell-${uniqueToken()}`)
  const before = tmpEntries('script-sandbox-')
  const r = await sandbox.defaultShellScriptRunner.run({ script: `touch ${marker}`, timeoutMs: 5000 })
  assert.equal(r.exitCode, -1)
  assert.match(r.stderr, /^sandbox unavailable: /)
  assert.ok(r.sandbox.downgrades.length > 0)
  assert.equal(fs.existsSync(marker), false)
  assert.deepEqual(tmpEntries('script-sandbox-'), before)
})

test('ESM runner refusal: an error, no marker, no per-run dir', async () => {
  sandbox.registerSandboxPolicyProvider(async () => failPolicy)
  const marker = path.join(os.tmpdir(), `refused-esm-${uniqueToken()}`)
  const before = tmpEntries('checkstack-script-')
  const r = await sandbox.defaultEsmScriptRunner.run({
    script: `import { writeFileSync } from "node:fs"; writeFileSync(${JSON.stringify(marker)}, "x");`,
    context: {},
    timeoutMs: 5000,
  })
  assert.match(r.error, /^sandbox unavailable: /)
  assert.equal(r.result, undefined)
  assert.ok(r.sandbox.downgrades.length > 0)
  assert.equal(fs.existsSync(marker), false)
  assert.deepEqual(tmpEntries('checkstack-script-'), before)
})

test('under "degrade" the run goes ahead and the report says what is missing', async () => {
  const r = await sandbox.runSandboxed({
    command: ['sh', '-c', 'echo degraded-run'],
    policy: { ...failPolicy, onUnavailable: 'degrade' },
    timeoutMs: 5000,
  })
  assert.equal(r.stdout, 'degraded-run\n')
  assert.equal(r.sandbox.enforced.filesystem, false)
  assert.equal(r.sandbox.enforced.network, false)
  assert.ok(r.sandbox.downgrades.some((d) => d.layer === 'filesystem'))
})
