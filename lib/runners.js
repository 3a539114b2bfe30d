'use strict'

// The two script runners of the original package, on top of runSandboxed:
// same options, same result shapes. Policy always comes from the provider.

const crypto = require('node:crypto')
const fs = require('node:fs')
const fsp = require('node:fs/promises')
const os = require('node:os')
const path = require('node:path')
const { pathToFileURL } = require('node:url')

const native = require('./native.js')
const api = require('../index.js')
const provider = require('./provider.js')
const { SandboxUnavailableError } = require('./errors.js')

const TIMEOUT_MESSAGE = 'Script execution timed out'

function requireRunOptions(options, name) {
  if (options === null || typeof options !== 'object') throw new TypeError(`${name}: expected an options object`)
  if (typeof options.script !== 'string') throw new TypeError(`${name}: \`script\` must be a string`)
  if (typeof options.timeoutMs !== 'number' || !(options.timeoutMs > 0)) {
    throw new TypeError(`${name}: \`timeoutMs\` must be a positive number`)
  }
}

/** The report for a refused run: nothing enforced, the downgrades listed. */
function refusedReport(policy, downgrades) {
  return {
    requested: policy,
    enforced: { resources: false, filesystem: false, network: false, privilege: false },
    downgrades,
    notes: [],
    platform: api.detectSandboxCapabilities().platform,
  }
}

const defaultShellScriptRunner = {
  /** Run a shell script through `sh -c` in the sandbox. */
  async run(options) {
    requireRunOptions(options, 'defaultShellScriptRunner.run')
    const { script, timeoutMs, cwd, env } = options
    const { policy, failedClosed } = await provider.resolveActiveSandboxPolicy()
    const result = await api.runSandboxed({
      command: ['sh', '-c', script],
      policy,
      timeoutMs,
      ...(cwd === undefined ? {} : { cwd }),
      ...(env === undefined ? {} : { env }),
    })
    if (failedClosed) provider.markFailedClosed(result.sandbox)
    if (result.timedOut) {
      return { exitCode: -1, stdout: '', stderr: TIMEOUT_MESSAGE, timedOut: true, sandbox: result.sandbox }
    }
    return {
      exitCode: result.exitCode,
      stdout: result.stdout.trim(),
      stderr: result.stderr.trim(),
      timedOut: false,
      outputTruncated: result.outputTruncated,
      sandbox: result.sandbox,
    }
  },
}

const ESM_AT_TOP_LEVEL = /^\s*(import\s|export\s)/m

/** Modules pass through; legacy `return X;` bodies become a default export. */
function normaliseUserScript(userScript) {
  if (ESM_AT_TOP_LEVEL.test(userScript)) return userScript
  return `export default await (async () => {\n${userScript}\n})();\n`
}

/** Point `from "<virtual module>"` / `import "<virtual module>"` at a real file. */
function rewriteHelperImports({ userScript, helperModuleName, helperUrl }) {
  const name = helperModuleName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const target = JSON.stringify(helperUrl)
  return userScript
    .replace(new RegExp(`(from\\s+)(["'])${name}\\2`, 'g'), (_m, kw) => `${kw}${target}`)
    .replace(new RegExp(`(import\\s+)(["'])${name}\\2`, 'g'), (_m, kw) => `${kw}${target}`)
}

function isIdentifier(name) {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name)
}

function runnerSource({ userUrl, contextJson, helperFunctionName, markerStart, markerEnd }) {
  const helperGlobal = helperFunctionName ? `globalThis.${helperFunctionName} = (value) => value;\n` : ''
  return `globalThis.context = ${contextJson};
${helperGlobal}const start = ${JSON.stringify(markerStart)};
const end = ${JSON.stringify(markerEnd)};
const emit = (payload) => process.stderr.write(start + JSON.stringify(payload) + end + "\\n");
try {
  const mod = await import(${JSON.stringify(userUrl)});
  let result;
  if (mod && "default" in mod && mod.default !== undefined) {
    result = typeof mod.default === "function" ? await mod.default(globalThis.context) : mod.default;
  }
  emit({ ok: true, result: result ?? null });
} catch (err) {
  const isObj = err !== null && typeof err === "object";
  emit({ ok: false, error: isObj && "message" in err ? String(err.message) : String(err), stack: isObj && "stack" in err ? String(err.stack) : undefined });
  process.exitCode = 1;
}
`
}

/** Pull the result payload between the markers out of stderr. */
function extractPayload(stderr, markerStart, markerEnd) {
  const startIdx = stderr.lastIndexOf(markerStart)
  const endIdx = stderr.lastIndexOf(markerEnd)
  if (startIdx === -1 || endIdx === -1 || endIdx < startIdx) return { payload: undefined, stderr }
  let payload
  try {
    const parsed = JSON.parse(stderr.slice(startIdx + markerStart.length, endIdx))
    if (parsed && (parsed.ok === true || (parsed.ok === false && typeof parsed.error === 'string'))) payload = parsed
  } catch {
    payload = undefined
  }
  const rest = (stderr.slice(0, startIdx) + stderr.slice(endIdx + markerEnd.length)).replace(/\n$/, '').trim()
  return { payload, stderr: rest }
}

