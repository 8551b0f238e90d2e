/** Global-norm clipping: exact scaling above the limit, identity below it, the norm reported either way. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { tensor, leaves, entries, type Tensor } from '../../src/index.ts'
import { clipByGlobalNorm } from '../../src/optim/clip.ts'
import { values, runs } from '../helpers/arbitraries.ts'
import { assertClose, elementwise } from '../helpers/close.ts'

type G = { readonly a: Tensor; readonly inner: { readonly b: Tensor; readonly list: readonly Tensor[] } }

/** A gradient tree with leaves of shapes [2, 3], [4] and [] filled from one list of values. */
const grads = values(11, 8).map((v): G => ({
  a: tensor(v.slice(0, 6), [2, 3]),
  inner: { b: tensor(v.slice(6, 10), [4]), list: [tensor(v.slice(10), [])] },
}))

/** The global norm in Float64, over the float32 values. */
const norm64 = (tree: G, keep: (path: string) => boolean = () => true) =>
  Math.sqrt(entries(tree).filter(([p]) => keep(p)).reduce((s, [, t]) => s + [...t.data].reduce((q, x) => q + x * x, 0), 0))

describe('clipByGlobalNorm', () => {
  it('above the limit, every gradient is scaled by maxNorm / norm and the new norm is maxNorm', () => {
    fc.assert(fc.property(grads, fc.double({ min: 0.01, max: 0.99, noNaN: true }), (g, fraction) => {
      const n = norm64(g)
      fc.pre(n > 1e-3)
      const maxNorm = n * fraction
      const out = clipByGlobalNorm(g, maxNorm)
      assert.ok(Math.abs(out.norm - n) <= 1e-12 * n, `norm ${out.norm}, expected ${n}`)
      leaves(out.grads).forEach((t, i) => assertClose(t.data, Array.from(leaves(g)[i]!.data, (x) => (x * maxNorm) / n), elementwise, `leaf ${i}`))
      assert.ok(Math.abs(norm64(out.grads) - maxNorm) <= 1e-6 * maxNorm, `clipped norm ${norm64(out.grads)}, expected ${maxNorm}`)
      assert.deepEqual(entries(out.grads).map(([p, t]) => [p, t.shape]), entries(g).map(([p, t]) => [p, t.shape]))
    }), runs(50))
  })

  it('at or below the limit, the same tree comes back and the norm is still reported', () => {
    fc.assert(fc.property(grads, fc.double({ min: 1, max: 10, noNaN: true }), (g, factor) => {
      const n = norm64(g)
      const out = clipByGlobalNorm(g, Math.max(n * factor, 1e-9))
      assert.equal(out.grads, g)
      assert.ok(Math.abs(out.norm - n) <= 1e-12 * Math.max(n, 1), `norm ${out.norm}, expected ${n}`)
    }), runs(50))
  })

  it('with a trainable rule, frozen gradients are neither counted nor scaled', () => {
    const g: G = { a: tensor([3, 0, 0, 0, 0, 0], [2, 3]), inner: { b: tensor([0, 4, 0, 0], [4]), list: [tensor([100], [])] } }
    const trainable = (p: string) => !p.startsWith('inner.list')
    const out = clipByGlobalNorm(g, 1, trainable)
    assert.equal(out.norm, norm64(g, trainable))
    assert.equal(out.norm, 5)
    assert.equal(out.grads.inner.list[0], g.inner.list[0])
    assertClose(out.grads.a.data, [3 / 5, 0, 0, 0, 0, 0], elementwise, 'a')
    assertClose(out.grads.inner.b.data, [0, 4 / 5, 0, 0], elementwise, 'b')
  })

  it('a non-finite norm leaves the gradients alone; a non-positive limit is refused', () => {
    const g = { w: tensor([1, NaN], [2]) }
    const out = clipByGlobalNorm(g, 1)
    assert.ok(Number.isNaN(out.norm))
    assert.equal(out.grads, g)
    assert.throws(() => clipByGlobalNorm(g, 0), /maxNorm/)
  })
})
