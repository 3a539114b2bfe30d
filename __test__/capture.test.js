'use strict'

// Capture, timeout, abort and cleanup: the run ends completely on every path.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { monitorEventLoopDelay } = require('node:perf_hooks')

const sandbox = require('..')
const { requireCapability, hasNamespaces, uniqueToken, survivorsAfter, securePolicy, sh } = require('./helpers.js')

/** A `sleep` whose argv carries a unique number we can look for in /proc. */
function markedSleep() {
  const marker = `8${Math.floor(Math.random() * 1e8)}`
  return { marker: `sleep\0${marker}`, cmd: `sleep ${marker}` }
}

/** Runs the script and reports the managed scratch dir it printed first. */
async function runReportingScratch(script, options) {
  let scratch
  const result = await sandbox.runSandboxed({
    command: ['sh', '-c', `pwd; ${script}`],
    policy: securePolicy(),
    timeoutMs: 20000,
    ...options,
    onStdout: (chunk) => {
      scratch ??= String(chunk).split('\n')[0]
    },
  })
  return { result, scratch }
}

function skipUnlessEngine(t) {
  return requireCapability(t, hasNamespaces(), 'the native engine cannot build namespaces on this host')
}

test('timeout kills the whole tree, background children included, and removes the scratch dir', async (t) => {
  if (!skipUnlessEngine(t)) return
  const a = markedSleep()
  const b = markedSleep()
  const { result, scratch } = await runReportingScratch(`${a.cmd} & (${b.cmd} &) ; sleep 1000`, { timeoutMs: 700 })
  assert.equal(result.timedOut, true)
  assert.equal(result.exitCode, -1)
  assert.deepEqual(await survivorsAfter(a.marker), [])
  assert.deepEqual(await survivorsAfter(b.marker), [])
  assert.ok(scratch?.startsWith('/'), `scratch dir reported: ${scratch}`)
  assert.equal(fs.existsSync(scratch), false, 'scratch dir left behind')
})

test('abort kills the whole tree and removes the scratch dir', async (t) => {
  if (!skipUnlessEngine(t)) return
  const a = markedSleep()
  const controller = new AbortController()
  setTimeout(() => controller.abort(), 500)
  const { result, scratch } = await runReportingScratch(`${a.cmd} & sleep 1000`, { signal: controller.signal })
  assert.equal(result.aborted, true)
  assert.equal(result.timedOut, false)
  assert.equal(result.exitCode, -1)
  assert.deepEqual(await survivorsAfter(a.marker), [])
  assert.equal(fs.existsSync(scratch), false)
})

test('a background child does not outlive a run that exits normally', async (t) => {
  if (!skipUnlessEngine(t)) return
  const a = markedSleep()
  const { result, scratch } = await runReportingScratch(`${a.cmd} & echo started`)
  assert.equal(result.exitCode, 0)
  assert.match(result.stdout, /started/)
  assert.deepEqual(await survivorsAfter(a.marker), [])
  assert.equal(fs.existsSync(scratch), false)
})

test('a 1 GiB flood under a 1 MiB cap is cut, killed, and stays bounded in memory', async (t) => {
  if (!skipUnlessEngine(t)) return
  const cap = 1024 * 1024
  global.gc?.()
  const before = process.memoryUsage().rss
  let peak = before
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 5)
  const a = markedSleep()
  const { result, scratch } = await runReportingScratch(`(${a.cmd} &); head -c 1073741824 /dev/zero; head -c 1073741824 /dev/zero >&2`, {
    policy: securePolicy({ resources: { maxOutputBytes: cap } }),
  })
  clearInterval(sampler)
  peak = Math.max(peak, process.memoryUsage().rss)
  assert.equal(result.outputTruncated, true)
  assert.ok(Buffer.byteLength(result.stdout) + Buffer.byteLength(result.stderr) <= cap)
  assert.ok(result.stdout.length > 0, 'stdout keeps priority')
  assert.equal(result.signal, 'SIGKILL')
  assert.ok(peak - before < 64 * 1024 * 1024, `supervisor RSS grew by ${((peak - before) / 1048576).toFixed(1)} MiB`)
  assert.deepEqual(await survivorsAfter(a.marker), [])
  assert.equal(fs.existsSync(scratch), false)
})

test('capture never splits a UTF-8 code point at the cap', async (t) => {
  if (!skipUnlessEngine(t)) return
  // 'é' is two bytes; a 5-byte cap falls inside the third one.
  const r = await sh("printf 'éééééé'", securePolicy({ resources: { maxOutputBytes: 5 } }))
  assert.equal(r.outputTruncated, true)
  assert.equal(r.stdout, 'éé')
})