const defaultEsmScriptRunner = {
  /** Run a JS/TS module in a fresh interpreter (`process.execPath`) in the sandbox. */
  async run(options) {
    requireRunOptions(options, 'defaultEsmScriptRunner.run')
    const { script, context, timeoutMs, helperModuleName, helperFunctionName, resolutionRoot, env } = options
    if (resolutionRoot !== undefined && (typeof resolutionRoot !== 'string' || !path.isAbsolute(resolutionRoot))) {
      throw new TypeError('defaultEsmScriptRunner.run: `resolutionRoot` must be an absolute path')
    }
    const hasHelper =
      typeof helperModuleName === 'string' && helperModuleName.length > 0 &&
      typeof helperFunctionName === 'string' && helperFunctionName.length > 0
    if (hasHelper && !isIdentifier(helperFunctionName)) {
      throw new TypeError('defaultEsmScriptRunner.run: `helperFunctionName` must be a JS identifier')
    }
    const contextJson = JSON.stringify(context ?? null)

    const { policy, failedClosed } = await provider.resolveActiveSandboxPolicy()
    const interpreterPath = fs.realpathSync(process.execPath)
    const nodeModulesDir = resolutionRoot === undefined ? undefined : path.join(resolutionRoot, 'node_modules')

    // Decide before touching the disk: a refused run creates nothing.
    let plan
    try {
      plan = api.buildSpawnHardening({
        policy,
        baseEnv: api.pickSafeEnv(),
        ...(env === undefined ? {} : { envOverrides: env }),
        filesystem: { scratchDir: path.join(resolutionRoot ?? os.tmpdir(), 'checkstack-script-plan'), nodeModulesDir, interpreterPath },
        appliesNodeMemoryCap: true,
      })
    } catch (error) {
      if (!(error instanceof SandboxUnavailableError)) throw error
      const sandbox = refusedReport(policy, error.downgrades)
      if (failedClosed) provider.markFailedClosed(sandbox)
      return { stdout: '', stderr: '', timedOut: false, error: error.message, sandbox }
    }

    const tmpDir = await fsp.mkdtemp(path.join(resolutionRoot ?? os.tmpdir(), 'checkstack-script-'))
    try {
      const sessionId = crypto.randomUUID()
      const markerStart = `##__CS_SCRIPT_RESULT_${sessionId}_START__##`
      const markerEnd = `##__CS_SCRIPT_RESULT_${sessionId}_END__##`
      const helperPath = path.join(tmpDir, '_helpers.mjs')
      const userPath = path.join(tmpDir, 'user.mjs')
      const runnerPath = path.join(tmpDir, 'runner.mjs')
      if (hasHelper) {
        await fsp.writeFile(helperPath, `export function ${helperFunctionName}(value) { return value; }\n`)
      }
      let source = normaliseUserScript(script)
      if (hasHelper) {
        source = rewriteHelperImports({ userScript: source, helperModuleName, helperUrl: pathToFileURL(helperPath).href })
      }
      await fsp.writeFile(userPath, source)
      // Bun: never auto-install packages from a registry inside a run.
      await fsp.writeFile(path.join(tmpDir, 'bunfig.toml'), '[install]\nauto = "disable"\n')
      await fsp.writeFile(
        runnerPath,
        runnerSource({
          userUrl: pathToFileURL(userPath).href,
          contextJson,
          helperFunctionName: hasHelper ? helperFunctionName : undefined,
          markerStart,
          markerEnd,
        }),
      )
      if (plan.uid !== undefined && process.geteuid?.() === 0) {
        // The run switches to a dedicated uid: it must be able to read its files.
        for (const entry of await fsp.readdir(tmpDir)) {
          await fsp.chown(path.join(tmpDir, entry), plan.uid, plan.gid ?? plan.uid)
        }
        await fsp.chown(tmpDir, plan.uid, plan.gid ?? plan.uid)
      }

      const result = await api.runSandboxed({
        command: [interpreterPath, runnerPath],
        policy,
        timeoutMs,
        ...(env === undefined ? {} : { env }),
        scratchDir: tmpDir,
        ...(nodeModulesDir === undefined ? {} : { nodeModulesDir }),
        interpreterPath,
        appliesNodeMemoryCap: true,
      })
      if (failedClosed) provider.markFailedClosed(result.sandbox)
      if (result.timedOut) {
        return { stdout: '', stderr: '', timedOut: true, error: TIMEOUT_MESSAGE, sandbox: result.sandbox }
      }
      const { payload, stderr } = extractPayload(result.stderr, markerStart, markerEnd)
      const capped = api.truncateCapturedOutput({
        stdout: result.stdout.trim(),
        stderr,
        ...(policy.resources.maxOutputBytes === undefined ? {} : { maxOutputBytes: policy.resources.maxOutputBytes }),
      })
      const common = {
        stdout: capped.stdout,
        stderr: capped.stderr,
        timedOut: false,
        outputTruncated: result.outputTruncated || capped.truncated,
        sandbox: result.sandbox,
      }
      if (payload === undefined) {
        const error = result.setupError
          ? result.stderr
          : capped.stderr.length > 0
            ? capped.stderr
            : 'Script exited without producing a result'
        return { ...common, error }
      }
      if (payload.ok) return { result: payload.result, ...common }
      return { error: payload.error, ...(payload.stack === undefined ? {} : { stack: payload.stack }), ...common }
    } finally {
      native.removeTree(tmpDir)
    }
  },
}

module.exports = {
  defaultShellScriptRunner,
  defaultEsmScriptRunner,
  normaliseUserScript,
  rewriteHelperImports,
}
