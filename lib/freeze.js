'use strict'

/** Freeze a plain value and everything in it (the exported constants). */
function deepFreeze(value) {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}

module.exports = { deepFreeze }
