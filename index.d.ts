/// <reference types="node" />
// Public types of @checkstack/script-sandbox. Names and shapes mirror the
// `script-sandbox` module of @checkstack/backend-api and its two runners;
// fields added here are optional or additive.

// ------------------------------------------------------------------ policy

export type OnUnavailable = 'degrade' | 'fail'

export interface ResourceLimits {
  /** RLIMIT_CPU, seconds (1..3600). */
  cpuSeconds?: number
  /** Heap cap for JS runs (NODE_OPTIONS=--max-old-space-size); never RLIMIT_AS. */
  memoryBytes?: number
  /** RLIMIT_NOFILE (1..1048576). */
  maxOpenFiles?: number
  /** RLIMIT_NPROC (1..65536), applied only when the run is isolated. */
  maxProcesses?: number
  /** One byte budget for stdout + stderr together; the run is killed past it. */
  maxOutputBytes?: number
  /** RLIMIT_FSIZE, bytes. */
  maxFileSizeBytes?: number
}

export interface FilesystemPolicy {
  mode: 'off' | 'scratch-only' | 'scratch-plus-ro'
  /** Size of the run's fresh /tmp, bytes. */
  scratchBytes?: number
}

export interface NetworkPolicy {
  mode: 'unrestricted' | 'deny' | 'allowlist'
  /** IPv4/IPv6 addresses or CIDRs. */
  allow: string[]
  denyLinkLocalAndMetadata: boolean
}

export interface PrivilegePolicy {
  mode: 'inherit' | 'drop-to-uid'
  uid?: number
  gid?: number
}

export interface SandboxPolicy {
  enabled: boolean
  onUnavailable: OnUnavailable
  resources: ResourceLimits
  filesystem: FilesystemPolicy
  network: NetworkPolicy
  privilege: PrivilegePolicy
}

/** Every field optional, deeply (what `parseSandboxPolicy` accepts). */
export interface SandboxPolicyInput {
  enabled?: boolean
  onUnavailable?: OnUnavailable
  resources?: Partial<ResourceLimits>
  filesystem?: Partial<FilesystemPolicy>
  network?: Partial<NetworkPolicy>
  privilege?: Partial<PrivilegePolicy>
}

export interface SandboxPolicyIssue {
  path: (string | number)[]
  message: string
}

/** Thrown for an invalid policy; `issues` names every bad field. */
export declare class SandboxPolicyError extends Error {
  constructor(issues: SandboxPolicyIssue[], message?: string)
  readonly name: 'SandboxPolicyError'
  readonly code: 'INVALID_POLICY'
  readonly issues: SandboxPolicyIssue[]
}

/** Validate a policy input (strict: unknown keys are errors), filling defaults. */
export declare function parseSandboxPolicy(input: unknown): SandboxPolicy
/** The original's `sandboxPolicySchema.parse`, for drop-in callers. */
export declare const sandboxPolicySchema: {
  parse(input: unknown): SandboxPolicy
  safeParse(input: unknown): { success: true; data: SandboxPolicy } | { success: false; error: SandboxPolicyError }
}
export declare function mergeSandboxPolicy(args: { base: SandboxPolicy; override?: SandboxPolicyInput }): SandboxPolicy
export declare const DEFAULT_SANDBOX_PROFILE: SandboxPolicy
export declare const FAIL_CLOSED_SANDBOX_PROFILE: SandboxPolicy
export declare function resolveDefaultSandboxProfile(): SandboxPolicy
export declare const SANDBOX_UID_ENV: 'CHECKSTACK_SANDBOX_UID'
export declare const SANDBOX_GID_ENV: 'CHECKSTACK_SANDBOX_GID'

export type SandboxPolicyProvider = () => Promise<SandboxPolicy>
export interface ResolvedActiveSandboxPolicy {
  policy: SandboxPolicy
  failedClosed: boolean
}
export declare function registerSandboxPolicyProvider(provider: SandboxPolicyProvider): void
export declare function resetSandboxPolicyProvider(): void
export declare function resolveActiveSandboxPolicy(): Promise<ResolvedActiveSandboxPolicy>
export declare const FAIL_CLOSED_DOWNGRADE_REASON: string

// ------------------------------------------------------------ capabilities

export interface MacvlanAddressing {
  ip: string
  netmask: string
  gateway: string
}

export interface SandboxCapabilities {
  platform: 'linux' | 'darwin' | 'other'
  euidIsRoot: boolean
  hasPrlimit: boolean
  /** Native setrlimit: true on every Linux host. */
  rlimitNative: boolean
  wrapper: 'bwrap' | 'nsjail' | 'firejail' | null
  userNamespaces: boolean
  netNamespaces: boolean
  /** Live probe: a user+net namespace was actually created. */
  userNsCreatable: boolean
  netEgressIface: string | null
  netEgressAddressing: MacvlanAddressing | null
  /** slirp4netns + nft found and /dev/net/tun usable by this user. */
  netEgressRootless: boolean
  /** The launcher can build the run's namespaces on this host. */
  nativeNamespaces?: boolean
  landlockAbi?: number | null
  seccomp?: boolean
  cgroup?: { version: 1 | 2; writable: boolean } | null
  slirp4netns?: string | null
  nft?: string | null
  /** What will actually enforce runs. */
  engine?: 'native' | 'bwrap' | null
  /** Path of the launcher executable. */
  launcher?: string | null
}

