'use strict'

// Planning on injected capability sets (SPEC §2.3, §2.5, §5): the decision
// table of buildSpawnHardening, the network layer and the nftables ruleset.

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { FAKE_HOST, fullCaps, darwinCaps } = require('./helpers.js')

const {
  buildSpawnHardening,
  buildNetworkLayer,
  buildEgressNftRules,
  ALWAYS_BLOCKED_CIDRS,
  SandboxUnavailableError,
  SandboxPolicyError,
  parseSandboxPolicy,
  mergeSandboxPolicy,
  DEFAULT_SANDBOX_PROFILE,
  FAIL_CLOSED_SANDBOX_PROFILE,
} = require('..')

const MIB = 1024 * 1024
const { LAUNCHER, SLIRP, NFT } = FAKE_HOST
const SCRATCH = '/tmp/script-sandbox-planning-run-1'
const LAYERS = ['resources', 'filesystem', 'network', 'privilege']


/** A Linux host where user namespaces cannot be created. */
/** No user namespaces, and no Landlock/seccomp to stand in (see fallback.test.js for those). */
function noUsernsCaps(overrides = {}) {
  return fullCaps({
    landlockAbi: null,
    seccomp: false,
    userNamespaces: false,
    netNamespaces: false,
    userNsCreatable: false,
    nativeNamespaces: false,
    netEgressRootless: false,
    ...overrides,
  })
}

function policy(input) {
  return parseSandboxPolicy(input)
}

/** The default profile, degrading instead of refusing, with overrides. */
function degrading(override = {}) {
  return mergeSandboxPolicy({ base: DEFAULT_SANDBOX_PROFILE, override: { onUnavailable: 'degrade', ...override } })
}

function plan(input) {
  return buildSpawnHardening({ baseEnv: {}, filesystem: { scratchDir: SCRATCH }, ...input })
}

function ops(h) {
  return h.launch.setup.map((op) => op.op)
}

function downgradeLayers(h) {
  return h.effective.downgrades.map((d) => d.layer)
}

function notesOf(h, layer) {
  return h.effective.notes.filter((n) => n.layer === layer)
}

function reasonOf(h, layer) {
  const found = h.effective.downgrades.filter((d) => d.layer === layer)
  assert.ok(found.length > 0, `expected a ${layer} downgrade, got ${JSON.stringify(h.effective.downgrades)}`)
  return found.map((d) => d.reason).join(' | ')
}

function assertEnforced(h, expected) {
  assert.deepEqual(h.effective.enforced, expected, `downgrades: ${JSON.stringify(h.effective.downgrades)}`)
}

/** The SandboxUnavailableError `fn` throws. */
function unavailable(fn) {
  let caught
  try {
    fn()
  } catch (error) {
    caught = error
  }
  assert.ok(caught !== undefined, 'expected SandboxUnavailableError, nothing thrown')
  assert.ok(caught instanceof SandboxUnavailableError, `expected SandboxUnavailableError, got ${caught && caught.name}: ${caught && caught.message}`)
  assert.ok(caught instanceof Error)
  assert.equal(caught.name, 'SandboxUnavailableError')
  assert.ok(Array.isArray(caught.downgrades) && caught.downgrades.length > 0)
  assert.ok(caught.message.startsWith('sandbox unavailable: '), caught.message)
  assert.equal(
    caught.message,
    `sandbox unavailable: ${caught.downgrades.map((d) => `${d.layer}: ${d.reason}`).join('; ')}`,
  )
  return caught
}

const ALL_TRUE = { resources: true, filesystem: true, network: true, privilege: true }
const ALL_FALSE = { resources: false, filesystem: false, network: false, privilege: false }

// ------------------------------------------------------------- decisions

describe('buildSpawnHardening: non-root supervisor, full host', () => {
  const h = plan({ policy: DEFAULT_SANDBOX_PROFILE, caps: fullCaps(), baseEnv: { PATH: '/usr/bin:/bin', HOME: '/home/app' } })

  it('enforces every layer with no downgrades', () => {
    assertEnforced(h, ALL_TRUE)
    assert.deepEqual(h.effective.downgrades, [])
    assert.equal(h.effective.platform, 'linux')
    assert.deepEqual(h.effective.requested, DEFAULT_SANDBOX_PROFILE)
  })

  it('does not switch uid (the child keeps the supervisor\'s unprivileged ids)', () => {
    assert.equal('uid' in h, false)
    assert.equal('gid' in h, false)
    assert.equal('switchTo' in h.launch, false)
    assert.deepEqual(notesOf(h, 'privilege'), [])
    const [uid, gid] = [process.geteuid(), process.getegid()]
    assert.deepEqual(h.launch.idMap, { insideUid: uid, outsideUid: uid, insideGid: gid, outsideGid: gid })
  })

  it('plans every namespace; empty allowlist means a routeless namespace', () => {
    assert.equal(h.launch.launcher, LAUNCHER)
    assert.deepEqual(h.launch.namespaces, { user: true, mount: true, pid: true, ipc: true, uts: true, net: true })
    assert.ok(ops(h).includes('loopbackUp'))
    assert.ok(!ops(h).includes('nftRuleset'))
    assert.ok(!ops(h).includes('awaitEgress'))
    assert.equal('egress' in h.launch, false)
    assert.equal('nftRuleset' in h, false)
  })

  it('applies the rlimits (NPROC too: the run has its own user namespace)', () => {
    const byName = Object.fromEntries(h.launch.rlimits.map((r) => [r.resource, r.value]))
    assert.equal(byName.CPU, 60)
    assert.equal(byName.NOFILE, 1024)
    assert.equal(byName.NPROC, 256)
    assert.equal(byName.FSIZE, 256 * MIB)
    assert.equal(byName.AS, undefined, 'memoryBytes is never RLIMIT_AS')
    assert.equal(h.maxOutputBytes, 5 * MIB)
  })

  it('confines the filesystem to the scratch dir and a fresh root', () => {
    assert.equal(h.launch.cwd, SCRATCH)
    const o = ops(h)
    assert.ok(o.indexOf('newRoot') < o.indexOf('finishRoot'))
    const binds = h.launch.setup.filter((op) => op.op === 'bind')
    assert.ok(binds.some((b) => b.source === SCRATCH && b.dest === SCRATCH && b.readonly === false))
    for (const b of binds) {
      if (b.source !== SCRATCH) assert.equal(b.readonly, true, `${b.source} must be read-only`)
    }
    assert.ok(h.launch.setup.some((op) => op.op === 'tmpfs' && op.dest === '/tmp'))
    assert.ok(h.launch.setup.some((op) => op.op === 'proc' && op.dest === '/proc'))
    assert.ok(h.launch.setup.some((op) => op.op === 'dev' && op.dest === '/dev'))
    assert.equal(h.env.TMPDIR, '/tmp')
  })

  it('wrapCmd goes through the launcher without altering the command', () => {
    const cmd = ['sh', '-c', 'echo "$1"; exit 3', 'x y']
    assert.deepEqual(h.wrapCmd(cmd), [LAUNCHER, '--', ...cmd])
    assert.deepEqual(cmd, ['sh', '-c', 'echo "$1"; exit 3', 'x y'])
  })

  it('notes that a shell run\'s memory is bounded only by the host cgroup', () => {
    const notes = notesOf(h, 'resources')
    assert.equal(notes.length, 1)
    assert.match(notes[0].note, /memoryBytes/)
  })
})

