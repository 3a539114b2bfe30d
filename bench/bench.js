#!/usr/bin/env node
'use strict'

// `npm run bench` (SPEC §7, issue 6): a measurement, not a test. Prints a
// table of medians, p95 and ratios and writes bench/results/latest.json.
// Exits non-zero only on an exception; a missed target is reported, not fatal.
//
//   node bench/bench.js [--n=50] [--quick]
//
// Sections:
//   1. per-run wall time of `true`: (a) child_process.spawn, (b) addon with the
//      sandbox disabled, (c) secure default, (d) allowlist (slirp4netns path),
//      (e) bwrap + prlimit chain; plus slirp4netns start-up alone.
//   2. output flood: 1 GiB offered under a 5 MiB cap.
//   3. 64 concurrent runs under the secure default.
//   4. cold start in a fresh node process (measured first, on a quiet kernel).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { monitorEventLoopDelay } = require('node:perf_hooks')
const u = require('./util.js')

const ROOT = path.resolve(__dirname, '..')
const RESULTS_DIR = path.join(__dirname, 'results')

// ------------------------------------------------------------------ config

const argv = process.argv.slice(2)
const quick = argv.includes('--quick')
const nArg = argv.find((a) => a.startsWith('--n='))
const N = Math.max(3, Math.min(1000, nArg ? Number(nArg.slice(4)) || 50 : quick ? 15 : 50))
const WARMUP = quick ? 2 : 5
const SLIRP_N = quick ? 8 : 20
const FLOOD_REPS = quick ? 2 : 5
const FLOOD_OFFERED = 1073741824
const FLOOD_CAP = 5 * 1024 * 1024
const CONCURRENCY = 64
const CONCURRENCY_REPS = 3
const COLD_REPS = quick ? 2 : 5
const RUN_TIMEOUT_MS = 30_000
const FLOOD_TIMEOUT_MS = 60_000
const WATCHDOG_MS = 10 * 60_000
const ELD_RESOLUTION_MS = 1
const SETTLE_MS = 1000

const TARGETS = {
  defaultVsChain: 'secure default (c) costs no more than the bwrap+prlimit chain (e): median c/e <= 1',
  allowlistVsDenyPlusSlirp: 'allowlist (d) costs no more than the deny default (c) + slirp4netns start-up alone: median d <= median c + median slirp',
  floodStop: 'flood stops within 100 ms of the cap (median, cap crossed -> run settled)',
  floodRss: 'flood: supervisor peak RSS growth under 2x the cap (median)',
  eventLoop: 'event loop never stalls more than 5 ms during 64 concurrent runs started in one burst (worst max over repetitions)',
}

// --------------------------------------------------------------- utilities

const log = (...a) => console.log(...a)
const progress = (msg) => process.stderr.write(`[bench] ${msg}\n`)

const sandbox = require(ROOT)

function expectOk(result, label) {
  if (result.exitCode !== 0 || result.setupError) {
    const why = result.setupError ? `${result.setupError.step}: ${result.setupError.message}` : `exit ${result.exitCode}`
    throw new Error(`${label}: run of \`true\` failed (${why}); stderr: ${result.stderr.slice(0, 500)}`)
  }
  return result
}

function machineInfo(caps) {
  const cpus = os.cpus()
  let gitHead = null
  try {
    gitHead = require('node:child_process')
      .execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
  } catch {}
  let gitDirty = null
  try {
    gitDirty =
      require('node:child_process')
        .execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] })
        .trim() !== ''
  } catch {}
  return {
    cpuModel: cpus[0]?.model ?? null,
    cores: cpus.length,
    availableParallelism: typeof os.availableParallelism === 'function' ? os.availableParallelism() : null,
    totalMemBytes: os.totalmem(),
    kernel: os.release(),
    arch: os.arch(),
    node: process.version,
    euid: process.geteuid(),
    loadavgAtStart: os.loadavg().map((v) => u.round(v, 2)),
    addonVersion: require(path.join(ROOT, 'package.json')).version,
    gitHead,
    gitDirty,
    bwrap: u.which('bwrap') ? u.firstLine('bwrap', ['--version']) : null,
    slirp4netns: caps.slirp4netns ? u.firstLine(caps.slirp4netns, ['--version']) : null,
    engine: caps.engine ?? null,
    landlockAbi: caps.landlockAbi ?? null,
    seccomp: caps.seccomp ?? null,
    netEgressRootless: caps.netEgressRootless,
  }
}

// ----------------------------------------------------------------- policies