test('an already-aborted signal spawns nothing', async () => {
  const marker = path.join(os.tmpdir(), `never-${uniqueToken()}`)
  const controller = new AbortController()
  controller.abort()
  const r = await sandbox.runSandboxed({
    command: ['sh', '-c', `touch ${marker}`],
    policy: securePolicy({ filesystem: { mode: 'off' } }),
    timeoutMs: 5000,
    signal: controller.signal,
  })
  assert.equal(r.aborted, true)
  assert.equal(r.exitCode, -1)
  assert.equal(fs.existsSync(marker), false)
})

test('stdin: end-of-file without it, the bytes with it', async (t) => {
  if (!skipUnlessEngine(t)) return
  const none = await sh('cat; echo done', securePolicy(), { timeoutMs: 5000 })
  assert.equal(none.timedOut, false)
  assert.equal(none.stdout, 'done\n')
  const some = await sh('cat', securePolicy(), { stdin: Buffer.from('bytes in\n') })
  assert.equal(some.stdout, 'bytes in\n')
})

test('streaming callbacks see the output as it is produced', async (t) => {
  if (!skipUnlessEngine(t)) return
  const out = []
  const err = []
  const r = await sh('echo one; echo two >&2', securePolicy(), {
    onStdout: (c) => out.push(Buffer.from(c)),
    onStderr: (c) => err.push(Buffer.from(c)),
  })
  assert.equal(Buffer.concat(out).toString(), r.stdout)
  assert.equal(Buffer.concat(err).toString(), 'two\n')
})

test('a caller-supplied scratch dir is used as the cwd and never deleted', async (t) => {
  if (!skipUnlessEngine(t)) return
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'caller-scratch-'))
  fs.chmodSync(dir, 0o777)
  try {
    const r = await sh('pwd; echo kept > kept.txt', securePolicy(), { scratchDir: dir })
    assert.equal(r.exitCode, 0, r.stderr)
    assert.equal(r.stdout.split('\n')[0], dir)
    assert.equal(fs.readFileSync(path.join(dir, 'kept.txt'), 'utf8'), 'kept\n')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('32 concurrent runs finish and never stall the event loop', async (t) => {
  if (!skipUnlessEngine(t)) return
  const histogram = monitorEventLoopDelay({ resolution: 5 })
  histogram.enable()
  const runs = Array.from({ length: 32 }, (_, i) => sh(`echo run-${i}`))
  const results = await Promise.all(runs)
  histogram.disable()
  results.forEach((r, i) => assert.equal(r.stdout, `run-${i}\n`))
  const worstMs = histogram.max / 1e6
  assert.ok(worstMs < 50, `event loop stalled ${worstMs.toFixed(1)} ms`)
})

test('bad options reject with a TypeError naming the option', async () => {
  const policy = securePolicy()
  const cases = [
    [{ command: [], policy, timeoutMs: 1000 }, /command/],
    [{ command: ['true'], policy, timeoutMs: -5 }, /timeoutMs/],
    [{ command: ['true'], policy }, /timeoutMs/],
    [{ command: ['true'], policy, timeoutMs: 1000, cwd: 'relative/dir' }, /cwd/],
    [{ command: ['true'], policy, timeoutMs: 1000, scratchDir: 'rel' }, /scratchDir/],
    [{ command: ['true'], policy, timeoutMs: 1000, env: { A: 5 } }, /env\.A/],
    [{ command: ['true'], policy, timeoutMs: 1000, bogus: 1 }, /bogus/],
    [{ command: ['true'], policy, timeoutMs: 1000, signal: {} }, /signal/],
    [{ command: ['true'], policy: { network: { allow: ['nope'] } }, timeoutMs: 1000 }, /network\.allow\[0\]/],
  ]
  for (const [options, pattern] of cases) {
    const pending = sandbox.runSandboxed(options)
    assert.ok(pending instanceof Promise, 'never a synchronous throw')
    await assert.rejects(pending, (error) => {
      assert.match(error.message, pattern)
      return error instanceof TypeError || error instanceof sandbox.SandboxPolicyError
    })
  }
})

test('the scratch dir is removed even when the script locked parts of it', async (t) => {
  if (!skipUnlessEngine(t)) return
  const { result, scratch } = await runReportingScratch('mkdir -p a/b && touch a/b/f && chmod 000 a/b a && ln -s / escape && echo locked')
  assert.match(result.stdout, /locked/)
  assert.equal(fs.existsSync(scratch), false, 'scratch dir left behind')
  assert.ok(fs.existsSync('/usr/bin'), 'the symlink target was left alone')
})
