// A caller written the way Checkstack's backend uses the original runners:
// type-checked (strict) against index.d.ts by `npm test`, and run under Bun
// from an installed copy of the package by package.test.js.
import assert from 'node:assert/strict'
import {
  DEFAULT_SANDBOX_PROFILE,
  SandboxUnavailableError,
  buildSpawnHardening,
  defaultEsmScriptRunner,
  defaultShellScriptRunner,
  detectSandboxCapabilities,
  mergeSandboxPolicy,
  pickSafeEnv,
  registerSandboxPolicyProvider,
  resolveDefaultSandboxProfile,
  surfaceRunDowngrades,
  type SandboxCapabilities,
  type SandboxDowngrade,
  type SandboxPolicy,
  type ShellScriptRunResult,
} from '@checkstack/script-sandbox'

const warnings: string[] = []
const logger = { info: (_m: string) => {}, warn: (m: string) => void warnings.push(m) }

async function main(): Promise<void> {
  // Startup: register the global policy provider once.
  registerSandboxPolicyProvider(async (): Promise<SandboxPolicy> =>
    mergeSandboxPolicy({ base: resolveDefaultSandboxProfile(), override: { onUnavailable: 'degrade' } }),
  )

  // A shell health check.
  const shell: ShellScriptRunResult = await defaultShellScriptRunner.run({
    script: 'echo "status=$STATUS"',
    timeoutMs: 10000,
    env: { STATUS: 'green' },
  })
  assert.equal(shell.exitCode, 0, shell.stderr)
  assert.equal(shell.stdout, 'status=green')
  const downgrades: SandboxDowngrade[] = shell.sandbox?.downgrades ?? []
  surfaceRunDowngrades({ logger, effective: shell.sandbox })
  assert.equal(warnings.length, downgrades.length > 0 ? 1 : 0)

  // An inline JS health check with the helper module (runs on Bun when Bun runs us).
  const esm = await defaultEsmScriptRunner.run({
    script: 'import { defineHealthCheck } from "@checkstack/sdk/healthcheck";\nexport default defineHealthCheck(async (ctx) => ({ ok: ctx.threshold > 1 }));',
    context: { threshold: 2 },
    timeoutMs: 15000,
    helperModuleName: '@checkstack/sdk/healthcheck',
    helperFunctionName: 'defineHealthCheck',
  })
  assert.equal(esm.error, undefined, esm.error)
  assert.deepEqual(esm.result, { ok: true })

  // A host that cannot enforce: the secure default refuses, cleanly.
  const darwin: SandboxCapabilities = { ...detectSandboxCapabilities(), platform: 'darwin' }
  try {
    buildSpawnHardening({ policy: DEFAULT_SANDBOX_PROFILE, caps: darwin, baseEnv: pickSafeEnv() })
    assert.fail('the secure default must refuse on darwin')
  } catch (error) {
    if (!(error instanceof SandboxUnavailableError)) throw error
    assert.ok(error.downgrades.length > 0)
  }

  console.log('drop-in: all checks passed')
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