export declare function detectSandboxCapabilities(): SandboxCapabilities
export declare function __resetCapabilitiesCacheForTest(): void

// ---------------------------------------------------------------- env guard

export declare const SAFE_ENV_VARS: readonly string[]
export declare const FORBIDDEN_ENV_KEYS: readonly string[]
export declare const FORBIDDEN_ENV_PREFIXES: readonly string[]
export declare function pickSafeEnv(): Record<string, string>
export declare function isForbiddenEnvKey(key: string): boolean
export interface FilterEnvResult {
  env: Record<string, string>
  dropped: string[]
}
export declare function buildSubprocessEnv(args: {
  base: Record<string, string>
  overrides?: Record<string, string>
  applyDenylist: boolean
}): FilterEnvResult

// ----------------------------------------------------------------- report

export type SandboxLayer = 'resources' | 'filesystem' | 'network' | 'privilege'
export interface EnforcedLayers {
  resources: boolean
  filesystem: boolean
  network: boolean
  privilege: boolean
}
export interface SandboxDowngrade {
  layer: SandboxLayer
  reason: string
}
export interface SandboxNote {
  layer: SandboxLayer
  note: string
}
export interface EffectiveSandbox {
  requested: SandboxPolicy
  enforced: EnforcedLayers
  downgrades: SandboxDowngrade[]
  notes: SandboxNote[]
  platform: string
}

/** A requested layer cannot be enforced and `onUnavailable` is "fail". */
export declare class SandboxUnavailableError extends Error {
  constructor(downgrades: SandboxDowngrade[])
  readonly name: 'SandboxUnavailableError'
  readonly downgrades: SandboxDowngrade[]
}

// --------------------------------------------------------------- planning

export interface FilesystemRunInputs {
  scratchDir?: string
  nodeModulesDir?: string
  interpreterPath?: string
}

export interface BuildSpawnHardeningInput {
  policy: SandboxPolicy
  caps: SandboxCapabilities
  baseEnv: Record<string, string>
  envOverrides?: Record<string, string>
  filesystem?: FilesystemRunInputs
  nftRulesetPath?: string
  rootlessLauncherPath?: string
  appliesNodeMemoryCap?: boolean
}

/** One step of the launcher's setup, in order (see `script-sandbox plan`). */
export type SetupOp =
  | { op: 'loopbackUp' }
  | { op: 'nftRuleset'; nft: string; ruleset: string; table: string }
  | { op: 'awaitEgress' }
  | { op: 'hostname'; name: string }
  | { op: 'newRoot' }
  | { op: 'bind'; source: string; dest: string; readonly: boolean }
  | { op: 'tmpfs'; dest: string; sizeBytes?: number }
  | { op: 'proc'; dest: string }
  | { op: 'dev'; dest: string }
  | { op: 'finishRoot' }

/** What the native launcher builds for a run (additive to the original). */
export interface LaunchPlan {
  launcher: string
  namespaces: { user: boolean; mount: boolean; pid: boolean; ipc: boolean; uts: boolean; net: boolean }
  idMap?: { insideUid: number; outsideUid: number; insideGid: number; outsideGid: number }
  clearSupplementaryGroups: boolean
  setup: SetupOp[]
  cwd?: string
  rlimits: { resource: 'CPU' | 'NOFILE' | 'NPROC' | 'FSIZE' | 'CORE'; value: number }[]
  switchTo?: { uid: number; gid: number }
  landlock?: { readOnly: string[]; readWrite: string[]; required: boolean }
  seccomp?: { denyInetSockets: boolean }
  egress?: { slirp4netns: string; mtu: number }
}

export interface SpawnHardening {
  /** The argv that runs `cmd` (through the launcher when one is engaged). */
  wrapCmd(cmd: string[]): string[]
  env: Record<string, string>
  droppedEnvKeys: string[]
  uid?: number
  gid?: number
  maxOutputBytes?: number
  nodeMemoryFlagEnv?: Record<string, string>
  nftRuleset?: string
  rootlessLauncher?: string
  effective: EffectiveSandbox
  launch?: LaunchPlan
}

export declare function buildSpawnHardening(input: BuildSpawnHardeningInput): SpawnHardening

export type NetworkDecision =
  | { kind: 'host'; metadataBlockUnenforceable: boolean }
  | {
      kind: 'namespaced'
      mode: 'deny' | 'allowlist'
      egressPath?: 'macvlan' | 'rootless'
      nftRuleset?: string
      egressIface?: string
      egressAddressing?: MacvlanAddressing
    }
  | { kind: 'degrade'; reason: string }

