'use strict'

// Capability detection on this real host, its caching, and the
// observability helpers (SPEC §2.2, §2.4 "Observability", §2.5, §3).

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const sandbox = require('..')
const binding = require('../binding.js')
const { fullCaps, darwinCaps } = require('./helpers.js')
const {
  detectSandboxCapabilities,
  __resetCapabilitiesCacheForTest,
  summarizeCapabilities,
  describeEffectiveDefault,
  summarizeRunDowngrades,
  surfaceRunDowngrades,
  logSandboxCapabilitiesAtStartup,
  assessSandboxHostReadiness,
  formatSandboxReadinessBanner,
  truncateCapturedOutput,
  shellQuote,
  buildSpawnHardening,
  DEFAULT_SANDBOX_PROFILE,
  FAIL_CLOSED_SANDBOX_PROFILE,
} = sandbox

const MUST_WORK = process.env.SANDBOX_MUST_WORK === '1'

/** Skip for a missing host capability, or fail when SANDBOX_MUST_WORK=1. */
function skipOrFail(t, reason) {
  if (MUST_WORK) assert.fail(`host capability missing (SANDBOX_MUST_WORK=1): ${reason}`)
  t.skip(reason)
}

function isExecutableFile(p) {
  try {
    if (!fs.statSync(p).isFile()) return false
    fs.accessSync(p, fs.constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** `command -v` for absolute PATH entries, then the extra dirs. */
function which(name, extraDirs = []) {
  const dirs = (process.env.PATH ?? '').split(':').filter((d) => d.startsWith('/'))
  for (const dir of [...dirs, ...extraDirs]) {
    const candidate = path.join(dir, name)
    if (isExecutableFile(candidate)) return candidate
  }
  return null
}

function commandExists(name) {
  return which(name) !== null
}

const caps = detectSandboxCapabilities()



function recordingLogger() {
  const infos = []
  const warns = []
  return {
    infos,
    warns,
    logger: {
      info: (message, ...args) => infos.push({ message, args }),
      warn: (message, ...args) => warns.push({ message, args }),
    },
  }
}

function effective(overrides = {}) {
  return {
    requested: DEFAULT_SANDBOX_PROFILE,
    enforced: { resources: true, filesystem: true, network: true, privilege: true },
    downgrades: [],
    notes: [],
    platform: 'linux',
    ...overrides,
  }
}

// ------------------------------------------------------- real detection

describe('detectSandboxCapabilities on this host', () => {
  it('reports the platform', () => {
    const expected = process.platform === 'linux' ? 'linux' : process.platform === 'darwin' ? 'darwin' : 'other'
    assert.equal(caps.platform, expected)
    assert.equal(caps.platform, 'linux', 'the product runs on Linux')
  })

  it('euidIsRoot matches geteuid()', () => {
    assert.equal(caps.euidIsRoot, process.geteuid() === 0)
  })

  it('rlimitNative is true on Linux; hasPrlimit matches PATH', () => {
    assert.equal(caps.rlimitNative, true)
    assert.equal(caps.hasPrlimit, commandExists('prlimit'))
  })

  it('wrapper reflects the tools on PATH (bwrap, then nsjail, then firejail)', () => {
    const expected = commandExists('bwrap') ? 'bwrap' : commandExists('nsjail') ? 'nsjail' : commandExists('firejail') ? 'firejail' : null
    assert.equal(caps.wrapper, expected)
  })

  it('userNsCreatable matches a live namespace probe', (t) => {
    if (!commandExists('unshare')) {
      skipOrFail(t, 'unshare(1) is not installed; cannot cross-check the live probe')
      return
    }
    const simple = spawnSync('unshare', ['-Urn', 'true'], { stdio: 'ignore' }).status === 0
    // The library also needs a usable UTS namespace (a privileged op inside it).
    const full = commandExists('hostname')
      ? spawnSync('unshare', ['-Urnmu', '--pid', '--fork', 'hostname', 'sandbox-probe'], { stdio: 'ignore' }).status === 0
      : simple
    assert.equal(caps.userNsCreatable, full)
    if (caps.userNsCreatable) assert.equal(simple, true, 'a usable namespace implies `unshare -Urn true` works')
    if (!simple) assert.equal(caps.userNsCreatable, false)
    // Nothing claimed that cannot be delivered.
    if (caps.nativeNamespaces) {
      assert.equal(caps.userNsCreatable, true)
      assert.notEqual(caps.launcher, null)
    }
    if (!caps.userNsCreatable) {
      assert.equal(caps.nativeNamespaces, false)
      assert.equal(caps.netEgressRootless, false)
    }
  })

  it('landlockAbi is a number exactly when the kernel has Landlock enabled', (t) => {
    let expectedAbi
    let source
    try {
      const lsm = fs.readFileSync('/sys/kernel/security/lsm', 'utf8')
      const enabled = lsm.trim().split(',').includes('landlock')
      source = `/sys/kernel/security/lsm = ${lsm.trim()}`
      if (!enabled) expectedAbi = null
      else expectedAbi = 'number'
    } catch {
      // securityfs not mounted (containers): ask the kernel directly.
    }
    if (expectedAbi === undefined && ['x64', 'arm64'].includes(process.arch) && fs.existsSync('/usr/bin/perl')) {
      // landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) = ABI version.
      const r = spawnSync('/usr/bin/perl', ['-e', 'my $r = syscall(444, 0, 0, 1); print $r'], { encoding: 'utf8' })
      if (r.status === 0) {
        const n = Number(r.stdout)
        expectedAbi = Number.isInteger(n) && n >= 1 ? n : null
        source = `landlock_create_ruleset version query = ${r.stdout}`
      }
    }
    if (expectedAbi === undefined) {
      skipOrFail(t, 'neither /sys/kernel/security/lsm nor a syscall probe is available to cross-check Landlock')
      return
    }
    if (expectedAbi === null) {
      assert.equal(caps.landlockAbi, null, source)
    } else if (expectedAbi === 'number') {
      assert.equal(typeof caps.landlockAbi, 'number', source)
      assert.ok(caps.landlockAbi >= 1)
    } else {
      assert.equal(caps.landlockAbi, expectedAbi, source)
    }
  })

  it('seccomp matches the kernel (Seccomp: line in /proc/self/status)', () => {
    const status = fs.readFileSync('/proc/self/status', 'utf8')
    assert.equal(caps.seccomp, /^Seccomp:/m.test(status))
  })

  it('cgroup reflects /sys/fs/cgroup', () => {
    if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) {
      assert.equal(caps.cgroup?.version, 2)
    } else if (fs.existsSync('/sys/fs/cgroup/memory')) {
      assert.equal(caps.cgroup?.version, 1)
    } else {
      assert.equal(caps.cgroup, null)
    }
    if (caps.cgroup !== null) assert.equal(typeof caps.cgroup.writable, 'boolean')
  })

  it('launcher is an existing executable and engine is native', () => {
    assert.equal(typeof caps.launcher, 'string')
    assert.ok(path.isAbsolute(caps.launcher))
    assert.ok(isExecutableFile(caps.launcher), `${caps.launcher} is an executable file`)
    if (!process.env.CHECKSTACK_SANDBOX_LAUNCHER) {
      const shipped = path.join(__dirname, '..', 'script-sandbox-launcher')
      if (fs.existsSync(shipped)) assert.equal(caps.launcher, fs.realpathSync(shipped))
    }
    assert.equal(caps.engine, 'native')
  })

  it('slirp4netns and nft are the paths found on this host, or null', () => {
    assert.equal(caps.slirp4netns, which('slirp4netns'))
    assert.equal(caps.nft, which('nft', ['/usr/local/sbin', '/usr/sbin', '/sbin']))
  })

  it('tunUsable matches read-write access to /dev/net/tun', () => {
    let usable = true
    try {
      fs.accessSync('/dev/net/tun', fs.constants.R_OK | fs.constants.W_OK)
    } catch {
      usable = false
    }
    assert.equal(caps.tunUsable, usable)
  })

  it('netEgressRootless is consistent with namespaces, slirp4netns, nft and tun', () => {
    const expected = caps.nativeNamespaces && caps.slirp4netns !== null && caps.nft !== null && caps.tunUsable
    assert.equal(caps.netEgressRootless, expected)
  })

  it('netEgressAddressing comes from the three env vars, all or none (and only with an egress iface)', () => {
    // Detection is cached per process: probe in fresh processes with the vars set.
    const probe = (env) => {
      const r = spawnSync(
        process.execPath,
        ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(path.join(__dirname, '..'))}).detectSandboxCapabilities()))`],
        { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' },
      )
      assert.equal(r.status, 0, r.stderr)
      return JSON.parse(r.stdout)
    }
    const all = probe({
      CHECKSTACK_SANDBOX_MACVLAN_IP: ' 10.9.0.5 ',
      CHECKSTACK_SANDBOX_MACVLAN_NM: '255.255.255.0',
      CHECKSTACK_SANDBOX_MACVLAN_GW: '10.9.0.1',
    })
    if (all.netEgressIface === null) {
      // As in the original: addressing is only meaningful for a usable macvlan
      // uplink; without one nothing is claimed.
      assert.equal(all.netEgressAddressing, null)
    } else {
      assert.deepEqual(all.netEgressAddressing, { ip: '10.9.0.5', netmask: '255.255.255.0', gateway: '10.9.0.1' })
    }
    const partial = probe({ CHECKSTACK_SANDBOX_MACVLAN_IP: '10.9.0.5', CHECKSTACK_SANDBOX_MACVLAN_GW: '10.9.0.1' })
    assert.equal(partial.netEgressAddressing, null)
    const empty = probe({ CHECKSTACK_SANDBOX_MACVLAN_IP: '10.9.0.5', CHECKSTACK_SANDBOX_MACVLAN_NM: ' ', CHECKSTACK_SANDBOX_MACVLAN_GW: '10.9.0.1' })
    assert.equal(empty.netEgressAddressing, null)
  })

  it('the returned object is frozen', () => {
    assert.ok(Object.isFrozen(caps))
    assert.throws(() => {
      caps.euidIsRoot = !caps.euidIsRoot
    }, TypeError)
  })
})

describe('capability caching', () => {
  it('probes once; later calls return the same object and cost no probe', () => {
    __resetCapabilitiesCacheForTest()
    const before = binding.capabilityProbeCount()
    const first = detectSandboxCapabilities()
    assert.equal(binding.capabilityProbeCount(), before + 1)
    const second = detectSandboxCapabilities()
    assert.equal(second, first)
    for (let i = 0; i < 50; i++) detectSandboxCapabilities()
    // Functions that fall back to the detected caps reuse the cache too.
    assessSandboxHostReadiness()
    buildSpawnHardening({ policy: DEFAULT_SANDBOX_PROFILE, baseEnv: {}, filesystem: { scratchDir: '/tmp/x' } })
    describeEffectiveDefault({ policy: DEFAULT_SANDBOX_PROFILE })
    assert.equal(binding.capabilityProbeCount(), before + 1)
    assert.equal(detectSandboxCapabilities(), first)
  })

  it('__resetCapabilitiesCacheForTest makes the next call probe exactly once more', () => {
    const first = detectSandboxCapabilities()
    const before = binding.capabilityProbeCount()
    __resetCapabilitiesCacheForTest()
    assert.equal(binding.capabilityProbeCount(), before, 'resetting does not probe')
    const again = detectSandboxCapabilities()
    assert.equal(binding.capabilityProbeCount(), before + 1)
    assert.notEqual(again, first)
    assert.deepEqual(again, first, 'same host, same answer')
    detectSandboxCapabilities()
    assert.equal(binding.capabilityProbeCount(), before + 1)
  })
})

// --------------------------------------------------------- observability

describe('summarizeCapabilities', () => {
  it('projects the original keys with their values', () => {
    const c = fullCaps({ euidIsRoot: true, wrapper: 'nsjail', netEgressIface: 'eth0' })
    const s = summarizeCapabilities(c)
    assert.equal(s.platform, 'linux')
    assert.equal(s.supervisorEuidIsRoot, true)
    assert.equal(s.rlimits, true)
    assert.equal(s.wrapper, 'nsjail')
    assert.equal(s.userNamespaces, true)
    assert.equal(s.userNsCreatable, true)
    assert.equal(s.netNamespaces, true)
    assert.equal(s.netEgressIface, 'eth0')
    assert.equal(s.netEgressRootless, true)
    for (const value of Object.values(s)) {
      assert.ok(value === null || ['string', 'number', 'boolean'].includes(typeof value), `flat value: ${JSON.stringify(value)}`)
    }
  })

  it('works on the detected caps and on darwin', () => {
    const s = summarizeCapabilities(caps)
    assert.equal(s.platform, caps.platform)
    assert.equal(s.supervisorEuidIsRoot, caps.euidIsRoot)
    const d = summarizeCapabilities(darwinCaps())
    assert.equal(d.platform, 'darwin')
    assert.equal(d.wrapper, null)
  })
})

describe('describeEffectiveDefault', () => {
  it('describes the default on a full host (degrade-mode copy; requested as given)', () => {
    const e = describeEffectiveDefault({ policy: DEFAULT_SANDBOX_PROFILE, caps: fullCaps() })
    assert.deepEqual(e.enforced, { resources: true, filesystem: true, network: true, privilege: true })
    assert.deepEqual(e.downgrades, [])
    assert.deepEqual(e.requested, DEFAULT_SANDBOX_PROFILE)
  })

  it('never throws for a fail-mode policy on a weak host; reports the downgrades', () => {
    const e = describeEffectiveDefault({ policy: DEFAULT_SANDBOX_PROFILE, caps: darwinCaps() })
    assert.equal(e.requested.onUnavailable, 'fail')
    assert.equal(e.platform, 'darwin')
    assert.ok(e.downgrades.length > 0)
    assert.equal(e.enforced.filesystem, false)
    assert.equal(e.enforced.network, false)
  })

  const garbage = [
    ['an unknown policy key', { policy: { bogus: 1 }, caps: fullCaps() }],
    ['a non-object policy', { policy: 42 }],
    ['an out-of-range policy', { policy: { resources: { cpuSeconds: 99999 } }, caps: fullCaps() }],
    ['a bad allow entry', { policy: { network: { mode: 'allowlist', allow: ['1.2.3.4; drop'] } }, caps: fullCaps() }],
    ['no argument', undefined],
    ['null', null],
    ['garbage caps', { policy: DEFAULT_SANDBOX_PROFILE, caps: 'linux' }],
    ['caps missing fields', { policy: DEFAULT_SANDBOX_PROFILE, caps: { platform: 'linux' } }],
  ]
  for (const [what, input] of garbage) {
    it(`never throws for ${what}; reports the problem as downgrades`, () => {
      let e
      assert.doesNotThrow(() => {
        e = describeEffectiveDefault(input)
      })
      assert.ok(Array.isArray(e.downgrades) && e.downgrades.length > 0, JSON.stringify(e))
      for (const d of e.downgrades) {
        assert.ok(['resources', 'filesystem', 'network', 'privilege'].includes(d.layer))
        assert.equal(typeof d.reason, 'string')
        assert.ok(d.reason.length > 0)
      }
      assert.deepEqual(e.enforced, { resources: false, filesystem: false, network: false, privilege: false })
      assert.ok(Array.isArray(e.notes))
      assert.equal(typeof e.platform, 'string')
      assert.equal(typeof e.requested, 'object')
    })
  }
})

describe('summarizeRunDowngrades', () => {
  it('is undefined when nothing was downgraded, and for undefined', () => {
    assert.equal(summarizeRunDowngrades(effective()), undefined)
    assert.equal(summarizeRunDowngrades(undefined), undefined)
    assert.equal(summarizeRunDowngrades(effective({ notes: [{ layer: 'resources', note: 'n' }] })), undefined)
  })

  it('summarizes the degraded layers and reasons', () => {
    const s = summarizeRunDowngrades(
      effective({
        enforced: { resources: true, filesystem: false, network: false, privilege: true },
        downgrades: [
          { layer: 'network', reason: 'metadata block unenforceable' },
          { layer: 'filesystem', reason: 'no namespaces' },
        ],
        platform: 'darwin',
      }),
    )
    assert.deepEqual(s, {
      layers: ['network', 'filesystem'],
      reasons: { network: 'metadata block unenforceable', filesystem: 'no namespaces' },
      platform: 'darwin',
    })
  })
})

describe('surfaceRunDowngrades', () => {
  it('logs one warning naming the degraded layers', () => {
    const { infos, warns, logger } = recordingLogger()
    surfaceRunDowngrades({
      logger,
      effective: effective({
        enforced: { resources: true, filesystem: false, network: false, privilege: true },
        downgrades: [
          { layer: 'filesystem', reason: 'no mount namespace' },
          { layer: 'network', reason: 'no net namespace' },
        ],
        platform: 'linux',
      }),
    })
    assert.equal(warns.length, 1)
    assert.match(warns[0].message, /filesystem/)
    assert.match(warns[0].message, /network/)
    const detail = JSON.stringify(warns[0].args)
    assert.match(detail, /no mount namespace/)
    assert.match(detail, /no net namespace/)
    assert.equal(infos.length, 0)
  })

  it('logs notes at info, separately from downgrades', () => {
    const { infos, warns, logger } = recordingLogger()
    surfaceRunDowngrades({
      logger,
      effective: effective({ notes: [{ layer: 'resources', note: 'memory bounded by the host cgroup only' }] }),
    })
    assert.equal(warns.length, 0)
    assert.equal(infos.length, 1)
    assert.match(infos[0].message, /resources/)
    assert.match(JSON.stringify(infos[0].args), /memory bounded by the host cgroup only/)
  })

  it('is a no-op for a fully enforced run without notes, and for undefined', () => {
    const { infos, warns, logger } = recordingLogger()
    surfaceRunDowngrades({ logger, effective: effective() })
    surfaceRunDowngrades({ logger, effective: undefined })
    assert.equal(warns.length, 0)
    assert.equal(infos.length, 0)
  })
})

describe('logSandboxCapabilitiesAtStartup', () => {
  it('emits one info line with capabilities and effective enforcement', () => {
    const { infos, warns, logger } = recordingLogger()
    logSandboxCapabilitiesAtStartup({ logger, globalDefault: DEFAULT_SANDBOX_PROFILE, caps: fullCaps() })
    assert.equal(infos.length, 1)
    assert.equal(warns.length, 0)
    assert.match(infos[0].message, /script sandbox capabilities/)
    const detail = infos[0].args[0]
    assert.equal(detail.capabilities.platform, 'linux')
    assert.equal(detail.enabled, true)
    assert.deepEqual(detail.enforced, { resources: true, filesystem: true, network: true, privilege: true })
    assert.deepEqual(detail.downgrades, [])
  })

  it('never throws for a fail-mode default on a weak host', () => {
    const { infos, logger } = recordingLogger()
    assert.doesNotThrow(() => logSandboxCapabilitiesAtStartup({ logger, globalDefault: DEFAULT_SANDBOX_PROFILE, caps: darwinCaps() }))
    assert.equal(infos.length, 1)
    assert.ok(infos[0].args[0].downgrades.length > 0)
  })

  it('defaults to the detected caps and the resolved default profile', () => {
    const { infos, logger } = recordingLogger()
    logSandboxCapabilitiesAtStartup({ logger })
    assert.equal(infos.length, 1)
    assert.deepEqual(infos[0].args[0].capabilities, summarizeCapabilities(detectSandboxCapabilities()))
  })
})

describe('assessSandboxHostReadiness / formatSandboxReadinessBanner', () => {
  it('a full Linux host is enforceable with no guidance and no banner', () => {
    const r = assessSandboxHostReadiness({ caps: fullCaps() })
    assert.equal(r.enforceable, true)
    assert.equal(r.platform, 'linux')
    assert.deepEqual(r.reasons, [])
    assert.equal(r.guidance, '')
    assert.equal(formatSandboxReadinessBanner({ readiness: r }), '')
  })

  it('darwin is not enforceable, with reasons, guidance and a banner', () => {
    const r = assessSandboxHostReadiness({ caps: darwinCaps() })
    assert.equal(r.enforceable, false)
    assert.equal(r.platform, 'darwin')
    assert.ok(r.reasons.length > 0)
    assert.ok(r.reasons.some((x) => /darwin|Linux/.test(x)), JSON.stringify(r.reasons))
    assert.ok(r.guidance.length > 0)
    const banner = formatSandboxReadinessBanner({ readiness: r })
    assert.notEqual(banner, '')
    for (const reason of r.reasons) assert.ok(banner.includes(reason), 'the banner lists every reason')
  })

  it('Linux without user namespaces is not enforceable, and says why', () => {
    const r = assessSandboxHostReadiness({
      caps: fullCaps({ userNamespaces: false, userNsCreatable: false, nativeNamespaces: false, netNamespaces: false, netEgressRootless: false }),
    })
    assert.equal(r.enforceable, false)
    assert.ok(r.reasons.some((x) => /namespace/i.test(x)), JSON.stringify(r.reasons))
    assert.notEqual(formatSandboxReadinessBanner({ readiness: r }), '')
  })

  it('Linux without the launcher is not enforceable', () => {
    const r = assessSandboxHostReadiness({ caps: fullCaps({ launcher: null, engine: null, nativeNamespaces: false }) })
    assert.equal(r.enforceable, false)
    assert.ok(r.reasons.some((x) => /launcher/.test(x)), JSON.stringify(r.reasons))
  })

  it('missing egress plumbing is a warning, not a blocker', () => {
    const r = assessSandboxHostReadiness({ caps: fullCaps({ tunUsable: false, netEgressRootless: false }) })
    assert.equal(r.enforceable, true)
    assert.ok((r.warnings ?? []).some((w) => /\/dev\/net\/tun/.test(w)), JSON.stringify(r.warnings))
  })

  it('defaults to the detected caps', () => {
    const r = assessSandboxHostReadiness()
    assert.deepEqual(r, assessSandboxHostReadiness({ caps: detectSandboxCapabilities() }))
    assert.equal(typeof r.enforceable, 'boolean')
    assert.equal(r.enforceable, r.reasons.length === 0)
  })
})

// ----------------------------------------------------- output and quoting

describe('truncateCapturedOutput', () => {
  const bytes = (s) => Buffer.byteLength(s, 'utf8')

  it('passes through without a cap or under it', () => {
    assert.deepEqual(truncateCapturedOutput({ stdout: 'a😀b', stderr: 'x', maxOutputBytes: undefined }), {
      stdout: 'a😀b',
      stderr: 'x',
      truncated: false,
    })
    assert.deepEqual(truncateCapturedOutput({ stdout: 'ab', stderr: 'cd', maxOutputBytes: 4 }), { stdout: 'ab', stderr: 'cd', truncated: false })
  })

  it('one combined budget, stdout first', () => {
    assert.deepEqual(truncateCapturedOutput({ stdout: 'hello', stderr: 'world', maxOutputBytes: 7 }), {
      stdout: 'hello',
      stderr: 'wo',
      truncated: true,
    })
    assert.deepEqual(truncateCapturedOutput({ stdout: 'hello world', stderr: 'err', maxOutputBytes: 5 }), {
      stdout: 'hello',
      stderr: '',
      truncated: true,
    })
    assert.deepEqual(truncateCapturedOutput({ stdout: '', stderr: 'abcdef', maxOutputBytes: 3 }), { stdout: '', stderr: 'abc', truncated: true })
    assert.deepEqual(truncateCapturedOutput({ stdout: 'ab', stderr: 'cd', maxOutputBytes: 0 }), { stdout: '', stderr: '', truncated: true })
  })

  it('never splits a 2-byte code point ("é")', () => {
    // "hé" = 3 bytes; a 2-byte budget would cut "é" in half.
    const r = truncateCapturedOutput({ stdout: 'hé', stderr: '', maxOutputBytes: 2 })
    assert.deepEqual(r, { stdout: 'h', stderr: '', truncated: true })
    const s = truncateCapturedOutput({ stdout: 'a', stderr: 'éé', maxOutputBytes: 4 })
    assert.deepEqual(s, { stdout: 'a', stderr: 'é', truncated: true })
  })

  it('never splits a 4-byte code point (emoji) at any boundary', () => {
    const stdout = 'a😀b'
    const stderr = '😀x'
    for (let max = 0; max <= bytes(stdout) + bytes(stderr); max++) {
      const r = truncateCapturedOutput({ stdout, stderr, maxOutputBytes: max })
      assert.ok(!r.stdout.includes('\uFFFD') && !r.stderr.includes('\uFFFD'), `max ${max}: no replacement char`)
      assert.ok(stdout.startsWith(r.stdout), `max ${max}: stdout is a prefix`)
      assert.ok(stderr.startsWith(r.stderr), `max ${max}: stderr is a prefix`)
      assert.ok(bytes(r.stdout) + bytes(r.stderr) <= max, `max ${max}: within budget`)
      // Well-formed strings: no lone surrogate.
      assert.equal(Buffer.from(r.stdout, 'utf8').toString('utf8'), r.stdout)
      assert.equal(Buffer.from(r.stderr, 'utf8').toString('utf8'), r.stderr)
      assert.equal(r.truncated, max < bytes(stdout) + bytes(stderr))
    }
    assert.deepEqual(truncateCapturedOutput({ stdout, stderr: 'x', maxOutputBytes: 4 }), { stdout: 'a', stderr: 'x', truncated: true })
    assert.deepEqual(truncateCapturedOutput({ stdout, stderr: '', maxOutputBytes: 5 }), { stdout: 'a😀', stderr: '', truncated: true })
  })

  it('rejects bad input with a TypeError', () => {
    assert.throws(() => truncateCapturedOutput({ stdout: 1, stderr: '', maxOutputBytes: 1 }), TypeError)
    assert.throws(() => truncateCapturedOutput({ stdout: '', stderr: '', maxOutputBytes: -1 }), TypeError)
    assert.throws(() => truncateCapturedOutput(null), TypeError)
  })
})

describe('shellQuote', () => {
  it('wraps in single quotes and escapes embedded quotes', () => {
    assert.equal(shellQuote('/tmp/x.nft'), "'/tmp/x.nft'")
    assert.equal(shellQuote("O'Brien"), "'O'\\''Brien'")
    assert.equal(shellQuote(''), "''")
  })

  it('round-trips hostile values through sh', () => {
    const values = ["weird 'value' with $pace; and `ticks`", 'a b; rm -rf / $(whoami) `id`', "''''", 'line1\nline2', '\\$HOME*?[x]', '-n']
    for (const value of values) {
      const r = spawnSync('sh', ['-c', `printf '%s' ${shellQuote(value)}`], { encoding: 'utf8' })
      assert.equal(r.status, 0, r.stderr)
      assert.equal(r.stdout, value)
    }
  })

  it('rejects a non-string', () => {
    assert.throws(() => shellQuote(42), TypeError)
  })
})

describe('fail-closed profile on the detected host', () => {
  it('describeEffectiveDefault never throws for the shipped profiles on this host', () => {
    for (const policy of [DEFAULT_SANDBOX_PROFILE, FAIL_CLOSED_SANDBOX_PROFILE]) {
      const e = describeEffectiveDefault({ policy, caps })
      assert.deepEqual(e.requested, policy)
      const readiness = assessSandboxHostReadiness({ caps })
      if (readiness.enforceable) {
        // A host that can enforce the default reports no filesystem/privilege downgrade.
        assert.equal(e.enforced.filesystem, true)
        assert.equal(e.enforced.privilege, true)
      }
    }
  })
})
