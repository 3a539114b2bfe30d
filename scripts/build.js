'use strict'

// Build the addon (napi) and the launcher (cargo), and put the launcher next
// to the .node file, where the addon looks for it.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const release = !process.argv.includes('--debug')
const profile = release ? 'release' : 'debug'

function run(cmd, args) {
  console.log(`$ ${cmd} ${args.join(' ')}`)
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit' })
}

const napi = path.join(root, 'node_modules', '.bin', 'napi')
run(napi, ['build', '--platform', ...(release ? ['--release'] : []), '--js', 'binding.js', '--dts', 'binding.d.ts'])
run('cargo', ['build', ...(release ? ['--release'] : []), '-p', 'script-sandbox-launcher'])

const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target')
const built = path.join(targetDir, profile, 'script-sandbox-launcher')
const dest = path.join(root, 'script-sandbox-launcher')
fs.copyFileSync(built, `${dest}.tmp`)
fs.chmodSync(`${dest}.tmp`, 0o755)
fs.renameSync(`${dest}.tmp`, dest)
console.log(`launcher: ${dest}`)
