// Compiled with `tsc --noEmit` (strict) by `npm test`: the API used the way
// the original Checkstack runners and their callers use it.
import {
  DEFAULT_SANDBOX_PROFILE,
  FAIL_CLOSED_SANDBOX_PROFILE,
  SandboxPolicyError,
  SandboxUnavailableError,
  buildSpawnHardening,
  defaultEsmScriptRunner,
  defaultShellScriptRunner,
  detectSandboxCapabilities,
  mergeSandboxPolicy,
  parseSandboxPolicy,
  pickSafeEnv,
  registerSandboxPolicyProvider,
  resolveDefaultSandboxProfile,
  runSandboxed,
  surfaceRunDowngrades,
  type EffectiveSandbox,
  type EsmScriptRunResult,
  type SandboxCapabilities,
  type SandboxDowngrade,
  type SandboxPolicy,
  type SandboxPolicyInput,
  type ShellScriptRunResult,
} from '../index'

const logger = { info: (_m: string) => {}, warn: (_m: string) => {} }

registerSandboxPolicyProvider(async (): Promise<SandboxPolicy> =>
  mergeSandboxPolicy({ base: resolveDefaultSandboxProfile(), override: { network: { mode: 'deny' } } }),
)

async function shellCheck(): Promise<number> {
  const result: ShellScriptRunResult = await defaultShellScriptRunner.run({ script: 'echo ok', timeoutMs: 5000 })
  const downgrades: SandboxDowngrade[] = result.sandbox?.downgrades ?? []
  surfaceRunDowngrades({ logger, effective: result.sandbox })
  return result.exitCode + downgrades.length
}

async function esmCheck(): Promise<unknown> {
  const result: EsmScriptRunResult = await defaultEsmScriptRunner.run({
    script: 'return 1 + 1;',
    context: { check: 'x' },
    timeoutMs: 5000,
    helperModuleName: '@checkstack/sdk/healthcheck',
    helperFunctionName: 'defineHealthCheck',
  })
  return result.error ?? result.result
}

function planCheck(caps: SandboxCapabilities): string[] {
  try {
    const hardening = buildSpawnHardening({ policy: DEFAULT_SANDBOX_PROFILE, caps, baseEnv: pickSafeEnv() })
    const effective: EffectiveSandbox = hardening.effective
    return hardening.wrapCmd(['sh', '-c', 'true']).concat(effective.platform)
  } catch (error) {
    if (error instanceof SandboxUnavailableError) return error.downgrades.map((d) => d.reason)
    throw error
  }
}

function parseCheck(input: SandboxPolicyInput): SandboxPolicy | string {
  try {
    return parseSandboxPolicy(input)
  } catch (error) {
    if (error instanceof SandboxPolicyError) return error.issues.map((i) => i.path.join('.')).join(',')
    throw error
  }
}

async function runCheck(): Promise<number | null> {
  const controller = new AbortController()
  const result = await runSandboxed({
    command: ['sh', '-c', 'echo hi'],
    policy: FAIL_CLOSED_SANDBOX_PROFILE,
    timeoutMs: 1000,
    signal: controller.signal,
    onStdout: (chunk: Buffer) => void chunk.length,
  })
  return result.resourceUsage?.maxRssBytes ?? null
}

void shellCheck
void esmCheck
void planCheck(detectSandboxCapabilities())
void parseCheck({ resources: { cpuSeconds: 5 } })
void runCheck