describe('buildSpawnHardening: root supervisor', () => {
  it('with a uid: drops to it; uid/gid reported; privilege enforced', () => {
    const h = plan({
      policy: mergeSandboxPolicy({ base: DEFAULT_SANDBOX_PROFILE, override: { privilege: { uid: 1500, gid: 1600 } } }),
      caps: fullCaps({ euidIsRoot: true }),
    })
    assertEnforced(h, ALL_TRUE)
    assert.equal(h.uid, 1500)
    assert.equal(h.gid, 1600)
    assert.deepEqual(h.launch.switchTo, { uid: 1500, gid: 1600 })
    assert.equal(h.launch.clearSupplementaryGroups, true)
    assert.deepEqual(notesOf(h, 'privilege'), [])
    assert.ok(h.launch.rlimits.some((r) => r.resource === 'NPROC' && r.value === 256))
  })

  it('with a uid and no gid: the gid defaults to the uid', () => {
    const h = plan({
      policy: mergeSandboxPolicy({ base: DEFAULT_SANDBOX_PROFILE, override: { privilege: { uid: 1500 } } }),
      caps: fullCaps({ euidIsRoot: true }),
    })
    assert.equal(h.uid, 1500)
    assert.equal(h.gid, 1500)
    assert.deepEqual(h.launch.switchTo, { uid: 1500, gid: 1500 })
  })

  it('drop-to-uid without a uid: enforced as 65534, with a privilege note (not a downgrade)', () => {
    const h = plan({ policy: DEFAULT_SANDBOX_PROFILE, caps: fullCaps({ euidIsRoot: true }) })
    assertEnforced(h, ALL_TRUE)
    assert.equal(h.uid, 65534)
    assert.equal(h.gid, 65534)
    assert.deepEqual(h.launch.switchTo, { uid: 65534, gid: 65534 })
    const notes = notesOf(h, 'privilege')
    assert.equal(notes.length, 1)
    assert.match(notes[0].note, /65534/)
  })

  it('inherit: never runs the child as host root (65534 + note)', () => {
    const h = plan({ policy: degrading({ privilege: { mode: 'inherit' } }), caps: fullCaps({ euidIsRoot: true }) })
    assert.equal(h.effective.enforced.privilege, true)
    assert.equal(h.uid, 65534)
    assert.notEqual(h.launch.switchTo.uid, 0)
    assert.match(notesOf(h, 'privilege')[0].note, /65534/)
  })

  it('uid 0: never runs the child as host root (65534 + note)', () => {
    const h = plan({ policy: degrading({ privilege: { uid: 0 } }), caps: fullCaps({ euidIsRoot: true }) })
    assert.equal(h.effective.enforced.privilege, true)
    assert.equal(h.uid, 65534)
    assert.match(notesOf(h, 'privilege')[0].note, /65534/)
  })

  it('notes never trigger fail-closed', () => {
    // onUnavailable "fail", notes on privilege and resources, no downgrade.
    const h = plan({ policy: DEFAULT_SANDBOX_PROFILE, caps: fullCaps({ euidIsRoot: true }) })
    assert.equal(h.effective.requested.onUnavailable, 'fail')
    assert.ok(h.effective.notes.length >= 2)
    assert.deepEqual(h.effective.downgrades, [])
  })

  it('without user namespaces and without a dedicated uid: maxProcesses is a resources downgrade', () => {
    const h = plan({ policy: degrading(), caps: noUsernsCaps({ euidIsRoot: true }) })
    assert.equal(h.effective.enforced.resources, false)
    assert.match(reasonOf(h, 'resources'), /maxProcesses|NPROC/)
    assert.ok(!h.launch.rlimits.some((r) => r.resource === 'NPROC'))
    // Still never host root.
    assert.equal(h.effective.enforced.privilege, true)
    assert.equal(h.uid, 65534)
  })

  it('without user namespaces but with a dedicated uid: NPROC applies', () => {
    const h = plan({ policy: degrading({ privilege: { uid: 1500 } }), caps: noUsernsCaps({ euidIsRoot: true }) })
    assert.equal(h.effective.enforced.resources, true)
    assert.ok(h.launch.rlimits.some((r) => r.resource === 'NPROC' && r.value === 256))
    assert.equal(h.uid, 1500)
  })

  it('without an engine: privilege downgraded (the child would run as host root)', () => {
    for (const caps of [fullCaps({ euidIsRoot: true, launcher: null, engine: null }), darwinCaps({ euidIsRoot: true })]) {
      const h = plan({ policy: degrading(), caps })
      assert.equal(h.effective.enforced.privilege, false)
      assert.match(reasonOf(h, 'privilege'), /root/)
      assert.equal('uid' in h, false)
    }
  })
})

