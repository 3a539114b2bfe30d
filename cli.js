#!/usr/bin/env node
'use strict'

// script-sandbox CLI: caps | plan | run | demo.

const fs = require('node:fs')
const net = require('node:net')
const sandbox = require('./index.js')

const USAGE = `usage:
  script-sandbox caps [--json]
  script-sandbox plan [--policy FILE|default|fail-closed] [--json]
  script-sandbox run [--policy FILE|default|fail-closed] [--timeout MS] [--json] -- CMD [ARGS...]
  script-sandbox demo`

function fail(message) {
  console.error(`script-sandbox: ${message}\n${USAGE}`)
  process.exit(2)
}

function parseArgs(argv) {
  const opts = { json: false, policy: 'default', timeout: 30000, command: [] }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') {
      opts.command = argv.slice(i + 1)
      break
    } else if (arg === '--json') opts.json = true
    else if (arg === '--policy') opts.policy = argv[++i] ?? fail('--policy needs a value')
    else if (arg === '--timeout') {
      opts.timeout = Number(argv[++i])
      if (!(opts.timeout > 0)) fail('--timeout needs a positive number of milliseconds')
    } else fail(`unknown argument ${arg}`)
  }
  return opts
}

function loadPolicy(spec) {
  if (spec === 'default') return sandbox.resolveDefaultSandboxProfile()
  if (spec === 'fail-closed') return sandbox.FAIL_CLOSED_SANDBOX_PROFILE
  let text
  try {
    text = fs.readFileSync(spec, 'utf8')
  } catch (error) {
    fail(`cannot read policy file ${spec}: ${error.message}`)
  }
  try {
    return sandbox.parseSandboxPolicy(JSON.parse(text))
  } catch (error) {
    fail(`invalid policy in ${spec}: ${error.message}`)
  }
}

function printReport(effective, log = console.log) {
  for (const [layer, on] of Object.entries(effective.enforced)) log(`  ${on ? 'enforced    ' : 'NOT enforced'}  ${layer}`)
  for (const d of effective.downgrades) log(`  downgrade ${d.layer}: ${d.reason}`)
  for (const n of effective.notes) log(`  note ${n.layer}: ${n.note}`)
}

function caps(opts) {
  const caps = sandbox.detectSandboxCapabilities()
  const readiness = sandbox.assessSandboxHostReadiness({ caps })
  if (opts.json) return console.log(JSON.stringify({ capabilities: caps, readiness }, null, 2))
  console.log('capabilities:')
  for (const [k, v] of Object.entries(sandbox.summarizeCapabilities(caps))) console.log(`  ${k}: ${JSON.stringify(v)}`)
  console.log(readiness.enforceable ? 'readiness: this host can enforce the sandbox' : sandbox.formatSandboxReadinessBanner({ readiness }))
  for (const w of readiness.warnings ?? []) console.log(`  warning: ${w}`)
}

function plan(opts) {
  const policy = loadPolicy(opts.policy)
  const caps = sandbox.detectSandboxCapabilities()
  const effective = sandbox.describeEffectiveDefault({ policy, caps })
  let launch
  try {
    launch = sandbox.buildSpawnHardening({
      policy: { ...policy, onUnavailable: 'degrade' },
      caps,
      baseEnv: sandbox.pickSafeEnv(),
      filesystem: { scratchDir: '/tmp/script-sandbox-example' },
    }).launch
  } catch {
    launch = undefined
  }
  if (opts.json) return console.log(JSON.stringify({ policy, effective, launch: launch ?? null }, null, 2))
  console.log(`policy: ${JSON.stringify(policy)}`)
  console.log('effective on this host:')
  printReport(effective)
  if (launch) {
    console.log(`launcher: ${launch.launcher}`)
    console.log(`namespaces: ${Object.entries(launch.namespaces).filter(([, on]) => on).map(([n]) => n).join(', ') || 'none'}`)
    console.log('setup steps:')
    for (const op of launch.setup) {
      const { op: name, ...rest } = op
      console.log(`  ${name}${Object.keys(rest).length ? ' ' + JSON.stringify(rest) : ''}`)
    }
    console.log(`rlimits: ${launch.rlimits.map((r) => `${r.resource}=${r.value}`).join(' ') || 'none'}`)
  }
}

