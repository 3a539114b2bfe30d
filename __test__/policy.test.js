'use strict'

// Policy parsing, merging, the shipped profiles, the env-derived default and
// the process-wide policy provider (SPEC §2.1, §2.5, §5).

const { describe, it, afterEach } = require('node:test')
const assert = require('node:assert/strict')

const sandbox = require('..')
const {
  parseSandboxPolicy,
  sandboxPolicySchema,
  mergeSandboxPolicy,
  DEFAULT_SANDBOX_PROFILE,
  FAIL_CLOSED_SANDBOX_PROFILE,
  resolveDefaultSandboxProfile,
  SANDBOX_UID_ENV,
  SANDBOX_GID_ENV,
  SandboxPolicyError,
  registerSandboxPolicyProvider,
  resetSandboxPolicyProvider,
  resolveActiveSandboxPolicy,
} = sandbox

const MIB = 1024 * 1024

const SHIPPED_RESOURCES = {
  cpuSeconds: 60,
  memoryBytes: 512 * MIB,
  maxOpenFiles: 1024,
  maxProcesses: 256,
  maxOutputBytes: 5 * MIB,
  maxFileSizeBytes: 256 * MIB,
}

const EXPECTED_DEFAULT = {
  enabled: true,
  onUnavailable: 'fail',
  resources: SHIPPED_RESOURCES,
  filesystem: { mode: 'scratch-plus-ro' },
  network: { mode: 'allowlist', allow: [], denyLinkLocalAndMetadata: true },
  privilege: { mode: 'drop-to-uid' },
}

const EXPECTED_FAIL_CLOSED = {
  enabled: true,
  onUnavailable: 'degrade',
  resources: SHIPPED_RESOURCES,
  filesystem: { mode: 'scratch-plus-ro' },
  network: { mode: 'deny', allow: [], denyLinkLocalAndMetadata: true },
  privilege: { mode: 'drop-to-uid' },
}

/** The SandboxPolicyError thrown by `fn` (fails the test when none is thrown). */
function policyError(fn) {
  let caught
  try {
    fn()
  } catch (error) {
    caught = error
  }
  assert.ok(caught !== undefined, 'expected a SandboxPolicyError, nothing was thrown')
  assert.ok(caught instanceof SandboxPolicyError, `expected a SandboxPolicyError, got ${caught && caught.name}: ${caught && caught.message}`)
  assert.ok(caught instanceof Error)
  assert.equal(caught.name, 'SandboxPolicyError')
  assert.equal(caught.code, 'INVALID_POLICY')
  assert.ok(Array.isArray(caught.issues) && caught.issues.length > 0, 'issues must be a non-empty array')
  for (const issue of caught.issues) {
    assert.ok(Array.isArray(issue.path), 'issue.path is an array')
    assert.equal(typeof issue.message, 'string')
    assert.ok(issue.message.length > 0)
  }
  return caught
}

/** The issue paths of the error `input` raises. */
function issuePaths(input) {
  return policyError(() => parseSandboxPolicy(input)).issues.map((i) => i.path)
}

/** Exactly one issue, at `path`; returns it. */
function singleIssue(input, path) {
  const error = policyError(() => parseSandboxPolicy(input))
  assert.deepEqual(
    error.issues.map((i) => i.path),
    [path],
    `issues: ${JSON.stringify(error.issues)}`,
  )
  return error.issues[0]
}

function deepFrozen(value, where = 'value') {
  if (value === null || typeof value !== 'object') return
  assert.ok(Object.isFrozen(value), `${where} is frozen`)
  for (const [key, inner] of Object.entries(value)) deepFrozen(inner, `${where}.${key}`)
}

// ------------------------------------------------------------------ parsing

