'use strict'

// Test hosts for the network tests: two network namespaces joined to the
// host by veth pairs, with addresses we assign and a TCP responder in each.
// Traffic in the tests goes only to these hosts (and loopback). Creating them
// needs root; the root test pass passes them to the unprivileged pass via
// SANDBOX_TEST_HOSTS.

const { spawn, spawnSync } = require('node:child_process')

const PORT = 8080

function ip(args) {
  const r = spawnSync('ip', args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr || r.error}`)
}

/** `{ A: { ip, port, reply }, B: ... }` from the env, or null. */
function hostsFromEnv() {
  const raw = process.env.SANDBOX_TEST_HOSTS
  return raw ? JSON.parse(raw) : null
}

/** Create the two hosts; returns them and a cleanup function. Root only. */
function createTestHosts() {
  const tag = (process.pid % 10000).toString()
  const octet = 20 + (process.pid % 100) * 2
  const hosts = {}
  const responders = []
  const namespaces = []
  const cleanup = () => {
    for (const p of responders) {
      try {
        process.kill(p.pid, 'SIGKILL')
      } catch {}
    }
    for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns])
  }
  try {
    for (const [i, name] of ['A', 'B'].entries()) {
      const ns = `sbx${tag}${name.toLowerCase()}`
      const hostIf = `sbx${tag}${name.toLowerCase()}0`
      const nsIf = `sbx${tag}${name.toLowerCase()}1`
      const subnet = `10.213.${octet + i}`
      spawnSync('ip', ['netns', 'del', ns])
      ip(['netns', 'add', ns])
      namespaces.push(ns)
      ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf])
      ip(['link', 'set', nsIf, 'netns', ns])
      ip(['addr', 'add', `${subnet}.1/24`, 'dev', hostIf])
      ip(['link', 'set', hostIf, 'up'])
      ip(['-n', ns, 'addr', 'add', `${subnet}.2/24`, 'dev', nsIf])
      ip(['-n', ns, 'link', 'set', nsIf, 'up'])
      ip(['-n', ns, 'link', 'set', 'lo', 'up'])
      const reply = `reply-from-${name}-${tag}`
      const code = `require('net').createServer((s) => s.end(${JSON.stringify(reply + '\n')})).listen(${PORT}, '${subnet}.2', () => console.log('ready'))`
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
      responders.push(child)
      hosts[name] = { ip: `${subnet}.2`, port: PORT, reply, namespace: ns }
    }
  } catch (error) {
    cleanup()
    throw error
  }
  const ready = Promise.all(responders.map((c) => new Promise((resolve, reject) => {
    c.stdout.once('data', resolve)
    c.once('exit', (code) => reject(new Error(`responder exited (${code})`)))
  })))
  return { hosts, ready, cleanup }
}

function namespaceExists(ns) {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  return r.stdout.split('\n').some((line) => line.split(' ')[0] === ns)
}

module.exports = { createTestHosts, hostsFromEnv, namespaceExists }

// `node testhosts.js`: create the hosts, print them, keep them until stdin closes.
if (require.main === module) {
  const { hosts, ready, cleanup } = createTestHosts()
  ready.then(() => {
    process.stdout.write(JSON.stringify(hosts) + '\n')
  })
  process.stdin.resume()
  process.stdin.on('end', () => {
    cleanup()
    process.exit(0)
  })
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanup(); process.exit(1) })
}