describe('buildSpawnHardening: no user namespaces', () => {
  it('downgrades filesystem and network (degrade mode), keeps what still works', () => {
    const h = plan({ policy: degrading(), caps: noUsernsCaps(), baseEnv: { TMPDIR: '/var/tmp' } })
    assertEnforced(h, { resources: true, filesystem: false, network: false, privilege: true })
    assert.deepEqual(downgradeLayers(h).sort(), ['filesystem', 'network'])
    assert.match(reasonOf(h, 'filesystem'), /namespace/)
    assert.match(reasonOf(h, 'network'), /namespace/)
    // The launcher still applies rlimits, but builds no namespace.
    assert.deepEqual(h.launch.namespaces, { user: false, mount: false, pid: false, ipc: false, uts: false, net: false })
    assert.ok(!ops(h).includes('loopbackUp'))
    assert.ok(!ops(h).includes('newRoot'))
    // No FS confinement: TMPDIR is not rewritten.
    assert.equal(h.env.TMPDIR, '/var/tmp')
    // NPROC would throttle the supervisor: a note for a non-root supervisor.
    assert.ok(!h.launch.rlimits.some((r) => r.resource === 'NPROC'))
    assert.ok(notesOf(h, 'resources').some((n) => /maxProcesses|NPROC/.test(n.note)))
  })

  it('onUnavailable "fail" → SandboxUnavailableError with the downgrades', () => {
    const error = unavailable(() => plan({ policy: DEFAULT_SANDBOX_PROFILE, caps: noUsernsCaps() }))
    assert.deepEqual(error.downgrades.map((d) => d.layer).sort(), ['filesystem', 'network'])
    for (const d of error.downgrades) assert.equal(typeof d.reason, 'string')
  })
})

describe('buildSpawnHardening: network layer', () => {
  const allowPolicy = degrading({ network: { mode: 'allowlist', allow: ['10.0.0.0/8', '2001:db8::/32'] } })

  it('allowlist with entries: nft ruleset, then egress plumbing', () => {
    const h = plan({ policy: allowPolicy, caps: fullCaps() })
    assertEnforced(h, ALL_TRUE)
    assert.equal(h.launch.namespaces.net, true)
    const o = ops(h)
    const nftAt = o.indexOf('nftRuleset')
    assert.ok(o.indexOf('loopbackUp') !== -1 && o.indexOf('loopbackUp') < nftAt)
    assert.ok(nftAt !== -1 && nftAt < o.indexOf('awaitEgress'), `order: ${o.join(',')}`)
    const nftOp = h.launch.setup[nftAt]
    assert.equal(nftOp.nft, NFT)
    const expected = buildEgressNftRules({ mode: 'allowlist', allow: ['10.0.0.0/8', '2001:db8::/32'], denyMetadata: true })
    assert.equal(nftOp.ruleset, expected)
    assert.equal(h.nftRuleset, expected)
    assert.equal(typeof nftOp.table, 'string')
    assert.ok(expected.includes(`table inet ${nftOp.table} `))
    assert.deepEqual(h.launch.egress.slirp4netns, SLIRP)
    assert.equal(typeof h.launch.egress.mtu, 'number')
  })

  const missing = [
    ['slirp4netns', { slirp4netns: null, netEgressRootless: false }, /slirp4netns/],
    ['nft', { nft: null, netEgressRootless: false }, /nft/],
    ['/dev/net/tun', { tunUsable: false, netEgressRootless: false }, /\/dev\/net\/tun/],
  ]
  for (const [piece, capsOverride, pattern] of missing) {
    it(`allowlist with entries and no ${piece}: network downgrade naming it, host network kept`, () => {
      const h = plan({ policy: allowPolicy, caps: fullCaps(capsOverride) })
      assert.equal(h.effective.enforced.network, false)
      assert.deepEqual(downgradeLayers(h), ['network'])
      assert.match(reasonOf(h, 'network'), pattern)
      // Never a routeless namespace passed off as an allowlist.
      assert.equal(h.launch.namespaces.net, false)
      assert.ok(!ops(h).includes('nftRuleset'))
      assert.equal('egress' in h.launch, false)
      assert.equal('nftRuleset' in h, false)
      // Other layers unaffected.
      assert.equal(h.effective.enforced.filesystem, true)
      unavailable(() => plan({ policy: { ...allowPolicy, onUnavailable: 'fail' }, caps: fullCaps(capsOverride) }))
    })
  }

  it('empty allowlist = deny: routeless namespace, loopback up, no ruleset', () => {
    for (const p of [degrading(), degrading({ network: { mode: 'deny' } })]) {
      const h = plan({ policy: p, caps: fullCaps({ slirp4netns: null, nft: null, tunUsable: false, netEgressRootless: false }) })
      assert.equal(h.effective.enforced.network, true)
      assert.equal(h.launch.namespaces.net, true)
      assert.ok(ops(h).includes('loopbackUp'))
      assert.ok(!ops(h).includes('nftRuleset'))
      assert.ok(!ops(h).includes('awaitEgress'))
      assert.equal('egress' in h.launch, false)
      assert.equal('nftRuleset' in h, false)
    }
  })

  it('unrestricted + metadata block with egress plumbing: namespace with a default-accept filter', () => {
    const h = plan({ policy: degrading({ network: { mode: 'unrestricted', denyLinkLocalAndMetadata: true } }), caps: fullCaps() })
    assert.equal(h.effective.enforced.network, true)
    assert.equal(h.launch.namespaces.net, true)
    const expected = buildEgressNftRules({ mode: 'metadata-only', allow: [], denyMetadata: true })
    assert.equal(h.nftRuleset, expected)
    const o = ops(h)
    assert.ok(o.indexOf('nftRuleset') < o.indexOf('awaitEgress'))
    assert.equal(h.launch.egress.slirp4netns, SLIRP)
  })

  it('unrestricted + metadata block without egress plumbing: host network kept, downgraded', () => {
    const h = plan({
      policy: degrading({ network: { mode: 'unrestricted', denyLinkLocalAndMetadata: true } }),
      caps: fullCaps({ slirp4netns: null, netEgressRootless: false }),
    })
    assert.equal(h.effective.enforced.network, false)
    assert.deepEqual(downgradeLayers(h), ['network'])
    assert.match(reasonOf(h, 'network'), /slirp4netns/)
    assert.equal(h.launch.namespaces.net, false)
    assert.equal('nftRuleset' in h, false)
  })

  it('unrestricted without the metadata block: host network, enforced, nothing to do', () => {
    const h = plan({
      policy: degrading({ network: { mode: 'unrestricted', denyLinkLocalAndMetadata: false } }),
      caps: fullCaps({ slirp4netns: null, nft: null, netEgressRootless: false }),
    })
    assert.equal(h.effective.enforced.network, true)
    assert.deepEqual(h.effective.downgrades, [])
    assert.equal(h.launch.namespaces.net, false)
    assert.ok(!ops(h).includes('loopbackUp'))
  })
})

