import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ops, tensor, valueAndGrad, ShapeError, type Tensor } from '../../src/index.ts'
import * as R from '../reference/similarity.ts'
import { type F64, f64 } from '../reference/array.ts'
import { gradcheck, seeded } from '../helpers/gradcheck.ts'
import { checkOp } from '../helpers/opcheck.ts'
import { onEachBackend } from '../helpers/backends.ts'
import { arrayOf, shape, runs } from '../helpers/arbitraries.ts'
import { reduction } from '../helpers/close.ts'

/** Rows of norm < 0.25 get their first entry moved by 1: the gradient of a norm is singular at 0. */
function awayFromZero(x: F64): F64 {
  const c = x.shape[x.shape.length - 1]!
  const data = Float64Array.from(x.data)
  for (let r = 0; r < data.length / c; r++)
    if (Math.hypot(...data.subarray(r * c, (r + 1) * c)) < 0.25) data[r * c] = data[r * c]! >= 0 ? data[r * c]! + 1 : data[r * c]! - 1
  return { data, shape: x.shape }
}

/** Two arrays of one shape (lead…, C) with up to two leading dims. */
const pair = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 8 }))
  .chain(([rank, c]) => shape(rank, 4).chain((lead) => fc.tuple(arrayOf([...lead, c]), arrayOf([...lead, c]))))
  .map(([a, b]) => [awayFromZero(a), awayFromZero(b)] as const)

describe('l2Norm and cosineSimilarity', () => {
  it('reference gradients pass gradcheck', () => {
    fc.assert(fc.property(pair, ([a, b]) => {
      gradcheck(R.l2Norm, [a])
      gradcheck(R.cosineSimilarity, [a, b])
    }), runs(20))
  })
  it('kernels match the reference, forward and backward', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(pair, ([a, b]) => {
        checkOp({ name: 'l2Norm', engine: ([x]) => ops.l2Norm(x!), reference: R.l2Norm, tolerance: reduction(8) }, [a], backend)
        checkOp({ name: 'cosineSimilarity', engine: ([x, y]) => ops.cosineSimilarity(x!, y!), reference: R.cosineSimilarity, tolerance: reduction(8) }, [a, b], backend)
      }), runs(15)))
  })

  it('a zero vector has cosine 0 (not NaN) and norm 0, with finite gradients that match the reference', () => {
    const rand = seeded(5)
    const b = f64(Array.from({ length: 6 }, () => rand() * 2 - 1), [1, 6])
    const zero = f64(new Array(6).fill(0), [1, 6])
    onEachBackend((backend) => {
      for (const [x, y] of [[zero, b], [b, zero], [zero, zero]]) {
        const [xt, yt] = [tensor(x.data, x.shape), tensor(y.data, y.shape)]
        assert.equal(ops.cosineSimilarity(xt, yt).item(), 0, `${backend}: cos with a zero vector`)
        const { grads } = valueAndGrad((p: { x: Tensor; y: Tensor }) => ops.sum(ops.cosineSimilarity(p.x, p.y)))({ x: xt, y: yt })
        assert.ok([...grads.x.data, ...grads.y.data].every(Number.isFinite), `${backend}: gradients ${[...grads.x.data]} / ${[...grads.y.data]}`)
        // d cos/da at a = 0 is b/(1e-8·‖b‖): large, but defined (PyTorch gives the same)
        checkOp({ name: 'cosineSimilarity', engine: ([p, q]) => ops.cosineSimilarity(p!, q!), reference: R.cosineSimilarity, tolerance: reduction(6) }, [x, y], backend)
      }
      const z = tensor(zero.data, zero.shape)
      assert.equal(ops.l2Norm(z).item(), 0)
      const { grads } = valueAndGrad((p: { z: Tensor }) => ops.sum(ops.l2Norm(p.z)))({ z })
      assert.ok(grads.z.data.every((g) => g === 0), `${backend}: gradient of ‖0‖ is ${[...grads.z.data]}`)
    })
  })

  it('cos(c·a, b) = cos(a, b) for c > 0, cos(a, a) = 1, and NaN propagates', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(pair, fc.float({ min: Math.fround(0.01), max: Math.fround(100), noNaN: true }), ([a, b], c) => {
        const at = tensor(a.data, a.shape), bt = tensor(b.data, b.shape)
        const cos = ops.cosineSimilarity(at, bt)
        const scaled = ops.cosineSimilarity(ops.scale(at, c), bt)
        cos.data.forEach((v, i) => assert.ok(Math.abs(v - scaled.data[i]!) <= 1e-5 && Math.abs(v) <= 1 + 1e-6, `${backend}: cos ${v}, scaled ${scaled.data[i]}`))
        ops.cosineSimilarity(at, at).data.forEach((v) => assert.ok(Math.abs(v - 1) <= 1e-6, `${backend}: cos(a, a) = ${v}`))
      }), runs(10)))
    onEachBackend((backend) => {
      const a = tensor([NaN, 1, 2, 3], [2, 2]), b = tensor([1, 1, 1, 1], [2, 2])
      const cos = ops.cosineSimilarity(a, b), norm = ops.l2Norm(a)
      assert.ok(Number.isNaN(cos.data[0]) && Number.isFinite(cos.data[1]), `${backend}: cos ${[...cos.data]}`)
      assert.ok(Number.isNaN(norm.data[0]) && Number.isFinite(norm.data[1]), `${backend}: norm ${[...norm.data]}`)
    })
  })

  it('shape errors name the op, the input and both shapes', () => {
    assert.throws(() => ops.cosineSimilarity(tensor(new Float32Array(6), [2, 3]), tensor(new Float32Array(6), [3, 2])),
      (e) => e instanceof ShapeError && /cosineSimilarity: input 'b' has shape \[3, 2\], expected the shape of input 'a', \[2, 3\]/.test(e.message))
    assert.deepEqual(ops.l2Norm(tensor([3, 4], [2])).shape, [])
  })
})