function policies(caps) {
  const base = sandbox.resolveDefaultSandboxProfile()
  const secure = sandbox.mergeSandboxPolicy({ base, override: { onUnavailable: 'degrade' } })
  const allowlist = sandbox.mergeSandboxPolicy({
    base: secure,
    override: { network: { mode: 'allowlist', allow: ['192.0.2.1/32'] } },
  })
  const disabled = sandbox.parseSandboxPolicy({ enabled: false })
  const flood = sandbox.mergeSandboxPolicy({ base: secure, override: { resources: { maxOutputBytes: FLOOD_CAP } } })
  const plan = (policy) => sandbox.buildSpawnHardening({ policy, caps, baseEnv: sandbox.pickSafeEnv() })
  return { secure, allowlist, disabled, flood, plan }
}

// ----------------------------------------- section 1: per-run wall of `true`

/** The binds the original builds: the system dirs that exist. */
function bwrapArgs(scratch) {
  const args = ['--unshare-all', '--unshare-net', '--die-with-parent']
  for (const dir of ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/etc']) {
    if (fs.existsSync(dir)) args.push('--ro-bind', dir, dir)
  }
  args.push('--tmpfs', '/tmp', '--bind', scratch, scratch, '--proc', '/proc', '--dev', '/dev', '--chdir', scratch)
  args.push('--', 'prlimit', '--cpu=60', '--nofile=1024', '--nproc=256', '--fsize=268435456', '--', 'sh', '-c', 'true')
  return args
}

async function runBwrapOnce(bwrap) {
  const scratch = u.makeTempDir('bench-bwrap-')
  try {
    return await u.spawnWait(bwrap, bwrapArgs(scratch), { timeoutMs: RUN_TIMEOUT_MS })
  } finally {
    u.removeDir(scratch)
  }
}

function buildRows(pol, caps) {
  const rows = []
  const skipped = []
  rows.push({
    key: 'a',
    label: '(a) child_process.spawn',
    async once() {
      const r = await u.spawnWait('true', [], { timeoutMs: RUN_TIMEOUT_MS })
      if (r.code !== 0) throw new Error(`(a) spawn true: exit ${r.code} ${r.signal ?? ''}`)
    },
  })
  rows.push({
    key: 'b',
    label: '(b) addon, sandbox disabled',
    async once() {
      expectOk(await sandbox.runSandboxed({ command: ['true'], policy: pol.disabled, timeoutMs: RUN_TIMEOUT_MS }), '(b)')
    },
  })
  const secureNet = pol.plan(pol.secure).launch?.egress ? 'with egress' : 'deny'
  rows.push({
    key: 'c',
    label: `(c) secure default (${secureNet})`,
    async once() {
      return expectOk(await sandbox.runSandboxed({ command: ['true'], policy: pol.secure, timeoutMs: RUN_TIMEOUT_MS }), '(c)')
    },
  })

  const decision = sandbox.buildNetworkLayer({ policy: pol.allowlist.network, caps })
  if (decision.kind !== 'namespaced' || decision.mode !== 'allowlist' || !decision.egressPath) {
    skipped.push({ key: 'd', reason: `allowlist egress unavailable on this host (${decision.reason ?? JSON.stringify(decision)})` })
  } else if (decision.egressPath === 'rootless' && !caps.netEgressRootless) {
    skipped.push({ key: 'd', reason: 'rootless egress unavailable (netEgressRootless false: slirp4netns/nft missing or /dev/net/tun unusable)' })
  } else {
    rows.push({
      key: 'd',
      label: `(d) allowlist (${decision.egressPath === 'rootless' ? 'slirp4netns' : decision.egressPath})`,
      egressPath: decision.egressPath,
      async once() {
        const r = expectOk(await sandbox.runSandboxed({ command: ['true'], policy: pol.allowlist, timeoutMs: RUN_TIMEOUT_MS }), '(d)')
        if (!r.sandbox.enforced.network) throw new Error('(d): network layer not enforced: ' + JSON.stringify(r.sandbox.downgrades))
        return r
      },
    })
  }

  const bwrap = u.which('bwrap')
  const prlimit = u.which('prlimit')
  if (!bwrap || !prlimit) {
    skipped.push({ key: 'e', reason: `${!bwrap ? 'bwrap' : 'prlimit'} not found on PATH` })
  } else {
    rows.push({
      key: 'e',
      label: '(e) bwrap + prlimit chain',
      async probe() {
        const r = await runBwrapOnce(bwrap)
        if (r.code !== 0) return `bwrap chain does not run here (exit ${r.code}${r.signal ? ' ' + r.signal : ''}): ${r.stderr.trim().slice(0, 300)}`
        return null
      },
      async once() {
        const r = await runBwrapOnce(bwrap)
        if (r.code !== 0) throw new Error(`(e) bwrap chain: exit ${r.code}: ${r.stderr.trim().slice(0, 300)}`)
      },
    })
  }
  return { rows, skipped, decision }
}