describe('buildSpawnHardening: platforms and engines', () => {
  it('darwin: no launch; every OS layer downgraded; non-root privilege still enforced', () => {
    const h = plan({ policy: degrading(), caps: darwinCaps() })
    assert.equal('launch' in h, false)
    assertEnforced(h, { resources: false, filesystem: false, network: false, privilege: true })
    assert.deepEqual(downgradeLayers(h).sort(), ['filesystem', 'network', 'resources'])
    assert.equal(h.effective.platform, 'darwin')
    assert.deepEqual(h.wrapCmd(['sh', '-c', 'true']), ['sh', '-c', 'true'])
    // The output cap still applies everywhere.
    assert.equal(h.maxOutputBytes, 5 * MIB)
    const error = unavailable(() => plan({ policy: DEFAULT_SANDBOX_PROFILE, caps: darwinCaps() }))
    assert.deepEqual(error.downgrades.map((d) => d.layer).sort(), ['filesystem', 'network', 'resources'])
  })

  it('engine null: no launch, layers downgraded', () => {
    const h = plan({ policy: degrading(), caps: fullCaps({ engine: null }) })
    assert.equal('launch' in h, false)
    assertEnforced(h, { resources: false, filesystem: false, network: false, privilege: true })
    assert.deepEqual(h.wrapCmd(['true']), ['true'])
  })

  it('launcher null: no launch, layers downgraded, reason names the launcher', () => {
    const h = plan({ policy: degrading(), caps: fullCaps({ launcher: null, engine: null, nativeNamespaces: false }) })
    assert.equal('launch' in h, false)
    assertEnforced(h, { resources: false, filesystem: false, network: false, privilege: true })
    assert.match(reasonOf(h, 'filesystem'), /launcher/)
  })

  it('enabled: false: no launch, env = base + overrides (no denylist), nothing enforced, no downgrades', () => {
    const h = buildSpawnHardening({
      policy: { ...DEFAULT_SANDBOX_PROFILE, enabled: false },
      caps: darwinCaps(),
      baseEnv: { PATH: '/usr/bin', HOME: '/home/app' },
      envOverrides: { LD_PRELOAD: '/x.so', NODE_OPTIONS: '--require /x', PATH: '/evil', FOO: 'bar' },
      filesystem: { scratchDir: SCRATCH },
    })
    assert.equal('launch' in h, false)
    assert.deepEqual(h.env, { PATH: '/evil', HOME: '/home/app', LD_PRELOAD: '/x.so', NODE_OPTIONS: '--require /x', FOO: 'bar' })
    assert.deepEqual(h.droppedEnvKeys, [])
    assertEnforced(h, ALL_FALSE)
    assert.deepEqual(h.effective.downgrades, [])
    assert.deepEqual(h.effective.notes, [])
    for (const key of ['uid', 'gid', 'nodeMemoryFlagEnv', 'nftRuleset', 'rootlessLauncher', 'maxOutputBytes']) {
      assert.equal(key in h, false, `${key} must be absent`)
    }
    assert.deepEqual(h.wrapCmd(['node', 'x.js']), ['node', 'x.js'])
    // Same on a full host.
    const full = buildSpawnHardening({ policy: { ...DEFAULT_SANDBOX_PROFILE, enabled: false }, caps: fullCaps({ euidIsRoot: true }), baseEnv: {} })
    assert.equal('launch' in full, false)
    assertEnforced(full, ALL_FALSE)
    assert.deepEqual(full.effective.downgrades, [])
  })
})

