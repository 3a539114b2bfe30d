'use strict'

// Fill npm/linux-x64-gnu with this build's addon and launcher, then `npm pack`
// it and the main package into dist/. Prints the two tarball paths as JSON.
// (The release workflow does the same per target on native runners.)

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const target = 'linux-x64-gnu'
const pkgDir = path.join(root, 'npm', target)
const dist = path.join(root, 'dist')

const addon = `script-sandbox.${target}.node`
for (const f of [addon, 'script-sandbox-launcher']) {
  if (!fs.existsSync(path.join(root, f))) throw new Error(`${f} is missing: run \`npm run build\` first`)
  fs.copyFileSync(path.join(root, f), path.join(pkgDir, f))
}
fs.chmodSync(path.join(pkgDir, 'script-sandbox-launcher'), 0o755)
fs.mkdirSync(dist, { recursive: true })

function pack(dir) {
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dist], { cwd: dir, encoding: 'utf8' })
  const [info] = JSON.parse(out)
  return { tarball: path.join(dist, info.filename), size: info.size, unpackedSize: info.unpackedSize }
}

const result = { main: pack(root), platform: pack(pkgDir) }
console.log(JSON.stringify(result))
