'use strict'

// `npm start` / `npm run bench` on a fresh clone: install and build once.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const have = (f) => fs.existsSync(path.join(root, f))

if (!have('node_modules/.bin/napi')) {
  execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' })
}
const addon = fs.readdirSync(root).some((f) => f.startsWith('script-sandbox.') && f.endsWith('.node'))
if (!addon || !have('script-sandbox-launcher') || !have('binding.js')) {
  execFileSync(process.execPath, [path.join(__dirname, 'build.js')], { cwd: root, stdio: 'inherit' })
}