describe('parseSandboxPolicy: defaults', () => {
  it('fills every default for an empty input', () => {
    assert.deepEqual(parseSandboxPolicy({}), {
      enabled: true,
      onUnavailable: 'degrade',
      resources: {},
      filesystem: { mode: 'off' },
      network: { mode: 'unrestricted', allow: [], denyLinkLocalAndMetadata: true },
      privilege: { mode: 'inherit' },
    })
  })

  it('fills the defaults of keys absent inside a present layer', () => {
    const p = parseSandboxPolicy({ network: { allow: ['10.0.0.0/8'] }, filesystem: { scratchBytes: 4096 }, privilege: { uid: 7 } })
    assert.deepEqual(p.network, { mode: 'unrestricted', allow: ['10.0.0.0/8'], denyLinkLocalAndMetadata: true })
    assert.deepEqual(p.filesystem, { mode: 'off', scratchBytes: 4096 })
    assert.deepEqual(p.privilege, { mode: 'inherit', uid: 7 })
  })

  it('leaves optional fields absent (not null) in the result', () => {
    const p = parseSandboxPolicy({ privilege: { mode: 'drop-to-uid' }, filesystem: { mode: 'scratch-only' } })
    assert.equal('uid' in p.privilege, false)
    assert.equal('gid' in p.privilege, false)
    assert.equal('scratchBytes' in p.filesystem, false)
    assert.deepEqual(Object.keys(p.resources), [])
    const withUid = parseSandboxPolicy({ privilege: { mode: 'drop-to-uid', uid: 1000 } })
    assert.equal(withUid.privilege.uid, 1000)
    assert.equal('gid' in withUid.privilege, false)
  })

  it('treats keys whose value is undefined as absent', () => {
    const p = parseSandboxPolicy({ enabled: undefined, network: { mode: undefined }, resources: { cpuSeconds: undefined } })
    assert.equal(p.enabled, true)
    assert.equal(p.network.mode, 'unrestricted')
    assert.equal('cpuSeconds' in p.resources, false)
  })

  it('accepts a full policy at the upper bounds and returns it unchanged', () => {
    const input = {
      enabled: false,
      onUnavailable: 'fail',
      resources: {
        cpuSeconds: 3600,
        memoryBytes: 1,
        maxOpenFiles: 1048576,
        maxProcesses: 65536,
        maxOutputBytes: Number.MAX_SAFE_INTEGER,
        maxFileSizeBytes: 2,
      },
      filesystem: { mode: 'scratch-only', scratchBytes: 1 },
      network: { mode: 'allowlist', allow: ['10.1.2.3/8', '2001:db8::1'], denyLinkLocalAndMetadata: false },
      privilege: { mode: 'drop-to-uid', uid: 0, gid: 0 },
    }
    assert.deepEqual(parseSandboxPolicy(input), input)
  })

  it('round-trips the shipped profiles', () => {
    assert.deepEqual(parseSandboxPolicy(DEFAULT_SANDBOX_PROFILE), EXPECTED_DEFAULT)
    assert.deepEqual(parseSandboxPolicy(FAIL_CLOSED_SANDBOX_PROFILE), EXPECTED_FAIL_CLOSED)
  })
})