async function sectionPerRun(pol, caps) {
  const { rows: candidates, skipped, decision } = buildRows(pol, caps)
  const rows = []
  for (const row of candidates) {
    if (row.probe) {
      const reason = await row.probe()
      if (reason) {
        skipped.push({ key: row.key, reason })
        continue
      }
    }
    rows.push(row)
  }
  const firstResults = {}
  progress(`per-run: warm-up ${WARMUP}x, then ${N} interleaved iterations of ${rows.map((r) => r.key).join(',')}`)
  for (let i = 0; i < WARMUP; i++) {
    for (const row of rows) {
      const r = await row.once()
      if (r && firstResults[row.key] === undefined) firstResults[row.key] = r
    }
  }
  // Interleaved (rotating start) so drift on the host hits every row alike.
  const samples = Object.fromEntries(rows.map((r) => [r.key, []]))
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < rows.length; j++) {
      const row = rows[(i + j) % rows.length]
      const t0 = u.now()
      await row.once()
      samples[row.key].push(u.now() - t0)
    }
  }
  const stats = {}
  for (const row of rows) stats[row.key] = { label: row.label, ...u.summarize(samples[row.key]), samples: samples[row.key] }
  return { stats, skipped, decision, firstResults }
}

// ------------------------------------------- slirp4netns start-up, alone

async function waitForExec(pid, comm, timeoutMs = 5000) {
  const deadline = u.now() + timeoutMs
  while (u.now() < deadline) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm) return true
    } catch {
      return false
    }
    await u.sleep(1)
  }
  return false
}

async function slirpOnce(slirp) {
  const holder = u.track(
    spawn('unshare', ['--user', '--map-root-user', '--net', 'sleep', '10'], { stdio: ['ignore', 'ignore', 'pipe'] }),
  )
  const holderErr = []
  holder.stderr.on('data', (c) => holderErr.push(c))
  let child
  try {
    if (!(await waitForExec(holder.pid, 'sleep'))) {
      throw new Error(`namespace holder did not start: ${Buffer.concat(holderErr).toString().trim()}`)
    }
    const t0 = u.now()
    child = u.track(
      spawn(slirp, ['--configure', '--mtu=65520', '--disable-host-loopback', '--ready-fd=3', String(holder.pid), 'tap0'], {
        stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      }),
    )
    const err = []
    child.stderr.on('data', (c) => err.push(c))
    const ready = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('slirp4netns: no ready byte within 10 s')), 10_000)
      child.stdio[3].once('data', () => {
        clearTimeout(timer)
        resolve(u.now())
      })
      child.once('error', (e) => {
        clearTimeout(timer)
        reject(e)
      })
      child.once('exit', (code, sig) => {
        clearTimeout(timer)
        reject(new Error(`slirp4netns exited before ready (${code ?? sig}): ${Buffer.concat(err).toString().trim()}`))
      })
    })
    // Teardown, for the record: SIGTERM until the exit is observed (the
    // kernel tears the tap device down as slirp4netns closes it).
    const k0 = u.now()
    child.kill('SIGTERM')
    await u.waitExit(child)
    const teardown = u.now() - k0
    return { startup: ready - t0, teardown }
  } finally {
    if (child) {
      child.stdio[3]?.destroy()
      try {
        child.kill('SIGTERM')
      } catch {}
      await u.waitExit(child)
    }
    try {
      holder.kill('SIGKILL')
    } catch {}
    await u.waitExit(holder)
  }
}

async function sectionSlirp(caps) {
  const slirp = caps.slirp4netns || u.which('slirp4netns')
  if (!slirp) return { skipped: 'slirp4netns not found' }
  if (!u.which('unshare')) return { skipped: 'unshare (util-linux) not found' }
  if (!caps.netEgressRootless) return { skipped: 'rootless egress unavailable (netEgressRootless false)' }
  progress(`slirp4netns start-up alone: ${SLIRP_N}x (+2 warm-up)`)
  try {
    await slirpOnce(slirp)
    await slirpOnce(slirp)
  } catch (error) {
    return { skipped: `slirp4netns cannot attach here: ${error.message}` }
  }
  const samples = []
  const teardown = []
  for (let i = 0; i < SLIRP_N; i++) {
    const r = await slirpOnce(slirp)
    samples.push(r.startup)
    teardown.push(r.teardown)
  }
  return { ...u.summarize(samples), samples, teardownMs: u.summarize(teardown) }
}

// --------------------------------------------------- section 2: output flood

