import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ops, tensor, ShapeError } from '../../src/index.ts'
import * as R from '../reference/norms.ts'
import { gradcheck } from '../helpers/gradcheck.ts'
import { checkOp } from '../helpers/opcheck.ts'
import { onEachBackend } from '../helpers/backends.ts'
import { arrayOf, shape, runs } from '../helpers/arbitraries.ts'
import { assertClose, reduction, type Tolerance } from '../helpers/close.ts'
import type { F64 } from '../reference/array.ts'

/** x: (lead…, C) with up to two leading dims, and the C-sized weight and bias. */
const operands = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 8 }))
  .chain(([rank, c]) => shape(rank, 4).chain((lead) => fc.tuple(arrayOf([...lead, c]), arrayOf([c], 2), arrayOf([c], 2))))

/**
 * A row with (nearly) constant values has var ≪ eps, so s = 1/√(var + eps) reaches 1/√eps ≈ 316 and the
 * float32 rounding of x − μ and of g − mean(g) is multiplied by s·|w|. Scale the absolute tolerance by that
 * gain (≈ 1 on ordinary rows) instead of avoiding such rows.
 */
function conditioned(base: Tolerance, x: F64, w: F64, eps: number, centred: boolean): Tolerance {
  const c = x.shape[x.shape.length - 1]!
  let gain = 1
  for (let r = 0; r < x.data.length / c; r++) {
    const row = x.data.subarray(r * c, (r + 1) * c)
    const mu = centred ? row.reduce((p, v) => p + v, 0) / c : 0
    const s = 1 / Math.sqrt(row.reduce((p, v) => p + (v - mu) ** 2, 0) / c + eps)
    gain = Math.max(gain, s * w.data.reduce((p, v) => Math.max(p, Math.abs(v)), 0))
  }
  return { atol: base.atol * gain, rtol: base.rtol }
}

describe('layerNorm and rmsNorm', () => {
  for (const eps of [1e-5, 0.1]) {
    it(`reference gradients pass gradcheck (eps ${eps})`, () => {
      fc.assert(fc.property(operands, ([x, w, b]) => {
        gradcheck(R.layerNorm(eps), [x, w, b])
        gradcheck(R.rmsNorm(eps), [x, w])
      }), runs(20))
    })
  }
  it('kernels match the reference, forward and backward (x, weight, bias)', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(operands, fc.constantFrom(1e-5, 1e-2), ([x, w, b], eps) => {
        // dw and db sum over every row: up to 16 rows of 8 terms
        const tol = (centred: boolean) => ({ tolerance: conditioned(reduction(8), x, w, eps, centred), backwardTolerance: conditioned(reduction(128), x, w, eps, centred) })
        checkOp({ name: 'layerNorm', engine: ([t, tw, tb]) => ops.layerNorm(t!, tw!, tb!, eps), reference: R.layerNorm(eps), ...tol(true) }, [x, w, b], backend)
        checkOp({ name: 'rmsNorm', engine: ([t, tw]) => ops.rmsNorm(t!, tw!, eps), reference: R.rmsNorm(eps), ...tol(false) }, [x, w], backend)
      }), runs(15)))
  })

  it('rmsNorm(c·x) = rmsNorm(x) and layerNorm(c·x + d) = layerNorm(x) for c > 0', () => {
    const scaled = fc.tuple(operands, fc.float({ min: Math.fround(0.25), max: Math.fround(8), noNaN: true }), fc.float({ min: Math.fround(-3), max: Math.fround(3), noNaN: true }))
    onEachBackend((backend) =>
      fc.assert(fc.property(scaled, ([[x, w, b], c, d]) => {
        // one entry of magnitude ≥ 1 per row keeps mean(x²) ≫ eps, so eps does not break the invariance
        const cols = x.shape[x.shape.length - 1]!
        const xt = tensor(x.data.map((v, i) => (i % cols === 0 ? 1 + Math.abs(v) : v)), x.shape)
        const wt = tensor(w.data, w.shape), bt = tensor(b.data, b.shape)
        const eps = 1e-12
        assertClose(ops.rmsNorm(ops.scale(xt, c), wt, eps).data, ops.rmsNorm(xt, wt, eps).data, reduction(cols), `rmsNorm on ${backend}, c = ${c}`)
        assertClose(ops.layerNorm(ops.scale(xt, c, d), wt, bt, eps).data, ops.layerNorm(xt, wt, bt, eps).data, reduction(cols), `layerNorm on ${backend}, c = ${c}, d = ${d}`)
      }), runs(15)))
  })

  it('NaN in a row propagates to that row only', () => {
    onEachBackend((backend) => {
      const x = tensor([1, NaN, 3, 1, 2, 3], [2, 3]), w = tensor([1, 1, 1], [3]), b = tensor([0, 0, 0], [3])
      for (const y of [ops.rmsNorm(x, w), ops.layerNorm(x, w, b)]) {
        assert.ok([...y.data.slice(0, 3)].every(Number.isNaN), `${backend}: row 0 is ${[...y.data.slice(0, 3)]}`)
        assert.ok([...y.data.slice(3)].every(Number.isFinite), `${backend}: row 1 is ${[...y.data.slice(3)]}`)
      }
    })
  })

  it('shape errors name the op, the input and both shapes', () => {
    const x = tensor(new Float32Array(6), [2, 3])
    assert.throws(() => ops.rmsNorm(x, tensor([1, 1], [2])), (e) => e instanceof ShapeError && /rmsNorm: input 'weight' has shape \[2\], expected \[3\].*\[2, 3\]/.test(e.message))
    assert.throws(() => ops.layerNorm(x, tensor([1, 1, 1], [3]), tensor([0], [1])), (e) => e instanceof ShapeError && /layerNorm: input 'bias' has shape \[1\], expected \[3\]/.test(e.message))
  })
})