async function run(opts) {
  if (opts.command.length === 0) fail('run needs a command after --')
  const policy = loadPolicy(opts.policy)
  const result = await sandbox.runSandboxed({
    command: opts.command,
    policy,
    timeoutMs: opts.timeout,
    ...(process.stdin.isTTY ? {} : { stdin: fs.readFileSync(0) }),
  })
  if (opts.json) {
    console.log(JSON.stringify(result, null, 2))
  } else {
    process.stdout.write(result.stdout)
    process.stderr.write(result.stderr)
    console.error(`\n[script-sandbox] exit ${result.exitCode}${result.signal ? ` (${result.signal})` : ''}` +
      `${result.timedOut ? ', timed out' : ''}${result.outputTruncated ? ', output truncated' : ''}`)
    printReport(result.sandbox, console.error)
  }
  process.exitCode = result.exitCode >= 0 && result.exitCode < 256 ? result.exitCode : 1
}

const DEMO_SCRIPT = (port) => `
echo "== a hostile script, under the secure default policy"
printf 'read /etc/shadow:        '; cat /etc/shadow >/dev/null 2>&1 && echo "READ (not blocked)" || echo blocked
printf 'list /root:              '; ls /root >/dev/null 2>&1 && echo "LISTED (not blocked)" || echo blocked
printf 'supervisor secret:       '; [ -n "$DEMO_SECRET" ] && echo "LEAKED: $DEMO_SECRET" || echo "not visible"
printf 'write /usr/evil:         '; (echo x > /usr/evil) 2>/dev/null && echo "WRITTEN (not blocked)" || echo blocked
printf 'write the scratch dir:   '; echo ok > ./note.txt && cat ./note.txt
printf 'connect 127.0.0.1:${port}: '; (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && echo "CONNECTED (not blocked)" || echo blocked
printf 'whoami (uid):            '; id -u
printf 'fork bomb (nproc 64):    '; sh -c 'f() { f | f & }; f' 2>bomb.log; sleep 1; grep -qi fork bomb.log && echo "stopped at the process cap" || echo "NOT capped"
`

async function demo() {
  const server = net.createServer((s) => s.end('hello\n'))
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = server.address().port
  process.env.DEMO_SECRET = 'postgres://admin:hunter2@db'
  const caps = sandbox.detectSandboxCapabilities()
  const readiness = sandbox.assessSandboxHostReadiness({ caps })
  const base = sandbox.resolveDefaultSandboxProfile()
  const policy = {
    ...base,
    onUnavailable: readiness.enforceable ? base.onUnavailable : 'degrade',
    resources: { ...base.resources, maxProcesses: 64 },
  }
  console.log(`host: engine=${caps.engine} userNamespaces=${caps.userNsCreatable} landlockAbi=${caps.landlockAbi} euidIsRoot=${caps.euidIsRoot}`)
  if (!readiness.enforceable) console.log(sandbox.formatSandboxReadinessBanner({ readiness }))
  const result = await sandbox.runSandboxed({
    command: ['bash', '-c', DEMO_SCRIPT(port)],
    policy,
    timeoutMs: 20000,
  })
  server.close()
  process.stdout.write(result.stdout)
  if (result.stderr.trim()) console.log(`stderr: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`)
  console.log(`exit ${result.exitCode}, ${result.durationMs.toFixed(1)} ms, max RSS ${((result.resourceUsage?.maxRssBytes ?? 0) / 1048576).toFixed(1)} MiB`)
  console.log('effective sandbox:')
  printReport(result.sandbox)
}

async function main() {
  const [cmd, ...rest] = process.argv.slice(2)
  const opts = parseArgs(rest)
  switch (cmd) {
    case 'caps':
      return caps(opts)
    case 'plan':
      return plan(opts)
    case 'run':
      return run(opts)
    case 'demo':
      return demo()
    default:
      fail(cmd === undefined ? 'missing command' : `unknown command ${cmd}`)
  }
}

main().catch((error) => {
  console.error(`script-sandbox: ${error.message}`)
  process.exit(1)
})
