'use strict'

// One output-flood measurement in a fresh supervisor process (spawned by
// bench.js with --expose-gc), so memory a previous flood left in malloc arenas
// or the V8 heap cannot hide this run's growth. Prints one JSON line.
//
//   node --expose-gc bench/flood-child.js <root> <offeredBytes> <capBytes> <timeoutMs> <callback|none>

const u = require('./util.js')

async function main() {
  const [root, offeredArg, capArg, timeoutArg, mode] = process.argv.slice(2)
  const offered = Number(offeredArg)
  const cap = Number(capArg)
  const withCallback = mode === 'callback'
  const sandbox = require(root)
  const gc = u.exposeGc()
  const policy = sandbox.mergeSandboxPolicy({
    base: sandbox.resolveDefaultSandboxProfile(),
    override: { onUnavailable: 'degrade', resources: { maxOutputBytes: cap } },
  })
  // Warm the runtime (tokio threads, capability probe, first-run costs).
  for (let i = 0; i < 3; i++) {
    const r = await sandbox.runSandboxed({ command: ['true'], policy, timeoutMs: 30_000 })
    if (r.exitCode !== 0) throw new Error(`warm-up run failed: ${r.stderr}`)
  }
  gc?.()
  gc?.()
  await u.sleep(20)
  const rssBefore = process.memoryUsage.rss()
  const hwmReset = u.resetPeakRss()
  let sampledPeak = rssBefore
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss()
    if (rss > sampledPeak) sampledPeak = rss
  }, 2)
  let delivered = 0
  let capAt = null
  let firstAt = null
  const t0 = u.now()
  let result
  try {
    result = await sandbox.runSandboxed({
      command: ['head', '-c', String(offered), '/dev/zero'],
      policy,
      timeoutMs: Number(timeoutArg),
      onStdout: withCallback
        ? (chunk) => {
            if (firstAt === null) firstAt = u.now()
            delivered += chunk.length
            if (capAt === null && delivered >= cap) capAt = u.now()
          }
        : undefined,
    })
  } finally {
    clearInterval(sampler)
  }
  const end = u.now()
  const rssAfter = process.memoryUsage.rss()
  if (rssAfter > sampledPeak) sampledPeak = rssAfter
  const hwm = hwmReset ? u.peakRss() : null
  const peak = Math.max(sampledPeak, hwm ?? 0)
  if (result.setupError) throw new Error(`flood: setup failed: ${result.setupError.message}`)
  const out = {
    withOnStdout: withCallback,
    wallMs: end - t0,
    startToFirstByteMs: firstAt === null ? null : firstAt - t0,
    startToCapMs: capAt === null ? null : capAt - t0,
    capToEndMs: capAt === null ? null : end - capAt,
    deliveredBytes: delivered,
    capturedStdoutBytes: Buffer.byteLength(result.stdout),
    outputTruncated: result.outputTruncated,
    exitCode: result.exitCode,
    signal: result.signal,
    timedOut: result.timedOut,
    nativeDurationMs: result.durationMs,
    gcForced: gc !== null,
    peakFrom: hwm !== null && hwm >= sampledPeak ? 'VmHWM' : 'sampled',
    rssBefore,
    rssAfter,
    peakRssSampled: sampledPeak,
    peakRssHwm: hwm,
    rssGrowth: peak - rssBefore,
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}

main().catch((error) => {
  console.error(error?.stack ?? error)
  process.exitCode = 1
})