describe('parseSandboxPolicy: bounds', () => {
  const rejected = [
    ['cpuSeconds', 0],
    ['cpuSeconds', 3601],
    ['cpuSeconds', 1.5],
    ['cpuSeconds', -1],
    ['cpuSeconds', NaN],
    ['cpuSeconds', Infinity],
    ['cpuSeconds', '5'],
    ['cpuSeconds', null],
    ['cpuSeconds', true],
    ['maxOpenFiles', 1048577],
    ['maxOpenFiles', 0],
    ['maxProcesses', 65537],
    ['maxProcesses', 0],
    ['memoryBytes', 0],
    ['memoryBytes', -1],
    ['memoryBytes', 1.5],
    ['memoryBytes', '1'],
    ['maxOutputBytes', 0],
    ['maxOutputBytes', -5],
    ['maxOutputBytes', 0.5],
    ['maxFileSizeBytes', 0],
    ['maxFileSizeBytes', -1],
    ['maxFileSizeBytes', 2.5],
  ]
  for (const [key, value] of rejected) {
    it(`rejects resources.${key} = ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`, () => {
      singleIssue({ resources: { [key]: value } }, ['resources', key])
      const error = policyError(() => parseSandboxPolicy({ resources: { [key]: value } }))
      assert.match(error.message, new RegExp(key), 'the message names the field')
    })
  }

  const accepted = [
    ['cpuSeconds', 1],
    ['cpuSeconds', 3600],
    ['maxOpenFiles', 1048576],
    ['maxOpenFiles', 1],
    ['maxProcesses', 65536],
    ['maxProcesses', 1],
    ['memoryBytes', 1],
    ['memoryBytes', 64 * 1024 * MIB],
    ['maxOutputBytes', 1],
    ['maxFileSizeBytes', 1],
  ]
  for (const [key, value] of accepted) {
    it(`accepts resources.${key} = ${value}`, () => {
      assert.deepEqual(parseSandboxPolicy({ resources: { [key]: value } }).resources, { [key]: value })
    })
  }

  it('requires filesystem.scratchBytes to be a positive integer', () => {
    for (const bad of [0, -1, 1.5, '4096', NaN]) {
      singleIssue({ filesystem: { scratchBytes: bad } }, ['filesystem', 'scratchBytes'])
    }
    assert.equal(parseSandboxPolicy({ filesystem: { scratchBytes: 4096 } }).filesystem.scratchBytes, 4096)
  })

  it('requires privilege.uid/gid to be non-negative integers', () => {
    for (const key of ['uid', 'gid']) {
      for (const bad of [-1, 1.5, '1000', NaN, null]) {
        singleIssue({ privilege: { mode: 'drop-to-uid', [key]: bad } }, ['privilege', key])
      }
      assert.equal(parseSandboxPolicy({ privilege: { mode: 'drop-to-uid', [key]: 0 } }).privilege[key], 0)
      assert.equal(parseSandboxPolicy({ privilege: { mode: 'drop-to-uid', [key]: 65534 } }).privilege[key], 65534)
    }
  })
})

describe('parseSandboxPolicy: types, enums and unknown keys', () => {
  it('rejects a non-object input at the root path', () => {
    for (const bad of [null, 42, 'policy', [], true, undefined]) {
      singleIssue(bad, [])
    }
  })

  it('rejects a non-object layer at the layer path', () => {
    for (const layer of ['resources', 'filesystem', 'network', 'privilege']) {
      singleIssue({ [layer]: 'nope' }, [layer])
      singleIssue({ [layer]: [] }, [layer])
    }
  })

  it('checks types and enum values', () => {
    singleIssue({ enabled: 'yes' }, ['enabled'])
    singleIssue({ onUnavailable: 'explode' }, ['onUnavailable'])
    singleIssue({ filesystem: { mode: 'ro' } }, ['filesystem', 'mode'])
    singleIssue({ network: { mode: 'open' } }, ['network', 'mode'])
    singleIssue({ network: { allow: '10.0.0.0/8' } }, ['network', 'allow'])
    singleIssue({ network: { denyLinkLocalAndMetadata: 1 } }, ['network', 'denyLinkLocalAndMetadata'])
    singleIssue({ privilege: { mode: 'root' } }, ['privilege', 'mode'])
  })

  it('names an unknown top-level key (path [])', () => {
    const issue = singleIssue({ bogus: 1 }, [])
    assert.match(issue.message, /bogus/)
  })

  for (const layer of ['resources', 'filesystem', 'network', 'privilege']) {
    it(`names an unknown key inside ${layer} (path ["${layer}"])`, () => {
      const issue = singleIssue({ [layer]: { sneaky: true } }, [layer])
      assert.match(issue.message, /sneaky/)
    })
  }

  it('collects every issue in one error', () => {
    const error = policyError(() =>
      parseSandboxPolicy({
        bogus: 1,
        enabled: 'yes',
        resources: { cpuSeconds: 0, maxProcesses: 65537, extra: 1 },
        filesystem: { mode: 'nope' },
        network: { allow: ['10.0.0.0/8', 'bad'] },
        privilege: { uid: -1 },
      }),
    )
    const paths = error.issues.map((i) => JSON.stringify(i.path)).sort()
    assert.deepEqual(
      paths,
      [
        '[]',
        '["enabled"]',
        '["resources"]',
        '["resources","cpuSeconds"]',
        '["resources","maxProcesses"]',
        '["filesystem","mode"]',
        '["network","allow",1]',
        '["privilege","uid"]',
      ].sort(),
    )
    for (const field of ['bogus', 'enabled', 'cpuSeconds', 'maxProcesses', 'extra', 'mode', 'allow', 'uid']) {
      assert.ok(error.message.includes(field), `message names ${field}: ${error.message}`)
    }
  })
})