describe('buildSpawnHardening: env', () => {
  it('drops forbidden override keys, lists them, keeps the base PATH', () => {
    const h = plan({
      policy: DEFAULT_SANDBOX_PROFILE,
      caps: fullCaps(),
      baseEnv: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/home/app', LANG: 'C.UTF-8' },
      envOverrides: {
        LD_PRELOAD: '/tmp/evil.so',
        FOO: 'bar',
        NODE_OPTIONS: '--require /tmp/evil.js',
        PATH: '/tmp/evil-bin',
        BUN_CONFIG_X: '1',
        LD_LIBRARY_PATH: '/tmp',
        LD_AUDIT: '/tmp/a.so',
        DYLD_INSERT_LIBRARIES: '/x',
        DYLD_LIBRARY_PATH: '/x',
        BUN_INSTALL: '/x',
        HOME: '/scratch-home',
      },
    })
    assert.deepEqual(h.droppedEnvKeys, [
      'LD_PRELOAD',
      'NODE_OPTIONS',
      'PATH',
      'BUN_CONFIG_X',
      'LD_LIBRARY_PATH',
      'LD_AUDIT',
      'DYLD_INSERT_LIBRARIES',
      'DYLD_LIBRARY_PATH',
      'BUN_INSTALL',
    ])
    assert.deepEqual(h.env, {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: '/scratch-home',
      LANG: 'C.UTF-8',
      FOO: 'bar',
      TMPDIR: '/tmp',
    })
  })

  it('sets TMPDIR=/tmp only under filesystem confinement', () => {
    const base = { TMPDIR: '/var/tmp', PATH: '/usr/bin' }
    const confined = plan({ policy: degrading({ filesystem: { mode: 'scratch-only' } }), caps: fullCaps(), baseEnv: base })
    assert.equal(confined.env.TMPDIR, '/tmp')
    const off = plan({ policy: degrading({ filesystem: { mode: 'off' } }), caps: fullCaps(), baseEnv: base })
    assert.equal(off.env.TMPDIR, '/var/tmp')
    const offNoBase = plan({ policy: degrading({ filesystem: { mode: 'off' } }), caps: fullCaps(), baseEnv: { PATH: '/usr/bin' } })
    assert.equal('TMPDIR' in offNoBase.env, false)
    // Confinement requested but downgraded (no scratch dir): not confined, not rewritten.
    const noScratch = buildSpawnHardening({ policy: degrading({ filesystem: { mode: 'scratch-only' } }), caps: fullCaps(), baseEnv: base })
    assert.equal(noScratch.effective.enforced.filesystem, false)
    assert.match(reasonOf(noScratch, 'filesystem'), /scratch/)
    assert.equal(noScratch.env.TMPDIR, '/var/tmp')
  })
})

describe('buildSpawnHardening: filesystem', () => {
  it('scratch-plus-ro binds nodeModulesDir read-only; scratch-only does not', () => {
    const modules = fs.mkdtempSync(path.join(os.tmpdir(), 'planning-modules-'))
    try {
      const plus = plan({ policy: degrading(), caps: fullCaps(), filesystem: { scratchDir: SCRATCH, nodeModulesDir: modules } })
      assert.ok(plus.launch.setup.some((op) => op.op === 'bind' && op.source === modules && op.readonly === true))
      const only = plan({
        policy: degrading({ filesystem: { mode: 'scratch-only' } }),
        caps: fullCaps(),
        filesystem: { scratchDir: SCRATCH, nodeModulesDir: modules },
      })
      assert.ok(!only.launch.setup.some((op) => op.op === 'bind' && op.source === modules))
    } finally {
      fs.rmSync(modules, { recursive: true, force: true })
    }
  })

  it('filesystem "off" is enforced and keeps the host tree (no new root)', () => {
    const h = plan({ policy: degrading({ filesystem: { mode: 'off' } }), caps: fullCaps() })
    assert.equal(h.effective.enforced.filesystem, true)
    assert.ok(!ops(h).includes('newRoot'))
  })
})

describe('buildSpawnHardening: memory', () => {
  const cases = [
    [1, '16'],
    [1 * MIB, '16'],
    [16 * MIB, '16'],
    [20 * MIB, '20'],
    [512 * MIB, '512'],
  ]
  for (const [bytes, mib] of cases) {
    it(`memoryBytes ${bytes} → NODE_OPTIONS=--max-old-space-size=${mib}`, () => {
      const h = plan({ policy: degrading({ resources: { memoryBytes: bytes } }), caps: fullCaps(), appliesNodeMemoryCap: true })
      assert.deepEqual(h.nodeMemoryFlagEnv, { NODE_OPTIONS: `--max-old-space-size=${mib}` })
    })
  }

  it('no memoryBytes → no nodeMemoryFlagEnv', () => {
    const h = plan({ policy: policy({ resources: { cpuSeconds: 5 } }), caps: fullCaps() })
    assert.equal('nodeMemoryFlagEnv' in h, false)
  })

  it('shell note only when the runner does not apply the Node heap cap', () => {
    const shell = plan({ policy: DEFAULT_SANDBOX_PROFILE, caps: fullCaps(), appliesNodeMemoryCap: false })
    assert.equal(notesOf(shell, 'resources').filter((n) => /memoryBytes/.test(n.note)).length, 1)
    const js = plan({ policy: DEFAULT_SANDBOX_PROFILE, caps: fullCaps(), appliesNodeMemoryCap: true })
    assert.equal(notesOf(js, 'resources').filter((n) => /memoryBytes/.test(n.note)).length, 0)
    assert.deepEqual(js.nodeMemoryFlagEnv, { NODE_OPTIONS: '--max-old-space-size=512' })
    // The note is not a downgrade: resources stay enforced and "fail" does not refuse.
    assert.equal(shell.effective.enforced.resources, true)
    const noMemory = plan({ policy: policy({ resources: { cpuSeconds: 5 } }), caps: fullCaps() })
    assert.equal(notesOf(noMemory, 'resources').filter((n) => /memoryBytes/.test(n.note)).length, 0)
  })
})

