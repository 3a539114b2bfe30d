'use strict'

// `npm test`: install, build, then every suite — cargo tests, the type
// check, and the node tests as this user and (when run as root) again as an
// unprivileged user, since a non-root supervisor is the main deployment.

const { execFileSync, spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')

const root = path.resolve(__dirname, '..')
const unprivUser = process.env.SANDBOX_TEST_USER ?? 'sbtest'
const failures = []

function step(name, cmd, args, opts = {}) {
  console.log(`\n=== ${name}\n$ ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts })
  if (r.status !== 0) {
    console.error(`--- ${name}: FAILED (${r.status ?? r.signal ?? r.error})`)
    failures.push(name)
  }
}

/** Test hosts made as root for the unprivileged pass; null when not possible. */
async function startTestHosts() {
  const child = spawn(process.execPath, [path.join(root, '__test__', 'testhosts.js')], { stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise((resolve) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve)
    child.once('exit', () => resolve(null))
  })
  const stop = () => new Promise((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.once('exit', resolve)
    child.stdin.end()
  })
  return { hosts: line, stop }
}

function stageReadableCopy() {
  // CI's clone may sit where the unprivileged user cannot read.
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'script-sandbox-unpriv-'))
  const entries = ['package.json', 'README.md', 'index.js', 'index.d.ts', 'binding.js', 'binding.d.ts', 'cli.js', 'lib', '__test__', 'script-sandbox-launcher']
  for (const entry of entries) fs.cpSync(path.join(root, entry), path.join(stage, entry), { recursive: true })
  for (const f of fs.readdirSync(root).filter((f) => f.endsWith('.node'))) fs.copyFileSync(path.join(root, f), path.join(stage, f))
  execFileSync('chmod', ['-R', 'a+rX', stage])
  return stage
}

async function main() {
  if (!fs.existsSync(path.join(root, 'node_modules', '.bin', 'napi'))) {
    execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' })
  }
  execFileSync(process.execPath, [path.join(__dirname, 'build.js')], { cwd: root, stdio: 'inherit' })

  step('generated binding matches the committed one', 'git', ['diff', '--exit-code', '--', 'binding.js', 'binding.d.ts'])
  step('rustfmt', 'cargo', ['fmt', '--all', '--check'])
  step('clippy', 'cargo', ['clippy', '--workspace', '--all-targets', '--', '-D', 'warnings'])
  step('cargo test', 'cargo', ['test', '--workspace'])
  step('type check', path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', '__test__/tsconfig.json'])

  const testFiles = fs.readdirSync(path.join(root, '__test__')).filter((f) => f.endsWith('.test.js')).sort().map((f) => `__test__/${f}`)
  step(`node tests (${os.userInfo().username})`, process.execPath, ['--test', '--test-concurrency=1', ...testFiles])

  if (process.geteuid() === 0) {
    if (spawnSync('id', ['-u', unprivUser], { stdio: 'ignore' }).status === 0) {
      const stage = stageReadableCopy()
      const fixture = await startTestHosts()
      step(`node tests (${unprivUser})`, 'runuser', ['-u', unprivUser, '--', process.execPath, '--test', '--test-concurrency=1', ...testFiles], {
        cwd: stage,
        env: {
          PATH: process.env.PATH,
          HOME: '/tmp',
          LANG: 'C.UTF-8',
          SANDBOX_MUST_WORK: process.env.SANDBOX_MUST_WORK ?? '',
          ...(fixture.hosts ? { SANDBOX_TEST_HOSTS: fixture.hosts } : {}),
        },
      })
      await fixture.stop()
      fs.rmSync(stage, { recursive: true, force: true })
    } else {
      console.log(`\n=== node tests as an unprivileged user: SKIPPED (no user ${unprivUser}; .ci/run creates it)`)
      if (process.env.SANDBOX_MUST_WORK === '1') failures.push('unprivileged user missing')
    }
  }

  if (failures.length > 0) {
    console.error(`\nFAILED: ${failures.join(', ')}`)
    process.exit(1)
  }
  console.log('\nall suites passed')
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
