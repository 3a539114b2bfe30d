'use strict'

// Hosts that forbid namespaces (a container's default seccomp profile):
// Landlock and seccomp stand in for the filesystem and deny layers. The
// capability set is injected with namespaces blocked, so the launcher really
// runs without them here, and each claimed layer is attacked.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const sandbox = require('..')
const { requireCapability, uniqueToken, survivorsAfter } = require('./helpers.js')

const detected = sandbox.detectSandboxCapabilities()
const blocked = {
  ...detected,
  userNamespaces: false,
  userNsCreatable: false,
  netNamespaces: false,
  nativeNamespaces: false,
  netEgressRootless: false,
}
const policy = { ...sandbox.DEFAULT_SANDBOX_PROFILE, onUnavailable: 'degrade' }

function ready(t) {
  return requireCapability(
    t,
    detected.engine === 'native' && (detected.landlockAbi ?? 0) >= 6 && detected.seccomp,
    'needs the launcher, Landlock ABI 6+ (Linux 6.12) and seccomp',
  )
}

function run(script, extra = {}) {
  return sandbox.runSandboxed({ command: ['bash', '-c', script], policy, caps: blocked, timeoutMs: 20000, ...extra })
}

test('the report claims filesystem and network, with notes saying how', async (t) => {
  if (!ready(t)) return
  const r = await run('echo ok')
  assert.equal(r.exitCode, 0, r.stderr)
  assert.equal(r.sandbox.enforced.filesystem, true)
  assert.equal(r.sandbox.enforced.network, true)
  assert.equal(r.sandbox.enforced.privilege, true)
  const notes = r.sandbox.notes.map((n) => n.layer)
  assert.ok(notes.includes('filesystem') && notes.includes('network'), JSON.stringify(r.sandbox.notes))
})

test('outside the scratch dir nothing is readable or writable, even where the host would allow it', async (t) => {
  if (!ready(t)) return
  const token = uniqueToken()
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'fallback-outside-'))
  fs.chmodSync(outside, 0o777)
  const secret = path.join(outside, 'secret.txt')
  fs.writeFileSync(secret, `visible-${token}`)
  fs.chmodSync(secret, 0o666)
  try {
    const script = [
      `cat ${secret}`,
      `echo tampered > ${secret} && echo WROTE-EXISTING`,
      `echo x > ${outside}/new-${token} && echo WROTE-NEW`,
      `echo x > /tmp/evil-${token} && echo WROTE-TMP`,
      'ls /home /root >/dev/null 2>&1 && echo LISTED',
      'echo inside > ./inside.txt && cat ./inside.txt',
      'echo "tmpdir=$TMPDIR pwd=$(pwd)"',
    ].join('; ')
    const r = await run(script)
    assert.equal(r.stdout.includes(`visible-${token}`), false, r.stdout)
    for (const word of ['WROTE-EXISTING', 'WROTE-NEW', 'WROTE-TMP', 'LISTED']) assert.equal(r.stdout.includes(word), false, `${word}: ${r.stdout}`)
    assert.match(r.stdout, /^inside$/m)
    const [, tmpdir, pwd] = r.stdout.match(/tmpdir=(\S+) pwd=(\S+)/)
    assert.equal(tmpdir, pwd, 'temp files go to the scratch dir')
    assert.equal(fs.readFileSync(secret, 'utf8'), `visible-${token}`)
    assert.equal(fs.existsSync(`/tmp/evil-${token}`), false)

    // Control: the same reads and writes succeed without the sandbox.
    const open = await sandbox.runSandboxed({ command: ['bash', '-c', `cat ${secret}`], policy: { enabled: false }, timeoutMs: 10000 })
    assert.equal(open.stdout, `visible-${token}`)
  } finally {
    fs.rmSync(outside, { recursive: true, force: true })
  }
})

test("the supervisor's environment is out of reach (no /proc)", async (t) => {
  if (!ready(t)) return
  const secret = `fallback-secret-${uniqueToken()}`
  process.env.SANDBOX_FALLBACK_SECRET = secret
  try {
    const r = await run(`env; cat /proc/${process.pid}/environ; cat /proc/self/environ; echo end`)
    assert.match(r.stdout, /end/)
    assert.equal(r.stdout.includes(secret), false)
  } finally {
    delete process.env.SANDBOX_FALLBACK_SECRET
  }
})

