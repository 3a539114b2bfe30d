'use strict'

// Packaging: pack the main and the linux-x64-gnu packages, install both into
// a fresh project outside this repo, and use them from there — CLI, require,
// a sandboxed run — under Node and under Bun, plus the drop-in TypeScript
// caller under Bun.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')

const { requireCapability } = require('./helpers.js')

const root = path.resolve(__dirname, '..')
const inRepo = fs.existsSync(path.join(root, 'scripts', 'package.js')) && process.arch === 'x64'
const SIZE_LIMIT = 5 * 1024 * 1024

let project
let packed

function npm(args, cwd) {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } })
}

function du(dir) {
  let total = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    total += entry.isDirectory() ? du(p) : fs.lstatSync(p).size
  }
  return total
}

test.before(() => {
  if (!inRepo) return
  packed = JSON.parse(execFileSync(process.execPath, [path.join(root, 'scripts', 'package.js')], { cwd: root, encoding: 'utf8' }))
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-consumer-'))
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
  npm(['install', '--no-package-lock', packed.platform.tarball, packed.main.tarball], project)
  fs.chmodSync(project, 0o755)
})

test.after(() => {
  if (project) fs.rmSync(project, { recursive: true, force: true })
})

function skipOutsideRepo(t) {
  if (inRepo) return true
  t.skip('packaging is tested from the repository checkout on x64 (the root pass)')
  return false
}

test('the installed x64 platform package carries the addon and the launcher, under 5 MiB', (t) => {
  if (!skipOutsideRepo(t)) return
  const dir = path.join(project, 'node_modules', '@checkstack', 'script-sandbox-linux-x64-gnu')
  assert.ok(fs.existsSync(path.join(dir, 'script-sandbox.linux-x64-gnu.node')))
  const launcher = path.join(dir, 'script-sandbox-launcher')
  assert.ok(fs.statSync(launcher).mode & 0o111, 'launcher is executable')
  const size = du(dir)
  console.log(`# installed size: platform package ${(size / 1048576).toFixed(2)} MiB, main package ${(du(path.join(project, 'node_modules', '@checkstack', 'script-sandbox')) / 1024).toFixed(0)} KiB; tarballs ${(packed.platform.size / 1048576).toFixed(2)} MiB + ${(packed.main.size / 1024).toFixed(0)} KiB`)
  assert.ok(size < SIZE_LIMIT, `platform package is ${size} bytes`)
})

test('from the consumer project: require, the CLI, and a sandboxed echo under Node', (t) => {
  if (!skipOutsideRepo(t)) return
  const caps = spawnSync(path.join(project, 'node_modules', '.bin', 'script-sandbox'), ['caps', '--json'], { cwd: project, encoding: 'utf8' })
  assert.equal(caps.status, 0, caps.stderr)
  const report = JSON.parse(caps.stdout)
  assert.match(report.capabilities.launcher, /node_modules\/@checkstack\/script-sandbox-linux-x64-gnu\/script-sandbox-launcher$/)
  const code = `
    const s = require('@checkstack/script-sandbox')
    s.runSandboxed({ command: ['echo', 'packaged-echo'], policy: { ...s.DEFAULT_SANDBOX_PROFILE, onUnavailable: 'degrade' }, timeoutMs: 10000 })
      .then((r) => console.log(JSON.stringify({ out: r.stdout, code: r.exitCode, enforced: r.sandbox.enforced })))`
  const run = spawnSync(process.execPath, ['-e', code], { cwd: project, encoding: 'utf8' })
  assert.equal(run.status, 0, run.stderr)
  const result = JSON.parse(run.stdout)
  assert.equal(result.out, 'packaged-echo\n')
  assert.equal(result.code, 0)
})

test('under Bun: the package loads and runs, and the drop-in TypeScript caller passes', (t) => {
  if (!skipOutsideRepo(t)) return
  let bun
  try {
    npm(['install', '--no-package-lock', '--no-save', '@oven/bun-linux-x64'], project)
    bun = path.join(project, 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun')
  } catch (error) {
    if (!requireCapability(t, false, `cannot install Bun from the npm registry: ${error.message.split('\n')[0]}`)) return
  }
  assert.ok(fs.existsSync(bun), 'the npm package ships a bun binary')
  const version = spawnSync(bun, ['--version'], { encoding: 'utf8' })
  assert.equal(version.status, 0, version.stderr)
  const echo = spawnSync(bun, ['-e', `
    const s = require('@checkstack/script-sandbox')
    const r = await s.runSandboxed({ command: ['echo', 'from-bun'], policy: { ...s.DEFAULT_SANDBOX_PROFILE, onUnavailable: 'degrade' }, timeoutMs: 10000 })
    console.log(r.stdout.trim(), r.exitCode)`], { cwd: project, encoding: 'utf8' })
  assert.equal(echo.status, 0, echo.stderr)
  assert.equal(echo.stdout.trim(), 'from-bun 0')
  fs.copyFileSync(path.join(__dirname, 'dropin.ts'), path.join(project, 'dropin.ts'))
  const dropin = spawnSync(bun, ['run', 'dropin.ts'], { cwd: project, encoding: 'utf8', env: { ...process.env, PATH: `${path.dirname(bun)}:${process.env.PATH}` } })
  assert.equal(dropin.status, 0, `${dropin.stdout}\n${dropin.stderr}`)
  assert.match(dropin.stdout, /drop-in: all checks passed/)
})