/** One flood in a fresh supervisor process (see flood-child.js). */
async function floodOnce(withCallback) {
  const args = [
    '--expose-gc',
    path.join(__dirname, 'flood-child.js'),
    ROOT,
    String(FLOOD_OFFERED),
    String(FLOOD_CAP),
    String(FLOOD_TIMEOUT_MS),
    withCallback ? 'callback' : 'none',
  ]
  const r = await u.spawnWait(process.execPath, args, { timeoutMs: FLOOD_TIMEOUT_MS + 30_000, env: process.env })
  if (r.code !== 0) throw new Error(`flood child failed (exit ${r.code} ${r.signal ?? ''}): ${r.stderr.trim().slice(0, 800)}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

async function sectionFlood() {
  progress(`flood: ${FLOOD_REPS}x (with onStdout) + ${FLOOD_REPS}x (without), 1 GiB offered under a 5 MiB cap, each in a fresh supervisor`)
  const runs = []
  const runsNoCallback = []
  for (let i = 0; i < FLOOD_REPS; i++) {
    runs.push(await floodOnce(true))
    runsNoCallback.push(await floodOnce(false))
  }
  const pick = (k, list = runs) => list.map((r) => r[k]).filter((v) => v !== null)
  return {
    offeredBytes: FLOOD_OFFERED,
    capBytes: FLOOD_CAP,
    gcForced: runs.every((r) => r.gcForced),
    freshSupervisorPerRun: true,
    capReachedEveryRun: runs.every((r) => r.startToCapMs !== null),
    capToEndMs: u.summarize(pick('capToEndMs')),
    startToCapMs: u.summarize(pick('startToCapMs')),
    wallMs: u.summarize(pick('wallMs')),
    rssGrowthBytes: u.summarize(pick('rssGrowth')),
    noCallback: {
      wallMs: u.summarize(pick('wallMs', runsNoCallback)),
      rssGrowthBytes: u.summarize(pick('rssGrowth', runsNoCallback)),
    },
    runs,
    runsNoCallback,
  }
}

// ------------------------------------------------- section 3: concurrency

/**
 * Run n copies of fn concurrently and watch the event loop meanwhile.
 * 'burst': all n started in one synchronous loop (what Promise.all(map) does);
 * 'staggered': one start per event-loop turn, so the histogram isolates the
 * library's own stalls from the caller's submission loop.
 */
async function batch(n, fn, mode = 'burst') {
  const h = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS })
  h.enable()
  // A delay sample is taken between two timer ticks: prime the histogram so a
  // stall right at the start of the batch is recorded, not swallowed.
  await u.sleep(20)
  const promises = []
  let maxCallMs = 0
  const t0 = u.now()
  for (let i = 0; i < n; i++) {
    if (mode === 'staggered') await new Promise((r) => setImmediate(r))
    const a = u.now()
    promises.push(fn())
    maxCallMs = Math.max(maxCallMs, u.now() - a)
  }
  const submitMs = u.now() - t0
  const settled = await Promise.allSettled(promises)
  const wall = u.now() - t0
  // Let the tick that settled the last run be measured too.
  await u.sleep(5)
  h.disable()
  const failed = settled.filter((s) => s.status === 'rejected')
  if (failed.length) throw failed[0].reason
  return {
    mode,
    wallMs: wall,
    runsPerSec: (n * 1000) / wall,
    submitMs,
    maxCallSyncMs: maxCallMs,
    eldMaxMs: h.max / 1e6,
    eldP99Ms: h.percentile(99) / 1e6,
    eldMeanMs: h.mean / 1e6,
  }
}

async function idleEventLoop(ms) {
  const h = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS })
  h.enable()
  await u.sleep(ms)
  h.disable()
  return { maxMs: h.max / 1e6, p99Ms: h.percentile(99) / 1e6, meanMs: h.mean / 1e6, minMs: h.min / 1e6 }
}

async function sectionConcurrency(pol, perRunRows) {
  progress(`concurrency: ${CONCURRENCY_REPS}x ${CONCURRENCY} concurrent runs of \`true\` (secure default; burst and staggered), plus references`)
  const idle = await idleEventLoop(500)
  const secureRun = async () =>
    expectOk(await sandbox.runSandboxed({ command: ['true'], policy: pol.secure, timeoutMs: RUN_TIMEOUT_MS }), 'concurrent (c)')
  await batch(8, secureRun) // warm-up
  const burst = []
  const staggered = []
  for (let i = 0; i < CONCURRENCY_REPS; i++) {
    burst.push(await batch(CONCURRENCY, secureRun, 'burst'))
    staggered.push(await batch(CONCURRENCY, secureRun, 'staggered'))
  }

  // References (informational, not targets): the same burst through plain
  // child_process.spawn and through the bwrap chain.
  const refs = {}
  refs.plainSpawn = []
  for (let i = 0; i < CONCURRENCY_REPS; i++) {
    refs.plainSpawn.push(
      await batch(CONCURRENCY, async () => {
        const r = await u.spawnWait('true', [], { timeoutMs: RUN_TIMEOUT_MS })
        if (r.code !== 0) throw new Error('concurrent spawn true failed')
      }),
    )
  }
  const bwrap = u.which('bwrap')
  if (perRunRows.e && bwrap) {
    refs.bwrapChain = []
    for (let i = 0; i < CONCURRENCY_REPS; i++) {
      refs.bwrapChain.push(
        await batch(CONCURRENCY, async () => {
          const r = await runBwrapOnce(bwrap)
          if (r.code !== 0) throw new Error(`concurrent bwrap chain failed: ${r.stderr.trim().slice(0, 200)}`)
        }),
      )
    }
  }
  const agg = (list) => ({
    runsPerSec: u.summarize(list.map((r) => r.runsPerSec)),
    eldWorstMaxMs: Math.max(...list.map((r) => r.eldMaxMs)),
    eldWorstP99Ms: Math.max(...list.map((r) => r.eldP99Ms)),
    submitMs: u.summarize(list.map((r) => r.submitMs)),
    maxCallSyncMs: Math.max(...list.map((r) => r.maxCallSyncMs)),
    reps: list,
  })
  return {
    concurrency: CONCURRENCY,
    eldResolutionMs: ELD_RESOLUTION_MS,
    idleEventLoop: idle,
    secure: agg(burst),
    secureStaggered: agg(staggered),
    references: Object.fromEntries(Object.entries(refs).map(([k, v]) => [k, agg(v)])),
  }
}