describe('parseSandboxPolicy: network.allow', () => {
  const invalid = [
    '10.0.0.0/8 } accept; #',
    '1.2.3.4; drop',
    '0.0.0.0/0 } accept; #',
    '10.0.0.0/33',
    '::1/129',
    '1.2.3.256',
    '1.2.3.4/',
    '1.2.3.4/-1',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '',
    'example.com',
    'localhost',
    '10.0.0.0/8\naccept',
    '1.2.3.4/8/8',
  ]
  for (const entry of invalid) {
    it(`rejects ${JSON.stringify(entry)} at ["network","allow",i]`, () => {
      const allow = ['10.0.0.0/8', entry, '2001:db8::/32']
      singleIssue({ network: { mode: 'allowlist', allow } }, ['network', 'allow', 1])
    })
  }

  it('rejects non-string entries with their index', () => {
    assert.deepEqual(issuePaths({ network: { allow: ['1.2.3.4', 7, null, {}] } }), [
      ['network', 'allow', 1],
      ['network', 'allow', 2],
      ['network', 'allow', 3],
    ])
  })

  it('reports every bad entry, each with its own index', () => {
    assert.deepEqual(
      issuePaths({ network: { mode: 'allowlist', allow: ['nope', '10.0.0.0/8', '1.2.3.4; drop', '::1', '10.0.0.0/8 } accept; #'] } }),
      [
        ['network', 'allow', 0],
        ['network', 'allow', 2],
        ['network', 'allow', 4],
      ],
    )
  })

  it('accepts IPv4/IPv6 addresses and CIDRs and returns them exactly as given', () => {
    const allow = [
      '10.0.0.0/8',
      '1.2.3.4',
      '1.2.3.4/32',
      '10.1.2.3/8',
      '0.0.0.0/0',
      '192.168.0.0/16',
      '2001:db8::1',
      '2001:db8::/32',
      '2001:DB8:0:0::1',
      '::1',
      '::/0',
      '::ffff:10.0.0.1',
    ]
    const p = parseSandboxPolicy({ network: { mode: 'allowlist', allow } })
    assert.deepEqual(p.network.allow, allow)
    assert.notEqual(p.network.allow, allow, 'a new array, not the caller\'s')
  })
})