test('deny without a network namespace: inet sockets are refused', async (t) => {
  if (!ready(t)) return
  const server = net.createServer((s) => s.end('reached-host\n'))
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  try {
    const probe = `(exec 3<>/dev/tcp/127.0.0.1/${port} && head -1 <&3) 2>&1`
    const r = await run(probe)
    assert.equal(r.stdout.includes('reached-host'), false, r.stdout)
    assert.match(r.stdout, /Permission denied/)
    // Control: with the network unrestricted the probe gets through.
    const open = await run(probe, { policy: { ...policy, network: { mode: 'unrestricted', allow: [], denyLinkLocalAndMetadata: false } } })
    assert.match(open.stdout, /reached-host/)
  } finally {
    server.close()
  }
})

test('namespace syscalls stay refused, so the script cannot build its own way out', async (t) => {
  if (!ready(t)) return
  const r = await run('unshare -U true && echo UNSHARED; grep -c . /dev/null; echo end')
  assert.equal(r.stdout.includes('UNSHARED'), false)
  assert.match(r.stdout, /end/)
})

test('the ESM runner works under the stand-in layers', async (t) => {
  if (!ready(t)) return
  const r = await sandbox.runSandboxed({
    command: [process.execPath, '-e', 'console.log(JSON.stringify({ sum: 40 + 2 }))'],
    policy,
    caps: blocked,
    interpreterPath: fs.realpathSync(process.execPath),
    timeoutMs: 20000,
  })
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout), { sum: 42 })
})

test('signals cannot leave the sandbox: the supervisor cannot be signalled', async (t) => {
  if (!ready(t)) return
  // kill -0 asks for permission without sending anything.
  const r = await run(`kill -0 ${process.pid} 2>/dev/null && echo CAN-SIGNAL-SUPERVISOR; kill -0 $$ && echo can-signal-itself`)
  assert.equal(r.stdout.includes('CAN-SIGNAL-SUPERVISOR'), false, r.stdout)
  assert.match(r.stdout, /can-signal-itself/)
  // Control: without the sandbox the same check succeeds.
  const open = await sandbox.runSandboxed({ command: ['sh', '-c', `kill -0 ${process.pid} && echo CAN-SIGNAL-SUPERVISOR`], policy: { enabled: false }, timeoutMs: 10000 })
  assert.match(open.stdout, /CAN-SIGNAL-SUPERVISOR/)
})

test('host Unix sockets are refused', async (t) => {
  if (!ready(t)) return
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fallback-sock-'))
  fs.chmodSync(dir, 0o777)
  const sock = path.join(dir, 's.sock')
  const server = net.createServer((c) => c.end('reached-unix\n'))
  await new Promise((resolve) => server.listen(sock, resolve))
  fs.chmodSync(sock, 0o777)
  const probe = `const c=require('net').connect(${JSON.stringify(sock)});c.on('data',d=>{process.stdout.write(String(d));process.exit(0)});c.on('error',e=>{console.log('ERR',e.code);process.exit(0)})`
  const node = (extra) => sandbox.runSandboxed({ command: [process.execPath, '-e', probe], interpreterPath: fs.realpathSync(process.execPath), timeoutMs: 20000, ...extra })
  try {
    const r = await node({ policy, caps: blocked })
    assert.equal(r.stdout.includes('reached-unix'), false, r.stdout)
    assert.match(r.stdout, /ERR/)
    const open = await node({ policy: { enabled: false } })
    assert.match(open.stdout, /reached-unix/)
  } finally {
    server.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('a timeout leaves no survivor, even one that tries to leave the process group', async (t) => {
  if (!ready(t)) return
  const marker = `6${Math.floor(Math.random() * 1e8)}`
  const r = await run(`setsid sleep ${marker} & (sleep ${marker} &); sleep 1000`, { timeoutMs: 700 })
  assert.equal(r.timedOut, true)
  assert.deepEqual(await survivorsAfter(`sleep\0${marker}`), [])
})
