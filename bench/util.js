'use strict'

// Helpers for bench/bench.js: statistics, bounded child processes that are
// always cleaned up, temp dirs, peak-RSS probes and table formatting.

const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { performance } = require('node:perf_hooks')

const now = () => performance.now()

// ------------------------------------------------------------------ stats

/** Nearest-rank percentile of an unsorted array (p in 0..100). */
function percentile(values, p) {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((x, y) => x - y)
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[Math.min(rank, sorted.length) - 1]
}

function median(values) {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((x, y) => x - y)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function summarize(values) {
  return {
    n: values.length,
    median: median(values),
    p95: percentile(values, 95),
    min: values.length ? Math.min(...values) : NaN,
    max: values.length ? Math.max(...values) : NaN,
    mean: values.length ? values.reduce((s, v) => s + v, 0) / values.length : NaN,
  }
}

const round = (v, digits = 3) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : null)

function roundSummary(s) {
  const out = {}
  for (const [k, v] of Object.entries(s)) out[k] = k === 'n' ? v : round(v)
  return out
}

// ------------------------------------------------- children and temp dirs

/** Every child we started and that has not exited yet, by pid. */
const liveChildren = new Map()
/** Every temp dir we created and have not removed yet. */
const liveDirs = new Set()

function track(child) {
  if (child.pid !== undefined) {
    liveChildren.set(child.pid, child)
    child.once('exit', () => liveChildren.delete(child.pid))
  }
  return child
}

/** Kill (by pid) every child this process started that is still alive; remove temp dirs. */
function cleanupAll() {
  for (const [pid] of liveChildren) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  liveChildren.clear()
  for (const dir of liveDirs) removeDir(dir)
}

function makeTempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  liveDirs.add(dir)
  return dir
}

function removeDir(dir) {
  try {
    fs.rmSync(dir, { recursive: true, force: true })
  } catch {
    // best effort
  }
  liveDirs.delete(dir)
}

/**
 * Spawn and wait for 'close'; output is collected (like the addon does).
 * Never waits longer than timeoutMs: the child is SIGKILLed and the promise rejects.
 */
function spawnWait(cmd, args, { timeoutMs = 30_000, stdio = ['ignore', 'pipe', 'pipe'], env, cwd } = {}) {
  return new Promise((resolve, reject) => {
    let child
    try {
      child = track(spawn(cmd, args, { stdio, env, cwd }))
    } catch (error) {
      reject(error)
      return
    }
    const out = []
    const err = []
    child.stdout?.on('data', (c) => out.push(c))
    child.stderr?.on('data', (c) => err.push(c))
    let done = false
    const timer = setTimeout(() => {
      if (done) return
      done = true
      try {
        child.kill('SIGKILL')
      } catch {}
      reject(new Error(`${cmd} ${args.join(' ')}: timed out after ${timeoutMs} ms`))
    }, timeoutMs)
    child.once('error', (error) => {
      if (done) return
      done = true
      clearTimeout(timer)
      reject(error)
    })
    child.once('close', (code, signal) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      })
    })
  })
}

/** Wait for a tracked child to exit, SIGKILLing it after graceMs. */
function waitExit(child, graceMs = 2000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try {
        child.kill('SIGKILL')
      } catch {}
    }, graceMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Find an executable on PATH (plus the sbin dirs), or null. */
function which(name) {
  const dirs = (process.env.PATH || '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin'])
  for (const dir of dirs) {
    if (!dir) continue
    const p = path.join(dir, name)
    try {
      fs.accessSync(p, fs.constants.X_OK)
      if (fs.statSync(p).isFile()) return p
    } catch {}
  }
  return null
}

function firstLine(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n')[0]
      .trim()
  } catch {
    return null
  }
}

// ------------------------------------------------------------------- memory

/** Reset this process's peak-RSS mark (VmHWM); false where the kernel refuses. */
function resetPeakRss() {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5')
    return true
  } catch {
    return false
  }
}

/** VmHWM of this process in bytes, or null. */
function peakRss() {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))
    return m ? Number(m[1]) * 1024 : null
  } catch {
    return null
  }
}

/** A callable gc(): --expose-gc turned on at run time, or null. */
function exposeGc() {
  if (typeof global.gc === 'function') return global.gc
  try {
    require('node:v8').setFlagsFromString('--expose-gc')
    const gc = require('node:vm').runInNewContext('gc')
    return typeof gc === 'function' ? gc : null
  } catch {
    return null
  }
}

// ------------------------------------------------------------------- table

/** align: one 'l' or 'r' per column (default: first left, the rest right). */
function table(headers, rows, align) {
  const cells = [headers, ...rows].map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)))
  const left = (i) => (align ? align[i] === 'l' : i === 0)
  const line = (r) => r.map((c, i) => (left(i) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd()
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n')
}

const fmt = (v, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : '-')
const mib = (bytes) => (Number.isFinite(bytes) ? (bytes / 1048576).toFixed(2) : '-')

module.exports = {
  now,
  percentile,
  median,
  summarize,
  round,
  roundSummary,
  track,
  cleanupAll,
  liveChildren,
  makeTempDir,
  removeDir,
  spawnWait,
  waitExit,
  sleep,
  which,
  firstLine,
  resetPeakRss,
  peakRss,
  exposeGc,
  table,
  fmt,
  mib,
}