describe('SandboxPolicyError', () => {
  it('can be constructed from JS', () => {
    const issues = [{ path: ['network', 'allow', 2], message: 'bad entry' }]
    const error = new SandboxPolicyError(issues)
    assert.ok(error instanceof SandboxPolicyError)
    assert.ok(error instanceof Error)
    assert.equal(error.name, 'SandboxPolicyError')
    assert.equal(error.code, 'INVALID_POLICY')
    assert.deepEqual(error.issues, issues)
    assert.match(error.message, /bad entry/)
    const custom = new SandboxPolicyError(issues, 'custom message')
    assert.equal(custom.message, 'custom message')
  })

  it('is what sandboxPolicySchema.parse throws and safeParse returns', () => {
    assert.deepEqual(sandboxPolicySchema.parse({}), parseSandboxPolicy({}))
    assert.throws(() => sandboxPolicySchema.parse({ bogus: 1 }), SandboxPolicyError)
    const ok = sandboxPolicySchema.safeParse({ network: { mode: 'deny' } })
    assert.equal(ok.success, true)
    assert.equal(ok.data.network.mode, 'deny')
    const bad = sandboxPolicySchema.safeParse({ network: { allow: ['1.2.3.4; drop'] } })
    assert.equal(bad.success, false)
    assert.ok(bad.error instanceof SandboxPolicyError)
    assert.deepEqual(bad.error.issues[0].path, ['network', 'allow', 0])
  })
})

// -------------------------------------------------------------------- merge

describe('mergeSandboxPolicy', () => {
  it('returns the same base object when override is undefined or absent', () => {
    assert.equal(mergeSandboxPolicy({ base: DEFAULT_SANDBOX_PROFILE, override: undefined }), DEFAULT_SANDBOX_PROFILE)
    assert.equal(mergeSandboxPolicy({ base: DEFAULT_SANDBOX_PROFILE }), DEFAULT_SANDBOX_PROFILE)
  })

  it('an empty override changes nothing', () => {
    assert.deepEqual(mergeSandboxPolicy({ base: DEFAULT_SANDBOX_PROFILE, override: {} }), EXPECTED_DEFAULT)
  })

  it('overlays only the keys the override sets; other layers are not re-widened', () => {
    const merged = mergeSandboxPolicy({ base: DEFAULT_SANDBOX_PROFILE, override: { network: { mode: 'deny' } } })
    assert.deepEqual(merged, {
      ...EXPECTED_DEFAULT,
      network: { ...EXPECTED_DEFAULT.network, mode: 'deny' },
    })
    // Not the parse defaults of the untouched layers (filesystem "off", privilege "inherit", no caps).
    assert.equal(merged.filesystem.mode, 'scratch-plus-ro')
    assert.equal(merged.privilege.mode, 'drop-to-uid')
    assert.equal(merged.onUnavailable, 'fail')
    assert.deepEqual(merged.resources, SHIPPED_RESOURCES)
  })

  it('overlays per key within a layer', () => {
    const merged = mergeSandboxPolicy({
      base: DEFAULT_SANDBOX_PROFILE,
      override: {
        onUnavailable: 'degrade',
        resources: { cpuSeconds: 5 },
        network: { allow: ['10.0.0.0/8'] },
        privilege: { uid: 1000 },
      },
    })
    assert.deepEqual(merged, {
      ...EXPECTED_DEFAULT,
      onUnavailable: 'degrade',
      resources: { ...SHIPPED_RESOURCES, cpuSeconds: 5 },
      // mode stays "allowlist", the metadata block stays on
      network: { mode: 'allowlist', allow: ['10.0.0.0/8'], denyLinkLocalAndMetadata: true },
      privilege: { mode: 'drop-to-uid', uid: 1000 },
    })
  })

  it('can switch booleans off and on', () => {
    const merged = mergeSandboxPolicy({
      base: DEFAULT_SANDBOX_PROFILE,
      override: { enabled: false, network: { denyLinkLocalAndMetadata: false } },
    })
    assert.equal(merged.enabled, false)
    assert.equal(merged.network.denyLinkLocalAndMetadata, false)
    assert.equal(merged.network.mode, 'allowlist')
  })

  it('does not let undefined values clobber the base', () => {
    const merged = mergeSandboxPolicy({
      base: DEFAULT_SANDBOX_PROFILE,
      override: {
        enabled: undefined,
        onUnavailable: undefined,
        resources: { cpuSeconds: undefined, memoryBytes: undefined },
        filesystem: { mode: undefined },
        network: undefined,
        privilege: { mode: undefined, uid: undefined },
      },
    })
    assert.deepEqual(merged, EXPECTED_DEFAULT)
  })

  it('does not mutate the base', () => {
    const base = parseSandboxPolicy({ resources: { cpuSeconds: 10 } })
    const snapshot = structuredClone(base)
    mergeSandboxPolicy({ base, override: { resources: { cpuSeconds: 20 }, network: { mode: 'deny' } } })
    assert.deepEqual(base, snapshot)
  })

  it('throws SandboxPolicyError for an invalid override, naming its fields', () => {
    const error = policyError(() =>
      mergeSandboxPolicy({ base: DEFAULT_SANDBOX_PROFILE, override: { resources: { cpuSeconds: 3601 }, network: { allow: ['10.0.0.0/8 } accept; #'] } } }),
    )
    assert.deepEqual(
      error.issues.map((i) => i.path),
      [
        ['resources', 'cpuSeconds'],
        ['network', 'allow', 0],
      ],
    )
    policyError(() => mergeSandboxPolicy({ base: DEFAULT_SANDBOX_PROFILE, override: { bogus: true } }))
    policyError(() => mergeSandboxPolicy({ base: DEFAULT_SANDBOX_PROFILE, override: null }))
  })

  it('re-validates the merged result (an out-of-range base is caught)', () => {
    const badBase = { ...EXPECTED_DEFAULT, resources: { ...SHIPPED_RESOURCES, cpuSeconds: 999999 } }
    const error = policyError(() => mergeSandboxPolicy({ base: badBase, override: { enabled: true } }))
    assert.ok(
      error.issues.some((i) => i.path.includes('cpuSeconds')),
      `issues: ${JSON.stringify(error.issues)}`,
    )
  })
})

