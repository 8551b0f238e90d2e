/**
 * Rules of the code base that the type checker cannot see:
 * - dependencies point one way, kernels ← autograd ← src ← examples (DESIGN §1);
 * - inside every gpu.js kernel, every loop bound is `this.constants.*` or a literal, because gpu.js silently
 *   cuts a loop bounded by a kernel argument at 1000 iterations.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname

function files(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name)
    return statSync(join(root, path)).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

const imports = (path: string): string[] =>
  [...readFileSync(join(root, path), 'utf8').matchAll(/^(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!)

/** The top folder a relative import from `file` lands in. */
const layerOf = (file: string, spec: string): string => relative(root, join(root, file, '..', spec)).split('/')[0]!

/** Bodies of functions whose first parameter is `this: KernelThis…`: the code gpu.js compiles. */
export function kernelBodies(source: string): { name: string; body: string }[] {
  const out: { name: string; body: string }[] = []
  for (const m of source.matchAll(/function\s+(\w+)\s*\(this:\s*KernelThis[^{]*\{/g)) {
    let depth = 1, i = m.index! + m[0].length
    while (depth > 0 && i < source.length) depth += source[i] === '{' ? 1 : source[i] === '}' ? -1 : 0, i++
    out.push({ name: m[1]!, body: source.slice(m.index! + m[0].length, i - 1) })
  }
  return out
}

export function badLoopBounds(body: string): string[] {
  return [...body.matchAll(/for\s*\(\s*let\s+\w+\s*=[^;]*;\s*\w+\s*<=?\s*([^;]+);/g)]
    .map((m) => m[1]!.trim())
    .filter((bound) => !/^(this\.constants\.\w+|\d+)$/.test(bound))
}

describe('architecture', () => {
  it('kernels/ imports only gpu.js, node built-ins and kernels/', () => {
    for (const f of files('kernels'))
      for (const spec of imports(f))
        assert.ok(spec === 'gpu.js' || spec.startsWith('node:') || (spec.startsWith('.') && layerOf(f, spec) === 'kernels'), `${f} imports ${spec}`)
  })
  it('autograd/ imports only kernels/, autograd/ and ndarray; src/ never imports gpu.js', () => {
    for (const f of files('autograd'))
      for (const spec of imports(f))
        assert.ok(spec === 'ndarray' || (spec.startsWith('.') && ['kernels', 'autograd'].includes(layerOf(f, spec))), `${f} imports ${spec}`)
    for (const f of files('src'))
      for (const spec of imports(f)) {
        assert.notEqual(spec, 'gpu.js', `${f} imports gpu.js`)
        if (spec.startsWith('.')) assert.ok(!['examples', 'test', 'bench'].includes(layerOf(f, spec)), `${f} imports ${spec}`)
      }
  })
  it('every loop bound inside a kernel is this.constants.* or a literal', () => {
    let kernels = 0
    for (const f of files('kernels')) {
      for (const { name, body } of kernelBodies(readFileSync(join(root, f), 'utf8'))) {
        kernels++
        assert.deepEqual(badLoopBounds(body), [], `${f}: kernel ${name} has a loop bound that is not a constant`)
      }
    }
    assert.ok(kernels >= 8, `found only ${kernels} kernels: the scanner is not seeing them`)
  })
  it('the loop-bound scanner catches a bound that is a kernel argument', () => {
    const source = 'function bad(this: KernelThis, x: Float32Array, n: number): number { let s = 0; for (let i = 0; i < n; i++) s += x[i]; return s }'
    assert.deepEqual(badLoopBounds(kernelBodies(source)[0]!.body), ['n'])
  })
})