// -------------------------------------------------- section 4: cold start

function coldScript(variant) {
  // Runs in a fresh node; prints one JSON line.
  return `
'use strict'
const { performance } = require('node:perf_hooks')
const t = {}
const t0 = performance.now()
const s = require(${JSON.stringify(ROOT)})
t.requireMs = performance.now() - t0
;(async () => {
  if (${JSON.stringify(variant)} === 'detect-first') {
    let a = performance.now(); s.detectSandboxCapabilities(); t.detectFirstMs = performance.now() - a
    a = performance.now(); s.detectSandboxCapabilities(); t.detectSecondMs = performance.now() - a
  }
  const policy = s.mergeSandboxPolicy({ base: s.resolveDefaultSandboxProfile(), override: { onUnavailable: 'degrade' } })
  for (const k of ['firstRunMs', 'secondRunMs']) {
    const a = performance.now()
    const r = await s.runSandboxed({ command: ['true'], policy, timeoutMs: ${RUN_TIMEOUT_MS} })
    t[k] = performance.now() - a
    if (r.exitCode !== 0) throw new Error('cold run failed: ' + r.stderr)
  }
  process.stdout.write(JSON.stringify(t) + '\\n')
})().catch((e) => { console.error(e); process.exit(1) })
`
}

async function coldOnce(variant) {
  const t0 = u.now()
  const r = await u.spawnWait(process.execPath, ['-e', coldScript(variant)], { timeoutMs: 60_000, env: process.env })
  const wall = u.now() - t0
  if (r.code !== 0) throw new Error(`cold start child (${variant}) failed: exit ${r.code}: ${r.stderr.trim().slice(0, 500)}`)
  return { ...JSON.parse(r.stdout.trim().split('\n').pop()), processWallMs: wall }
}

async function sectionCold() {
  progress(`cold start: ${COLD_REPS}x fresh node per variant`)
  const baseline = []
  for (let i = 0; i < COLD_REPS; i++) {
    const t0 = u.now()
    const r = await u.spawnWait(process.execPath, ['-e', '0'], { timeoutMs: 60_000 })
    if (r.code !== 0) throw new Error('node -e 0 failed')
    baseline.push(u.now() - t0)
  }
  const out = { nodeStartupMs: u.summarize(baseline) }
  for (const variant of ['detect-first', 'run-first']) {
    const runs = []
    for (let i = 0; i < COLD_REPS; i++) runs.push(await coldOnce(variant))
    const keys = Object.keys(runs[0])
    out[variant] = Object.fromEntries(keys.map((k) => [k, u.summarize(runs.map((r) => r[k]))]))
  }
  return out
}

// -------------------------------------------------------------- reporting

