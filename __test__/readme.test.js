'use strict'

// Every ```js example in README.md runs, against this checkout.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const root = path.resolve(__dirname, '..')
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')
const examples = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1])

test('README has runnable examples', () => {
  assert.ok(examples.length > 0)
})

examples.forEach((source, i) => {
  test(`README example ${i + 1} runs`, () => {
    const code = source.replaceAll("require('@checkstack/script-sandbox')", `require(${JSON.stringify(path.join(root, 'index.js'))})`)
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'readme-example-')), 'example.js')
    fs.writeFileSync(file, code)
    try {
      const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60000 })
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`)
      assert.equal(r.stderr.includes('Error'), false, r.stderr)
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true })
    }
  })
})
