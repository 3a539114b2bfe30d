'use strict'

// The two runners, used the way the original callers use them: a provider
// registered once, then `run()`.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const sandbox = require('..')
const { requireCapability, hasNamespaces, securePolicy } = require('./helpers.js')

function skipUnlessEngine(t) {
  return requireCapability(t, hasNamespaces(), 'the native engine cannot build namespaces on this host')
}

function useProvider(policy) {
  sandbox.registerSandboxPolicyProvider(async () => policy)
}

test.afterEach(() => sandbox.resetSandboxPolicyProvider())

test('shell runner: trimmed output, exit code, env overrides and the denylist', async (t) => {
  if (!skipUnlessEngine(t)) return
  useProvider(securePolicy())
  const r = await sandbox.defaultShellScriptRunner.run({
    script: 'echo "  $GREETING  "; echo "[$LD_PRELOAD]" >&2; exit 3',
    timeoutMs: 10000,
    env: { GREETING: 'hello', LD_PRELOAD: '/tmp/evil.so' },
  })
  assert.equal(r.exitCode, 3)
  assert.equal(r.stdout, 'hello')
  assert.equal(r.stderr, '[]')
  assert.equal(r.timedOut, false)
  assert.equal(r.outputTruncated, false)
  assert.deepEqual(r.sandbox.downgrades, [])
})

test('shell runner: timeout gives the original result shape', async (t) => {
  if (!skipUnlessEngine(t)) return
  useProvider(securePolicy())
  const r = await sandbox.defaultShellScriptRunner.run({ script: 'sleep 30', timeoutMs: 300 })
  assert.deepEqual({ ...r, sandbox: undefined }, {
    exitCode: -1,
    stdout: '',
    stderr: 'Script execution timed out',
    timedOut: true,
    sandbox: undefined,
  })
})

test('shell runner without a provider fails closed and says so', async (t) => {
  if (!skipUnlessEngine(t)) return
  const r = await sandbox.defaultShellScriptRunner.run({ script: 'echo ran', timeoutMs: 10000 })
  assert.equal(r.stdout, 'ran')
  assert.equal(r.sandbox.requested.network.mode, 'deny')
  assert.ok(r.sandbox.downgrades.some((d) => d.layer === 'network' && d.reason === sandbox.FAIL_CLOSED_DOWNGRADE_REASON))
})

test('ESM runner: default export, legacy return, context and async functions', async (t) => {
  if (!skipUnlessEngine(t)) return
  useProvider(securePolicy())
  const modern = await sandbox.defaultEsmScriptRunner.run({
    script: 'export default async (ctx) => ({ doubled: ctx.n * 2 });',
    context: { n: 21 },
    timeoutMs: 15000,
  })
  assert.equal(modern.error, undefined, modern.error)
  assert.deepEqual(modern.result, { doubled: 42 })
  const legacy = await sandbox.defaultEsmScriptRunner.run({
    script: 'console.log("log line"); return context.word + "!";',
    context: { word: 'hi' },
    timeoutMs: 15000,
  })
  assert.equal(legacy.result, 'hi!')
  assert.equal(legacy.stdout, 'log line')
})

test('ESM runner: errors come back with their stack', async (t) => {
  if (!skipUnlessEngine(t)) return
  useProvider(securePolicy())
  const r = await sandbox.defaultEsmScriptRunner.run({
    script: 'export default () => { throw new Error("boom-" + 7) }',
    context: {},
    timeoutMs: 15000,
  })
  assert.equal(r.error, 'boom-7')
  assert.match(r.stack, /Error: boom-7/)
  assert.equal(r.result, undefined)
})

test('ESM runner: helper-module imports are rewritten', async (t) => {
  if (!skipUnlessEngine(t)) return
  useProvider(securePolicy())
  const r = await sandbox.defaultEsmScriptRunner.run({
    script: 'import { defineHealthCheck } from "@checkstack/sdk/healthcheck";\nexport default defineHealthCheck({ healthy: true });',
    context: {},
    timeoutMs: 15000,
    helperModuleName: '@checkstack/sdk/healthcheck',
    helperFunctionName: 'defineHealthCheck',
  })
  assert.equal(r.error, undefined, r.error)
  assert.deepEqual(r.result, { healthy: true })
})

test('ESM runner: resolutionRoot packages resolve (read-only) inside the sandbox', async (t) => {
  if (!skipUnlessEngine(t)) return
  useProvider(securePolicy())
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'resolution-root-'))
  // As in production (a package store), the run's uid must be able to reach it.
  fs.chmodSync(root, 0o755)
  const pkg = path.join(root, 'node_modules', 'answer-pkg')
  fs.mkdirSync(pkg, { recursive: true })
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'answer-pkg', type: 'module', main: 'index.js' }))
  fs.writeFileSync(path.join(pkg, 'index.js'), 'export const answer = 42;\n')
  try {
    const r = await sandbox.defaultEsmScriptRunner.run({
      script: [
        'import { answer } from "answer-pkg";',
        'import { writeFileSync } from "node:fs";',
        'let wrote = true;',
        `try { writeFileSync(${JSON.stringify(path.join(pkg, 'index.js'))}, "tampered") } catch { wrote = false }`,
        'export default { answer, wrote };',
      ].join('\n'),
      context: {},
      timeoutMs: 15000,
      resolutionRoot: root,
    })
    assert.equal(r.error, undefined, r.error)
    assert.deepEqual(r.result, { answer: 42, wrote: false })
    assert.equal(fs.readFileSync(path.join(pkg, 'index.js'), 'utf8'), 'export const answer = 42;\n')
    const left = fs.readdirSync(root).filter((f) => f.startsWith('checkstack-script-'))
    assert.deepEqual(left, [], 'the per-run dir is removed')
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
})

test('ESM runner: a script allocating without bound dies under memoryBytes', async (t) => {
  if (!skipUnlessEngine(t)) return
  useProvider(securePolicy({ resources: { memoryBytes: 64 * 1024 * 1024 } }))
  const r = await sandbox.defaultEsmScriptRunner.run({
    script: 'const keep = []; for (;;) keep.push(new Array(1e5).fill({ x: Math.random() }));',
    context: {},
    timeoutMs: 60000,
  })
  assert.equal(r.timedOut, false)
  assert.equal(r.result, undefined)
  assert.match(r.error ?? '', /heap|memory/i)
})

test('ESM runner: timeout', async (t) => {
  if (!skipUnlessEngine(t)) return
  useProvider(securePolicy())
  const r = await sandbox.defaultEsmScriptRunner.run({ script: 'await new Promise(() => setInterval(() => {}, 1000));', context: {}, timeoutMs: 1500 })
  assert.equal(r.timedOut, true)
  assert.equal(r.error, 'Script execution timed out')
})

test('normaliseUserScript and rewriteHelperImports', () => {
  assert.equal(sandbox.normaliseUserScript('export default 1'), 'export default 1')
  assert.match(sandbox.normaliseUserScript('return 1'), /^export default await \(async \(\) => \{\nreturn 1\n\}\)\(\);/)
  const out = sandbox.rewriteHelperImports({
    userScript: 'import { f } from "virtual/mod";\nimport "virtual/mod";\nconst s = "virtual/mod";',
    helperModuleName: 'virtual/mod',
    helperUrl: 'file:///tmp/h.mjs',
  })
  assert.equal(out, 'import { f } from "file:///tmp/h.mjs";\nimport "file:///tmp/h.mjs";\nconst s = "virtual/mod";')
})