// ---------------------------------------------------------------- profiles

describe('shipped profiles', () => {
  it('DEFAULT_SANDBOX_PROFILE has the exact shipped values', () => {
    assert.deepEqual(DEFAULT_SANDBOX_PROFILE, EXPECTED_DEFAULT)
    assert.equal('uid' in DEFAULT_SANDBOX_PROFILE.privilege, false)
  })

  it('FAIL_CLOSED_SANDBOX_PROFILE has the exact values', () => {
    assert.deepEqual(FAIL_CLOSED_SANDBOX_PROFILE, EXPECTED_FAIL_CLOSED)
  })

  it('both are deeply frozen', () => {
    deepFrozen(DEFAULT_SANDBOX_PROFILE, 'DEFAULT_SANDBOX_PROFILE')
    deepFrozen(FAIL_CLOSED_SANDBOX_PROFILE, 'FAIL_CLOSED_SANDBOX_PROFILE')
    assert.throws(() => {
      DEFAULT_SANDBOX_PROFILE.enabled = false
    }, TypeError)
    assert.throws(() => {
      DEFAULT_SANDBOX_PROFILE.network.allow.push('0.0.0.0/0')
    }, TypeError)
    assert.throws(() => {
      FAIL_CLOSED_SANDBOX_PROFILE.network.mode = 'unrestricted'
    }, TypeError)
    assert.deepEqual(DEFAULT_SANDBOX_PROFILE, EXPECTED_DEFAULT)
    assert.deepEqual(FAIL_CLOSED_SANDBOX_PROFILE, EXPECTED_FAIL_CLOSED)
  })

  it('exports the env var names', () => {
    assert.equal(SANDBOX_UID_ENV, 'CHECKSTACK_SANDBOX_UID')
    assert.equal(SANDBOX_GID_ENV, 'CHECKSTACK_SANDBOX_GID')
  })
})