describe('buildSpawnHardening: input validation', () => {
  it('rejects an invalid policy with SandboxPolicyError', () => {
    assert.throws(() => buildSpawnHardening({ policy: { bogus: 1 }, caps: fullCaps(), baseEnv: {} }), SandboxPolicyError)
  })

  it('rejects non-string env values with a TypeError naming the field', () => {
    assert.throws(
      () => buildSpawnHardening({ policy: DEFAULT_SANDBOX_PROFILE, caps: fullCaps(), baseEnv: { PATH: 1 } }),
      (e) => e instanceof TypeError && /baseEnv/.test(e.message),
    )
    assert.throws(() => buildSpawnHardening(null), TypeError)
  })

  it('wrapCmd validates its argument', () => {
    const h = plan({ policy: DEFAULT_SANDBOX_PROFILE, caps: fullCaps() })
    assert.throws(() => h.wrapCmd('sh -c true'), TypeError)
    assert.throws(() => h.wrapCmd(['sh', 1]), TypeError)
  })

  it('new SandboxUnavailableError(downgrades) works from JS', () => {
    const downgrades = [
      { layer: 'network', reason: 'no netns' },
      { layer: 'privilege', reason: 'root' },
    ]
    const error = new SandboxUnavailableError(downgrades)
    assert.ok(error instanceof SandboxUnavailableError)
    assert.ok(error instanceof Error)
    assert.equal(error.name, 'SandboxUnavailableError')
    assert.deepEqual(error.downgrades, downgrades)
    assert.equal(error.message, 'sandbox unavailable: network: no netns; privilege: root')
  })
})

// --------------------------------------------------------- network layer

describe('buildNetworkLayer', () => {
  const net = (mode, allow = [], denyLinkLocalAndMetadata = true) => ({ mode, allow, denyLinkLocalAndMetadata })

  it('deny → routeless namespace', () => {
    assert.deepEqual(buildNetworkLayer({ policy: net('deny'), caps: fullCaps() }), { kind: 'namespaced', mode: 'deny' })
  })

  it('empty allowlist → exactly deny', () => {
    assert.deepEqual(buildNetworkLayer({ policy: net('allowlist'), caps: fullCaps() }), { kind: 'namespaced', mode: 'deny' })
    // Even without any egress plumbing.
    assert.deepEqual(
      buildNetworkLayer({ policy: net('allowlist'), caps: fullCaps({ slirp4netns: null, nft: null, netEgressRootless: false }) }),
      { kind: 'namespaced', mode: 'deny' },
    )
  })

  it('allowlist with entries → namespaced, rootless egress, filtered', () => {
    const allow = ['10.0.0.0/8', '192.0.2.1']
    const d = buildNetworkLayer({ policy: net('allowlist', allow), caps: fullCaps() })
    assert.deepEqual(d, {
      kind: 'namespaced',
      mode: 'allowlist',
      egressPath: 'rootless',
      nftRuleset: buildEgressNftRules({ mode: 'allowlist', allow, denyMetadata: true }),
    })
  })

  it('allowlist with entries and metadata block off → ruleset without the blocked ranges', () => {
    const d = buildNetworkLayer({ policy: net('allowlist', ['10.0.0.0/8'], false), caps: fullCaps() })
    assert.equal(d.nftRuleset, buildEgressNftRules({ mode: 'allowlist', allow: ['10.0.0.0/8'], denyMetadata: false }))
    assert.ok(!d.nftRuleset.includes('169.254.0.0/16'))
  })

  it('allowlist with entries but no egress plumbing → degrade naming the missing piece', () => {
    const cases = [
      [{ slirp4netns: null, netEgressRootless: false }, /slirp4netns/],
      [{ nft: null, netEgressRootless: false }, /nft/],
      [{ tunUsable: false, netEgressRootless: false }, /\/dev\/net\/tun/],
      [{ nativeNamespaces: false, userNsCreatable: false, userNamespaces: false, netNamespaces: false, netEgressRootless: false }, /namespace/],
    ]
    for (const [override, pattern] of cases) {
      const d = buildNetworkLayer({ policy: net('allowlist', ['10.0.0.0/8']), caps: fullCaps(override) })
      assert.equal(d.kind, 'degrade', JSON.stringify(d))
      assert.match(d.reason, pattern)
    }
  })

  it('unrestricted without the metadata block → host, nothing unenforceable', () => {
    assert.deepEqual(buildNetworkLayer({ policy: net('unrestricted', [], false), caps: darwinCaps() }), {
      kind: 'host',
      metadataBlockUnenforceable: false,
    })
  })

  it('unrestricted + metadata block → filtered namespace when egress can be plumbed', () => {
    assert.deepEqual(buildNetworkLayer({ policy: net('unrestricted'), caps: fullCaps() }), {
      kind: 'namespaced',
      mode: 'allowlist',
      egressPath: 'rootless',
      nftRuleset: buildEgressNftRules({ mode: 'metadata-only', allow: [], denyMetadata: true }),
    })
  })

  it('unrestricted + metadata block without plumbing → host, metadata block unenforceable', () => {
    assert.deepEqual(buildNetworkLayer({ policy: net('unrestricted'), caps: fullCaps({ slirp4netns: null, netEgressRootless: false }) }), {
      kind: 'host',
      metadataBlockUnenforceable: true,
    })
  })

  it('deny without namespaces (no userns, darwin) → degrade', () => {
    for (const caps of [noUsernsCaps(), darwinCaps()]) {
      const d = buildNetworkLayer({ policy: net('deny'), caps })
      assert.equal(d.kind, 'degrade')
      assert.equal(typeof d.reason, 'string')
      assert.ok(d.reason.length > 0)
    }
  })

  it('validates the network policy (bad allow entry → SandboxPolicyError at ["allow", i])', () => {
    let caught
    try {
      buildNetworkLayer({ policy: net('allowlist', ['10.0.0.0/8', '10.0.0.0/8 } accept; #']), caps: fullCaps() })
    } catch (error) {
      caught = error
    }
    assert.ok(caught instanceof SandboxPolicyError, String(caught))
    assert.deepEqual(caught.issues.map((i) => i.path), [['allow', 1]])
  })
})

// ------------------------------------------------------------ nft rules