export declare function buildNetworkLayer(args: { policy: NetworkPolicy; caps: SandboxCapabilities }): NetworkDecision
export declare function buildEgressNftRules(args: {
  mode: 'allowlist' | 'metadata-only'
  allow: string[]
  denyMetadata: boolean
}): string
export declare const ALWAYS_BLOCKED_CIDRS: readonly string[]

// ----------------------------------------------------------- observability

export interface SandboxLogger {
  info(message: string, ...args: unknown[]): void
  warn(message: string, ...args: unknown[]): void
}
export declare function summarizeCapabilities(caps: SandboxCapabilities): Record<string, string | number | boolean | null>
export declare function describeEffectiveDefault(args: { policy: SandboxPolicy; caps: SandboxCapabilities }): EffectiveSandbox
export declare function summarizeRunDowngrades(
  effective: EffectiveSandbox | undefined,
): { layers: string[]; reasons: Record<string, string>; platform: string } | undefined
export declare function surfaceRunDowngrades(args: { logger: SandboxLogger; effective: EffectiveSandbox | undefined }): void
export declare function logSandboxCapabilitiesAtStartup(args: {
  logger: SandboxLogger
  globalDefault?: SandboxPolicy
  caps?: SandboxCapabilities
}): void
export interface SandboxHostReadiness {
  enforceable: boolean
  platform: SandboxCapabilities['platform']
  reasons: string[]
  /** Missing pieces that only some policies need (e.g. egress for allowlists). */
  warnings?: string[]
  guidance: string
}
export declare function assessSandboxHostReadiness(args?: { caps?: SandboxCapabilities }): SandboxHostReadiness
export declare function formatSandboxReadinessBanner(args: { readiness: SandboxHostReadiness }): string
export declare function truncateCapturedOutput(args: {
  stdout: string
  stderr: string
  maxOutputBytes: number | undefined
}): { stdout: string; stderr: string; truncated: boolean }
export declare function shellQuote(value: string): string

// ---------------------------------------------------------------- running

export interface RunSandboxedOptions {
  /** argv; `command[0]` is looked up in the child's PATH. */
  command: string[]
  /** Absent: the active provider policy (fail-closed profile without one). */
  policy?: SandboxPolicy | SandboxPolicyInput
  timeoutMs: number
  cwd?: string
  /** Overrides on top of the safe vars; forbidden keys are dropped. */
  env?: Record<string, string>
  /** Without it the child reads end-of-file at once. */
  stdin?: string | Buffer | Uint8Array
  /** Used as is and never deleted; absent: a managed per-run dir. */
  scratchDir?: string
  nodeModulesDir?: string
  interpreterPath?: string
  appliesNodeMemoryCap?: boolean
  signal?: AbortSignal
  onStdout?: (chunk: Buffer) => void
  onStderr?: (chunk: Buffer) => void
}

export interface SandboxRunResult {
  /** -1 if never started, refused, timed out or aborted; 128+N when killed by signal N. */
  exitCode: number
  signal: string | null
  stdout: string
  stderr: string
  timedOut: boolean
  aborted: boolean
  outputTruncated: boolean
  durationMs: number
  resourceUsage: { userCpuMs: number; systemCpuMs: number; maxRssBytes: number } | null
  sandbox: EffectiveSandbox
  /** Present when building the sandbox failed; the command never ran. */
  setupError?: { step: string; errno?: number; message: string }
  /** The egress ruleset as listed inside the run's namespace once loaded. */
  egressRuleset?: string
}

export declare function runSandboxed(options: RunSandboxedOptions): Promise<SandboxRunResult>

// ---------------------------------------------------------------- runners

export interface ShellScriptRunResult {
  exitCode: number
  stdout: string
  stderr: string
  timedOut: boolean
  outputTruncated?: boolean
  sandbox?: EffectiveSandbox
}
export interface ShellScriptRunOptions {
  script: string
  timeoutMs: number
  cwd?: string
  env?: Record<string, string>
}
export interface ShellScriptRunner {
  run(options: ShellScriptRunOptions): Promise<ShellScriptRunResult>
}
export declare const defaultShellScriptRunner: ShellScriptRunner

export interface EsmScriptRunResult {
  result?: unknown
  error?: string
  stack?: string
  stdout: string
  stderr: string
  timedOut: boolean
  outputTruncated?: boolean
  sandbox?: EffectiveSandbox
}
export interface EsmScriptRunOptions {
  script: string
  context: unknown
  timeoutMs: number
  helperModuleName?: string
  helperFunctionName?: string
  resolutionRoot?: string
  env?: Record<string, string>
}
export interface EsmScriptRunner {
  run(options: EsmScriptRunOptions): Promise<EsmScriptRunResult>
}
export declare const defaultEsmScriptRunner: EsmScriptRunner
export declare function normaliseUserScript(userScript: string): string
export declare function rewriteHelperImports(args: { userScript: string; helperModuleName: string; helperUrl: string }): string
