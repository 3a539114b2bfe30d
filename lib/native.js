'use strict'

// Load the platform's native addon (via the napi-rs loader), or fail with a
// message that names this platform and what is supported.

const SUPPORTED = ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'linux-arm64-musl']

function describePlatform() {
  if (process.platform !== 'linux') return `${process.platform}-${process.arch}`
  const glibc = process.report?.getReport?.().header?.glibcVersionRuntime
  return `linux-${process.arch}-${glibc ? 'gnu' : 'musl'}`
}

let binding
try {
  binding = require('../binding.js')
} catch (cause) {
  const platform = describePlatform()
  const hint = SUPPORTED.includes(platform)
    ? `reinstall so that @checkstack/script-sandbox-${platform} (an optional dependency) is installed`
    : `prebuilt binaries exist for ${SUPPORTED.join(', ')}; the sandbox needs Linux`
  const error = new Error(`@checkstack/script-sandbox: no native binary loads on ${platform}: ${hint}`)
  error.code = 'ERR_SCRIPT_SANDBOX_NO_BINARY'
  error.cause = cause
  throw error
}

module.exports = binding