function evaluateTargets(perRun, slirp, flood, conc) {
  const s = perRun.stats
  const t = {}
  const verdict = (ok) => (ok ? 'PASS' : 'MISS')
  if (s.c && s.e) {
    const ratio = s.c.median / s.e.median
    t.defaultVsChain = { target: TARGETS.defaultVsChain, value: u.round(ratio), limit: 1, result: verdict(ratio <= 1) }
  } else {
    t.defaultVsChain = { target: TARGETS.defaultVsChain, result: 'SKIP', reason: !s.e ? 'row (e) skipped' : 'row (c) missing' }
  }
  if (s.c && s.d && slirp.median !== undefined) {
    const limit = s.c.median + slirp.median
    t.allowlistVsDenyPlusSlirp = {
      target: TARGETS.allowlistVsDenyPlusSlirp,
      valueMs: u.round(s.d.median),
      limitMs: u.round(limit),
      overshootMs: u.round(s.d.median - limit),
      result: verdict(s.d.median <= limit),
    }
  } else {
    t.allowlistVsDenyPlusSlirp = {
      target: TARGETS.allowlistVsDenyPlusSlirp,
      result: 'SKIP',
      reason: !s.d ? 'row (d) skipped' : `slirp4netns alone not measured: ${slirp.skipped}`,
    }
  }
  if (flood.capReachedEveryRun) {
    t.floodStop = { target: TARGETS.floodStop, valueMs: u.round(flood.capToEndMs.median), limitMs: 100, result: verdict(flood.capToEndMs.median <= 100) }
  } else {
    t.floodStop = { target: TARGETS.floodStop, result: 'MISS', reason: 'the cap was never reached through onStdout in some run' }
  }
  t.floodRss = {
    target: TARGETS.floodRss,
    valueBytes: Math.round(flood.rssGrowthBytes.median),
    limitBytes: 2 * FLOOD_CAP,
    result: verdict(flood.rssGrowthBytes.median < 2 * FLOOD_CAP),
  }
  t.eventLoop = {
    target: TARGETS.eventLoop,
    valueMs: u.round(conc.secure.eldWorstMaxMs),
    limitMs: 5,
    result: verdict(conc.secure.eldWorstMaxMs <= 5),
    staggeredValueMs: u.round(conc.secureStaggered.eldWorstMaxMs),
  }
  return t
}