describe('resolveDefaultSandboxProfile', () => {
  /** Run `fn` with the two id vars set as given (undefined = unset), then restore them. */
  function withIds(uid, gid, fn) {
    const saved = { uid: process.env[SANDBOX_UID_ENV], gid: process.env[SANDBOX_GID_ENV] }
    const set = (name, value) => {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
    try {
      set(SANDBOX_UID_ENV, uid)
      set(SANDBOX_GID_ENV, gid)
      return fn()
    } finally {
      set(SANDBOX_UID_ENV, saved.uid)
      set(SANDBOX_GID_ENV, saved.gid)
    }
  }

  it('is the default profile when neither variable is set', () => {
    withIds(undefined, undefined, () => {
      const p = resolveDefaultSandboxProfile()
      assert.deepEqual(p, EXPECTED_DEFAULT)
      assert.equal('uid' in p.privilege, false)
      assert.equal('gid' in p.privilege, false)
    })
  })

  it('takes uid and gid from the environment', () => {
    withIds('1001', '1002', () => {
      assert.deepEqual(resolveDefaultSandboxProfile(), {
        ...EXPECTED_DEFAULT,
        privilege: { mode: 'drop-to-uid', uid: 1001, gid: 1002 },
      })
    })
  })

  it('takes a uid alone (gid stays absent)', () => {
    withIds('1500', undefined, () => {
      const p = resolveDefaultSandboxProfile()
      assert.deepEqual(p.privilege, { mode: 'drop-to-uid', uid: 1500 })
      assert.equal('gid' in p.privilege, false)
    })
  })

  it('accepts uid 0 as a value', () => {
    withIds('0', undefined, () => {
      assert.equal(resolveDefaultSandboxProfile().privilege.uid, 0)
    })
  })

  it('ignores a gid without a uid', () => {
    withIds(undefined, '1002', () => {
      const p = resolveDefaultSandboxProfile()
      assert.deepEqual(p, EXPECTED_DEFAULT)
      assert.equal('gid' in p.privilege, false)
    })
  })

  for (const bad of ['', '   ', '-1', '1.5', 'abc', '12abc', 'NaN']) {
    it(`treats a malformed uid ${JSON.stringify(bad)} as unset`, () => {
      withIds(bad, '7', () => {
        const p = resolveDefaultSandboxProfile()
        assert.deepEqual(p, EXPECTED_DEFAULT)
        assert.equal('uid' in p.privilege, false)
        assert.equal('gid' in p.privilege, false)
      })
    })
  }

  for (const bad of ['', '-5', 'x', '2.5']) {
    it(`treats a malformed gid ${JSON.stringify(bad)} as unset (uid kept)`, () => {
      withIds('1001', bad, () => {
        const p = resolveDefaultSandboxProfile()
        assert.deepEqual(p.privilege, { mode: 'drop-to-uid', uid: 1001 })
        assert.equal('gid' in p.privilege, false)
      })
    })
  }

  it('reads the environment at call time and restores cleanly', () => {
    withIds('1234', undefined, () => assert.equal(resolveDefaultSandboxProfile().privilege.uid, 1234))
    withIds('4321', undefined, () => assert.equal(resolveDefaultSandboxProfile().privilege.uid, 4321))
    withIds(undefined, undefined, () => assert.equal('uid' in resolveDefaultSandboxProfile().privilege, false))
    // The shipped constant is never changed by it.
    assert.deepEqual(DEFAULT_SANDBOX_PROFILE, EXPECTED_DEFAULT)
  })
})

// ---------------------------------------------------------------- provider

describe('policy provider', () => {
  afterEach(() => resetSandboxPolicyProvider())

  it('without a provider: the fail-closed profile, failedClosed true', async () => {
    resetSandboxPolicyProvider()
    const resolved = await resolveActiveSandboxPolicy()
    assert.equal(resolved.failedClosed, true)
    assert.deepEqual(resolved.policy, EXPECTED_FAIL_CLOSED)
  })

  it('a provider that rejects: fail closed', async () => {
    registerSandboxPolicyProvider(async () => {
      throw new Error('settings store down')
    })
    const resolved = await resolveActiveSandboxPolicy()
    assert.equal(resolved.failedClosed, true)
    assert.deepEqual(resolved.policy, EXPECTED_FAIL_CLOSED)
  })

  it('a provider that throws synchronously: fail closed', async () => {
    registerSandboxPolicyProvider(() => {
      throw new Error('boom')
    })
    const resolved = await resolveActiveSandboxPolicy()
    assert.equal(resolved.failedClosed, true)
    assert.deepEqual(resolved.policy, EXPECTED_FAIL_CLOSED)
  })

  it('a provider returning an invalid policy: fail closed (never the permissive value)', async () => {
    registerSandboxPolicyProvider(async () => ({
      ...EXPECTED_DEFAULT,
      network: { mode: 'allowlist', allow: ['0.0.0.0/0 } accept; #'], denyLinkLocalAndMetadata: true },
    }))
    let resolved = await resolveActiveSandboxPolicy()
    assert.equal(resolved.failedClosed, true)
    assert.deepEqual(resolved.policy, EXPECTED_FAIL_CLOSED)

    registerSandboxPolicyProvider(async () => ({ enabled: false, bogus: 1 }))
    resolved = await resolveActiveSandboxPolicy()
    assert.equal(resolved.failedClosed, true)
    assert.deepEqual(resolved.policy, EXPECTED_FAIL_CLOSED)

    registerSandboxPolicyProvider(async () => undefined)
    resolved = await resolveActiveSandboxPolicy()
    assert.equal(resolved.failedClosed, true)
    assert.deepEqual(resolved.policy, EXPECTED_FAIL_CLOSED)
  })

  it('a working provider: its policy, failedClosed false', async () => {
    const policy = parseSandboxPolicy({
      enabled: true,
      onUnavailable: 'degrade',
      resources: { cpuSeconds: 7 },
      network: { mode: 'allowlist', allow: ['10.0.0.0/8'] },
    })
    let calls = 0
    registerSandboxPolicyProvider(async () => {
      calls += 1
      return policy
    })
    const resolved = await resolveActiveSandboxPolicy()
    assert.equal(resolved.failedClosed, false)
    assert.deepEqual(resolved.policy, policy)
    assert.equal(calls, 1)
    // Asked again on every resolution (the setting may have changed).
    await resolveActiveSandboxPolicy()
    assert.equal(calls, 2)
  })

  it('a provider may return the shipped default', async () => {
    registerSandboxPolicyProvider(async () => DEFAULT_SANDBOX_PROFILE)
    const resolved = await resolveActiveSandboxPolicy()
    assert.equal(resolved.failedClosed, false)
    assert.deepEqual(resolved.policy, EXPECTED_DEFAULT)
  })

  it('resetSandboxPolicyProvider goes back to fail closed', async () => {
    registerSandboxPolicyProvider(async () => parseSandboxPolicy({}))
    assert.equal((await resolveActiveSandboxPolicy()).failedClosed, false)
    resetSandboxPolicyProvider()
    const resolved = await resolveActiveSandboxPolicy()
    assert.equal(resolved.failedClosed, true)
    assert.deepEqual(resolved.policy, EXPECTED_FAIL_CLOSED)
  })

  it('registerSandboxPolicyProvider throws a TypeError for a non-function', () => {
    for (const bad of [undefined, null, 42, 'provider', {}, Promise.resolve(EXPECTED_DEFAULT)]) {
      assert.throws(() => registerSandboxPolicyProvider(bad), TypeError)
    }
  })

  it('a rejected registration keeps the previous provider', async () => {
    registerSandboxPolicyProvider(async () => parseSandboxPolicy({ network: { mode: 'deny' } }))
    assert.throws(() => registerSandboxPolicyProvider('nope'), TypeError)
    const resolved = await resolveActiveSandboxPolicy()
    assert.equal(resolved.failedClosed, false)
    assert.equal(resolved.policy.network.mode, 'deny')
  })
})