describe('buildEgressNftRules', () => {
  it('ALWAYS_BLOCKED_CIDRS is exactly the link-local / ULA ranges, frozen', () => {
    assert.deepEqual([...ALWAYS_BLOCKED_CIDRS], ['169.254.0.0/16', 'fe80::/10', 'fc00::/7'])
    assert.ok(Object.isFrozen(ALWAYS_BLOCKED_CIDRS))
  })

  /**
   * A parsed ruleset: the output chain's policy and its rules as
   * `[match, verdict]`, verdict "accept" or "refuse". A refusal is `drop`,
   * `reject ...`, or a goto/jump to a chain that refuses everything, so the
   * checks hold whether blocked packets are dropped or actively rejected.
   */
  function parseRuleset(text) {
    const chains = {}
    let current
    for (const raw of text.split('\n')) {
      const line = raw.trim()
      const open = /^chain (\S+) \{$/.exec(line)
      if (open) {
        current = { name: open[1], policy: undefined, rules: [] }
        chains[current.name] = current
        continue
      }
      if (current === undefined || line === '' || line.startsWith('table ')) continue
      if (line === '}') {
        current = undefined
        continue
      }
      const hook = /^type filter hook (\S+) priority \S+; policy (accept|drop);$/.exec(line)
      if (hook) {
        current.hook = hook[1]
        current.policy = hook[2]
        continue
      }
      current.rules.push(line)
    }
    const refusingChain = (name) => {
      const chain = chains[name]
      if (chain === undefined || chain.hook !== undefined || chain.rules.length === 0) return false
      const last = chain.rules[chain.rules.length - 1]
      return chain.rules.every((r) => !/\baccept$/.test(r)) && /^(drop|reject( .*)?)$/.test(last)
    }
    const verdictOf = (rule) => {
      let m
      if ((m = /^(.*?)\s*\baccept$/.exec(rule))) return [m[1], 'accept']
      if ((m = /^(.*?)\s*\bdrop$/.exec(rule))) return [m[1], 'refuse']
      if ((m = /^(.*?)\s*\breject( with .*)?$/.exec(rule))) return [m[1], 'refuse']
      if ((m = /^(.*?)\s*\b(?:goto|jump) (\S+)$/.exec(rule))) {
        assert.ok(refusingChain(m[2]), `chain ${m[2]} must refuse everything:\n${text}`)
        return [m[1], 'refuse']
      }
      assert.fail(`rule without a verdict: ${rule}\n${text}`)
    }
    const hooked = Object.values(chains).filter((c) => c.hook !== undefined)
    assert.equal(hooked.length, 1, `exactly one base chain:\n${text}`)
    assert.equal(hooked[0].hook, 'output')
    return { policy: hooked[0].policy, rules: hooked[0].rules.map(verdictOf) }
  }

  const BLOCKED = [
    ['ip daddr { 169.254.0.0/16 }', 'refuse'],
    ['ip6 daddr { fe80::/10, fc00::/7 }', 'refuse'],
  ]
  const LOOPBACK = [
    ['oifname "lo"', 'accept'],
    ['ip daddr { 127.0.0.0/8 }', 'accept'],
    ['ip6 daddr { ::1/128 }', 'accept'],
  ]

  it('allowlist: exact rule order — blocked ranges refused first, loopback, entries, then refuse all', () => {
    const text = buildEgressNftRules({ mode: 'allowlist', allow: ['10.0.0.0/8', '2001:db8::/32'], denyMetadata: true })
    const parsed = parseRuleset(text)
    assert.equal(parsed.policy, 'drop')
    assert.deepEqual(parsed.rules, [
      ...BLOCKED,
      ...LOOPBACK,
      ['ip daddr { 10.0.0.0/8 }', 'accept'],
      ['ip6 daddr { 2001:db8::/32 }', 'accept'],
      ['', 'refuse'],
    ])
  })

  it('allowlist: an entry covering the blocked ranges cannot reopen them', () => {
    const text = buildEgressNftRules({ mode: 'allowlist', allow: ['0.0.0.0/0', '::/0', '169.254.169.254', 'fd00:ec2::254'], denyMetadata: true })
    const { policy: chainPolicy, rules } = parseRuleset(text)
    assert.equal(chainPolicy, 'drop')
    assert.deepEqual(rules.slice(0, 2), BLOCKED, text)
    const firstAccept = rules.findIndex(([, v]) => v === 'accept')
    assert.ok(firstAccept >= 2, text)
    assert.deepEqual(rules[rules.length - 1], ['', 'refuse'])
  })

  it('allowlist without the metadata block: no blocked-range rules; still ends with refuse all', () => {
    const text = buildEgressNftRules({ mode: 'allowlist', allow: ['10.0.0.0/8'], denyMetadata: false })
    assert.ok(!text.includes('169.254.0.0/16'))
    assert.ok(!text.includes('fe80::/10'))
    const parsed = parseRuleset(text)
    assert.equal(parsed.policy, 'drop')
    assert.deepEqual(parsed.rules, [...LOOPBACK, ['ip daddr { 10.0.0.0/8 }', 'accept'], ['', 'refuse']])
  })

  it('allowlist with no entries: loopback only', () => {
    const parsed = parseRuleset(buildEgressNftRules({ mode: 'allowlist', allow: [], denyMetadata: true }))
    assert.equal(parsed.policy, 'drop')
    assert.deepEqual(parsed.rules, [...BLOCKED, ...LOOPBACK, ['', 'refuse']])
  })

  it('metadata-only: default accept, blocked ranges refused, no refuse-all', () => {
    const text = buildEgressNftRules({ mode: 'metadata-only', allow: [], denyMetadata: true })
    const parsed = parseRuleset(text)
    assert.equal(parsed.policy, 'accept')
    assert.deepEqual(parsed.rules, BLOCKED)
    assert.ok(!parsed.rules.some(([match]) => match === ''), 'no unconditional rule')
  })

  it('never contains caller text: the ruleset is canonical', () => {
    const text = buildEgressNftRules({ mode: 'allowlist', allow: ['10.1.2.3/8'], denyMetadata: true })
    assert.ok(text.includes('10.0.0.0/8'))
    assert.ok(!text.includes('10.1.2.3'))
  })

  it('throws on a bad allow entry (including injection attempts)', () => {
    for (const bad of ['10.0.0.0/8 } accept; #', '1.2.3.4; drop', 'example.com', '', '10.0.0.0/33']) {
      let caught
      try {
        buildEgressNftRules({ mode: 'allowlist', allow: ['192.0.2.0/24', bad], denyMetadata: true })
      } catch (error) {
        caught = error
      }
      assert.ok(caught instanceof SandboxPolicyError, `${JSON.stringify(bad)}: ${caught}`)
      assert.deepEqual(caught.issues.map((i) => i.path), [['allow', 1]])
    }
  })

  it('rejects a bad mode or missing fields with a TypeError', () => {
    assert.throws(() => buildEgressNftRules({ mode: 'open', allow: [], denyMetadata: true }), TypeError)
    assert.throws(() => buildEgressNftRules({ mode: 'allowlist', allow: [] }), TypeError)
    assert.throws(() => buildEgressNftRules({ mode: 'allowlist', allow: [1], denyMetadata: true }), TypeError)
  })

  it('the generated rulesets are valid nftables syntax (nft -c -f)', (t) => {
    const nft = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].find((p) => fs.existsSync(p))
    const mustWork = process.env.SANDBOX_MUST_WORK === '1'
    if (nft === undefined) {
      if (mustWork) assert.fail('nft is not installed (SANDBOX_MUST_WORK=1)')
      t.skip('nft is not installed')
      return
    }
    // As root nft can check directly; otherwise inside a user+net namespace
    // where we hold CAP_NET_ADMIN (nothing is committed either way).
    const runner = process.geteuid() === 0 ? [nft] : ['unshare', '-Urn', nft]
    if (process.geteuid() !== 0 && spawnSync('unshare', ['-Urn', 'true']).status !== 0) {
      const reason = 'not root and cannot create a user+net namespace to run nft -c'
      if (mustWork) assert.fail(`${reason} (SANDBOX_MUST_WORK=1)`)
      t.skip(reason)
      return
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'planning-nft-'))
    try {
      const rulesets = [
        buildEgressNftRules({ mode: 'allowlist', allow: ['10.0.0.0/8', '192.0.2.1', '2001:db8::/32', '::1'], denyMetadata: true }),
        buildEgressNftRules({ mode: 'allowlist', allow: ['10.0.0.0/8'], denyMetadata: false }),
        buildEgressNftRules({ mode: 'allowlist', allow: ['2001:db8::1'], denyMetadata: true }),
        buildEgressNftRules({ mode: 'allowlist', allow: [], denyMetadata: true }),
        buildEgressNftRules({ mode: 'metadata-only', allow: [], denyMetadata: true }),
        plan({ policy: degrading({ network: { allow: ['198.51.100.0/24'] } }), caps: fullCaps() }).nftRuleset,
      ]
      rulesets.forEach((text, i) => {
        const file = path.join(dir, `r${i}.nft`)
        fs.writeFileSync(file, text)
        const r = spawnSync(runner[0], [...runner.slice(1), '-c', '-f', file], { encoding: 'utf8' })
        assert.equal(r.status, 0, `ruleset ${i} rejected by nft:\n${r.stderr}\n${text}`)
      })
      // Sanity: the check does reject a broken ruleset.
      const broken = path.join(dir, 'broken.nft')
      fs.writeFileSync(broken, 'table inet x { chain y { type filter hook output priority 0; policy drop; ip daddr { 10.0.0.0/8 } } accept; # }\n')
      const r = spawnSync(runner[0], [...runner.slice(1), '-c', '-f', broken], { encoding: 'utf8' })
      assert.notEqual(r.status, 0, 'nft -c accepted a broken ruleset; the check proves nothing')
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('capability objects of the original shape', () => {
  // Only the original's fields: the additive ones default to "absent", so
  // nothing the native engine would need is claimed.
  const original = {
    platform: 'linux',
    euidIsRoot: false,
    hasPrlimit: true,
    rlimitNative: true,
    wrapper: 'bwrap',
    userNamespaces: true,
    netNamespaces: true,
    userNsCreatable: true,
    netEgressIface: null,
    netEgressAddressing: null,
    netEgressRootless: true,
  }

  it('are accepted and claim nothing they cannot deliver', () => {
    const h = plan({ policy: degrading(), caps: original })
    assert.equal('launch' in h, false)
    assert.equal(h.effective.enforced.filesystem, false)
    assert.equal(h.effective.enforced.network, false)
    assert.equal(h.effective.enforced.privilege, true)
    assert.ok(h.effective.downgrades.length > 0)
    assert.equal(buildNetworkLayer({ policy: DEFAULT_SANDBOX_PROFILE.network, caps: original }).kind, 'degrade')
    unavailable(() => plan({ policy: DEFAULT_SANDBOX_PROFILE, caps: original }))
  })
})

describe('profiles on a full host', () => {
  it('FAIL_CLOSED_SANDBOX_PROFILE: deny network, confined FS, never fails', () => {
    const h = plan({ policy: FAIL_CLOSED_SANDBOX_PROFILE, caps: noUsernsCaps() })
    assert.equal(h.effective.requested.onUnavailable, 'degrade')
    assert.ok(downgradeLayers(h).includes('network'))
    const full = plan({ policy: FAIL_CLOSED_SANDBOX_PROFILE, caps: fullCaps() })
    assertEnforced(full, ALL_TRUE)
    assert.equal(full.launch.namespaces.net, true)
  })

  it('every layer is reported exactly once in enforced', () => {
    const h = plan({ policy: DEFAULT_SANDBOX_PROFILE, caps: fullCaps() })
    assert.deepEqual(Object.keys(h.effective.enforced).sort(), [...LAYERS].sort())
  })
})