function printReport(report) {
  const { machine, perRun, slirp, flood, concurrency: conc, cold, targets } = report
  log('')
  log(`script-sandbox bench — ${report.startedAt}`)
  log(
    `machine: ${machine.cpuModel} · ${machine.cores} cores · kernel ${machine.kernel} · node ${machine.node} · euid ${machine.euid} · engine ${machine.engine} · build ${machine.gitHead ?? '?'}${machine.gitDirty ? ' (+ uncommitted changes)' : ''}`,
  )
  log(`load average at start: ${machine.loadavgAtStart.join(' ')}; at end: ${report.loadavgAtEnd.join(' ')}`)
  if (machine.loadavgAtStart[0] > machine.cores / 2) {
    log('  warning: the host was busy when the bench started; figures are noisier than on an idle machine')
  }
  log('')
  log(`1. per-run wall time of \`true\` (ms; ${N} interleaved iterations per row after ${WARMUP} warm-up)`)
  const s = perRun.stats
  const rows = []
  for (const key of ['a', 'b', 'c', 'd', 'e']) {
    const r = s[key]
    if (!r) {
      const skip = perRun.skipped.find((x) => x.key === key)
      rows.push([`(${key}) SKIPPED`, '-', '-', '-', '-', '-', '-'])
      if (skip) rows[rows.length - 1].reason = skip.reason
      continue
    }
    rows.push([
      r.label,
      r.n,
      u.fmt(r.median),
      u.fmt(r.p95),
      u.fmt(r.min),
      s.a ? u.fmt(r.median / s.a.median) + 'x' : '-',
      s.e ? u.fmt(r.median / s.e.median) + 'x' : '-',
    ])
  }
  if (slirp.median !== undefined) {
    rows.push(['slirp4netns start-up alone', slirp.n, u.fmt(slirp.median), u.fmt(slirp.p95), u.fmt(slirp.min), '-', '-'])
    rows.push(['  (info) slirp4netns SIGTERM -> exit', slirp.teardownMs.n, u.fmt(slirp.teardownMs.median), u.fmt(slirp.teardownMs.p95), u.fmt(slirp.teardownMs.min), '-', '-'])
  }
  log(u.table(['row', 'n', 'median', 'p95', 'min', 'vs (a)', 'vs (e)'], rows))
  for (const sk of perRun.skipped) log(`  (${sk.key}) skipped: ${sk.reason}`)
  if (slirp.skipped) log(`  slirp4netns start-up alone skipped: ${slirp.skipped}`)
  if (s.c && s.d && slirp.median !== undefined) {
    log(
      `  allowlist overhead over deny: ${u.fmt(s.d.median - s.c.median)} ms (median d − median c); slirp4netns alone: ${u.fmt(slirp.median)} ms`,
    )
  }
  if (perRun.secureDowngrades.length) {
    log(`  note: the secure default ran with downgrades here: ${perRun.secureDowngrades.map((d) => d.layer).join(', ')}`)
  }

  log('')
  log(`2. output flood: ${flood.offeredBytes} bytes offered, cap ${flood.capBytes} bytes (${flood.runs.length} runs with onStdout timing the cap + ${flood.runsNoCallback.length} without; each in a fresh supervisor process after 3 warm-up runs, GC forced: ${flood.gcForced})`)
  log(
    u.table(
      ['metric', 'median', 'p95', 'max'],
      [
        ['run start -> cap crossed (ms)', u.fmt(flood.startToCapMs.median), u.fmt(flood.startToCapMs.p95), u.fmt(flood.startToCapMs.max)],
        ['cap crossed -> run settled (ms)', u.fmt(flood.capToEndMs.median), u.fmt(flood.capToEndMs.p95), u.fmt(flood.capToEndMs.max)],
        ['run wall (ms)', u.fmt(flood.wallMs.median), u.fmt(flood.wallMs.p95), u.fmt(flood.wallMs.max)],
        ['supervisor peak RSS growth (MiB)', u.mib(flood.rssGrowthBytes.median), u.mib(flood.rssGrowthBytes.p95), u.mib(flood.rssGrowthBytes.max)],
        ['  same runs without onStdout: run wall (ms)', u.fmt(flood.noCallback.wallMs.median), u.fmt(flood.noCallback.wallMs.p95), u.fmt(flood.noCallback.wallMs.max)],
        ['  same runs without onStdout: peak RSS growth (MiB)', u.mib(flood.noCallback.rssGrowthBytes.median), u.mib(flood.noCallback.rssGrowthBytes.p95), u.mib(flood.noCallback.rssGrowthBytes.max)],
      ],
    ),
  )
  const f0 = flood.runs[0]
  log(
    `  delivered via onStdout: ${f0.deliveredBytes} B, result.stdout: ${f0.capturedStdoutBytes} B, truncated: ${f0.outputTruncated}, exit ${f0.exitCode} ${f0.signal ?? ''}`,
  )

  log('')
  log(`3. ${conc.concurrency} concurrent runs of \`true\` (${CONCURRENCY_REPS} repetitions each; monitorEventLoopDelay, resolution ${conc.eldResolutionMs} ms; worst over repetitions)`)
  const crow = (label, a) => [
    label,
    u.fmt(a.runsPerSec.median, 1),
    u.fmt(a.runsPerSec.min, 1),
    u.fmt(a.submitMs.median),
    u.fmt(a.maxCallSyncMs),
    u.fmt(a.eldWorstP99Ms),
    u.fmt(a.eldWorstMaxMs),
  ]
  const crows = [crow('secure default, burst', conc.secure), crow('secure default, staggered', conc.secureStaggered)]
  if (conc.references.plainSpawn) crows.push(crow('ref: child_process.spawn, burst', conc.references.plainSpawn))
  if (conc.references.bwrapChain) crows.push(crow('ref: bwrap chain from Node, burst', conc.references.bwrapChain))
  log(u.table(['batch', 'runs/s med', 'runs/s min', 'submit ms', 'max 1 call ms', 'ELD p99 ms', 'ELD max ms'], crows))
  log('  burst: all 64 started in one synchronous loop; staggered: one start per event-loop turn.')
  log('  submit ms: the synchronous loop starting the batch (median); max 1 call ms: the slowest single synchronous start.')
  log(`  idle event loop for comparison (500 ms): max ${u.fmt(conc.idleEventLoop.maxMs)} ms, mean ${u.fmt(conc.idleEventLoop.meanMs)} ms (a delay sample includes the ${conc.eldResolutionMs} ms timer period)`)

  log('')
  log(`4. cold start in a fresh node process (ms; median of ${COLD_REPS}; measured first, before the other sections)`)
  const df = cold['detect-first']
  const rf = cold['run-first']
  log(
    u.table(
      ['step', 'median', 'max'],
      [
        ['node -e 0 (process start, reference)', u.fmt(cold.nodeStartupMs.median), u.fmt(cold.nodeStartupMs.max)],
        ["require('@checkstack/script-sandbox')", u.fmt(df.requireMs.median), u.fmt(df.requireMs.max)],
        ['first detectSandboxCapabilities()', u.fmt(df.detectFirstMs.median, 3), u.fmt(df.detectFirstMs.max, 3)],
        ['second detectSandboxCapabilities() (cached)', u.fmt(df.detectSecondMs.median, 4), u.fmt(df.detectSecondMs.max, 4)],
        ['first runSandboxed after detect', u.fmt(df.firstRunMs.median), u.fmt(df.firstRunMs.max)],
        ['first runSandboxed right after require', u.fmt(rf.firstRunMs.median), u.fmt(rf.firstRunMs.max)],
        ['second runSandboxed', u.fmt(rf.secondRunMs.median), u.fmt(rf.secondRunMs.max)],
      ],
    ),
  )

  log('')
  log('targets')
  const trows = Object.values(targets).map((t) => {
    let value = '-'
    let limit = '-'
    if (t.value !== undefined) [value, limit] = [`${t.value}`, `<= ${t.limit}`]
    else if (t.valueBytes !== undefined) [value, limit] = [`${u.mib(t.valueBytes)} MiB`, `< ${u.mib(t.limitBytes)} MiB`]
    else if (t.valueMs !== undefined) [value, limit] = [`${t.valueMs} ms`, `<= ${t.limitMs} ms`]
    return [t.result, value, limit, t.target]
  })
  log(u.table(['result', 'measured', 'limit', 'target'], trows, ['l', 'r', 'r', 'l']))
  for (const t of Object.values(targets)) if (t.reason) log(`  ${t.result}: ${t.target}: ${t.reason}`)
  log('')
  log(`total bench time: ${(report.durationMs / 1000).toFixed(1)} s; results written to ${path.relative(process.cwd(), report.resultsPath) || report.resultsPath}`)
}

