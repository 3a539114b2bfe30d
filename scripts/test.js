'use strict'

// `npm test`: install, build, then every suite — cargo tests, the type
// check, and the node tests as this user and (when run as root) again as an
// unprivileged user, since a non-root supervisor is the main deployment.

const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const unprivUser = process.env.SANDBOX_TEST_USER ?? 'sbtest'
const failures = []

function step(name, cmd, args, opts = {}) {
  console.log(`\n=== ${name}\n$ ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts })
  if (r.status !== 0) {
    console.error(`--- ${name}: FAILED (${r.status ?? r.signal})`)
    failures.push(name)
  }
  return r.status === 0
}

function userExists(name) {
  return spawnSync('id', ['-u', name], { stdio: 'ignore' }).status === 0
}

if (!fs.existsSync(path.join(root, 'node_modules', '.bin', 'napi'))) {
  execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' })
}
execFileSync(process.execPath, [path.join(__dirname, 'build.js')], { cwd: root, stdio: 'inherit' })

step('generated binding is committed as built', 'git', ['diff', '--exit-code', '--', 'binding.js', 'binding.d.ts'])
step('cargo test', 'cargo', ['test', '--workspace', '--release'])
step('type check', path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', '__test__/tsconfig.json'])

const testFiles = fs.readdirSync(path.join(root, '__test__')).filter((f) => f.endsWith('.test.js')).sort()
step('node tests (' + os.userInfo().username + ')', process.execPath, ['--test', '--test-concurrency=1', ...testFiles.map((f) => `__test__/${f}`)])

if (process.geteuid() === 0) {
  if (userExists(unprivUser)) {
    // The clone may sit where that user cannot read: stage a readable copy.
    const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'script-sandbox-unpriv-'))
    for (const entry of ['package.json', 'index.js', 'index.d.ts', 'binding.js', 'binding.d.ts', 'cli.js', 'lib', '__test__', 'script-sandbox-launcher']) {
      fs.cpSync(path.join(root, entry), path.join(stage, entry), { recursive: true })
    }
    for (const f of fs.readdirSync(root).filter((f) => f.endsWith('.node'))) {
      fs.copyFileSync(path.join(root, f), path.join(stage, f))
    }
    execFileSync('chmod', ['-R', 'a+rX', stage])
    fs.chmodSync(stage, 0o755)
    step(`node tests (${unprivUser})`, 'runuser', ['-u', unprivUser, '--', process.execPath, '--test', '--test-concurrency=1', ...testFiles.map((f) => `__test__/${f}`)], {
      cwd: stage,
      env: { PATH: process.env.PATH, HOME: '/tmp', LANG: 'C.UTF-8', SANDBOX_MUST_WORK: process.env.SANDBOX_MUST_WORK ?? '' },
    })
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