// ------------------------------------------------------------------- main

async function main() {
  const started = u.now()
  const startedAt = new Date().toISOString()
  const caps = sandbox.detectSandboxCapabilities()
  const machine = machineInfo(caps)
  progress(`engine ${caps.engine}, euid ${machine.euid}, ${machine.cores} cores`)
  const pol = policies(caps)

  // Cold start first: later sections leave the kernel tearing down hundreds
  // of namespaces and tap devices in the background, which slows the next
  // namespace creation (the capability probe makes one). A short settle
  // between sections keeps one section's teardown out of the next.
  const settle = () => u.sleep(SETTLE_MS)
  const cold = await sectionCold()
  await settle()
  const perRun = await sectionPerRun(pol, caps)
  const c1 = perRun.firstResults.c
  perRun.secureDowngrades = c1 ? c1.sandbox.downgrades : []
  perRun.secureEnforced = c1 ? c1.sandbox.enforced : null
  perRun.allowlistEnforced = perRun.firstResults.d ? perRun.firstResults.d.sandbox.enforced : null
  delete perRun.firstResults
  await settle()
  const slirp = await sectionSlirp(caps)
  await settle()
  const flood = await sectionFlood()
  await settle()
  const concurrency = await sectionConcurrency(pol, perRun.stats)
  const targets = evaluateTargets(perRun, slirp, flood, concurrency)

  fs.mkdirSync(RESULTS_DIR, { recursive: true })
  const resultsPath = path.join(RESULTS_DIR, 'latest.json')
  const report = {
    startedAt,
    durationMs: u.now() - started,
    loadavgAtEnd: os.loadavg().map((v) => u.round(v, 2)),
    machine,
    config: {
      iterations: N,
      warmup: WARMUP,
      slirpIterations: SLIRP_N,
      floodReps: FLOOD_REPS,
      concurrency: CONCURRENCY,
      concurrencyReps: CONCURRENCY_REPS,
      coldReps: COLD_REPS,
      policies: { secure: pol.secure, allowlist: pol.allowlist, flood: pol.flood },
      bwrapArgs: bwrapArgs('<scratch>'),
    },
    perRun,
    slirp,
    flood,
    concurrency,
    cold,
    targets,
    resultsPath,
  }
  fs.writeFileSync(resultsPath, JSON.stringify(report, roundingReplacer, 2) + '\n')
  printReport(report)
}

/** Milliseconds and ratios to 3 decimals in the JSON. */
function roundingReplacer(key, value) {
  return typeof value === 'number' && !Number.isInteger(value) ? u.round(value) : value
}

const watchdog = setTimeout(() => {
  console.error(`[bench] watchdog: still running after ${WATCHDOG_MS / 1000} s, giving up`)
  u.cleanupAll()
  process.exit(2)
}, WATCHDOG_MS)
watchdog.unref()

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    u.cleanupAll()
    process.exit(128 + (sig === 'SIGINT' ? 2 : 15))
  })
}

main()
  .catch((error) => {
    console.error('[bench] failed:', error?.stack ?? error)
    process.exitCode = 1
  })
  .finally(() => {
    u.cleanupAll()
    clearTimeout(watchdog)
  })
