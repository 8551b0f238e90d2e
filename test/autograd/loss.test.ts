import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ops, tensor, valueAndGrad, ShapeError, type Tensor } from '../../src/index.ts'
import * as R from '../reference/loss.ts'
import { f64 } from '../reference/array.ts'
import { gradcheck } from '../helpers/gradcheck.ts'
import { checkOp } from '../helpers/opcheck.ts'
import { onEachBackend } from '../helpers/backends.ts'
import { arrayOf, runs } from '../helpers/arbitraries.ts'
import { assertClose, reduction } from '../helpers/close.ts'

/** Logits (N, V) and N targets in [−2, V): negative targets mask their row out. */
const operands = (bound = 8) => fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 8 }))
  .chain(([n, v]) => fc.tuple(arrayOf([n, v], bound), fc.array(fc.integer({ min: -2, max: v - 1 }), { minLength: n, maxLength: n })))

describe('crossEntropy', () => {
  it('reference gradient passes gradcheck', () => {
    fc.assert(fc.property(operands(), ([x, targets]) => gradcheck(R.crossEntropy(targets), [x])), runs(20))
  })
  it('kernels match the reference, forward and backward, with masked rows', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(operands(), ([x, targets]) =>
        checkOp({ name: 'crossEntropy', engine: ([t]) => ops.crossEntropy(t!, targets), reference: R.crossEntropy(targets), tolerance: reduction(48), backwardTolerance: reduction(8) }, [x], backend)), runs(20)))
  })

  it('±1e4 logits give a finite loss and gradient that match the reference', () => {
    const extreme = operands().chain(([x, targets]) =>
      fc.array(fc.constantFrom(-1e4, 1e4, 0), { minLength: x.data.length, maxLength: x.data.length }).map((big) =>
        [{ ...x, data: x.data.map((v, i) => big[i]! + v) }, targets] as const))
    onEachBackend((backend) =>
      fc.assert(fc.property(extreme, ([x, targets]) => {
        const xt = tensor(x.data, x.shape)
        const { value, grads } = valueAndGrad((p: { x: Tensor }) => ops.crossEntropy(p.x, targets))({ x: xt })
        assert.ok(Number.isFinite(value) && grads.x.data.every(Number.isFinite), `${backend}: loss ${value}, gradient ${[...grads.x.data]}`)
        // lse ≈ 1e4 is rounded to float32 (ulp 1e-3) before x − lse: loss and softmax inherit that absolute error
        const big = { atol: 2.4e-7 * Math.max(...x.data.map(Math.abs)), rtol: reduction(48).rtol }
        checkOp({ name: 'crossEntropy', engine: ([t]) => ops.crossEntropy(t!, targets), reference: R.crossEntropy(targets), tolerance: big }, [x], backend)
      }), runs(15)))
  })

  it('masking a row equals dropping it; with every row masked the loss and gradient are 0', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(operands(), ([x, targets]) => {
        const v = x.shape[1]!
        const keep = targets.flatMap((t, n) => (t >= 0 ? [n] : []))
        const xt = tensor(x.data, x.shape)
        const dropped = tensor(keep.flatMap((n) => [...x.data.subarray(n * v, (n + 1) * v)]), [keep.length, v])
        const masked = ops.crossEntropy(xt, targets)
        if (keep.length > 0) assertClose(masked.data, ops.crossEntropy(dropped, keep.map((n) => targets[n]!)).data, reduction(48), `${backend}: masked vs dropped`)
        else assert.equal(masked.item(), 0, backend)
        const none = targets.map(() => -1)
        const { value, grads } = valueAndGrad((p: { x: Tensor }) => ops.crossEntropy(p.x, none))({ x: xt })
        assert.equal(value, 0, backend)
        assert.ok(grads.x.data.every((g) => g === 0), `${backend}: gradient with every row masked is ${[...grads.x.data]}`)
      }), runs(10)))
  })

  it('NaN in a kept row propagates to the loss; in a masked row it is ignored', () => {
    onEachBackend((backend) => {
      const x = tensor([0, NaN, 1, 2, 3, 4], [2, 3])
      assert.ok(Number.isNaN(ops.crossEntropy(x, [0, 1]).item()), `${backend}: NaN was swallowed`)
      const clean = ops.crossEntropy(x, [-1, 1]).item()
      assertClose([clean], R.crossEntropy([-1, 1]).f([f64([0, 0, 1, 2, 3, 4], [2, 3])]).data, reduction(3), `${backend}: masked NaN row`)
    })
  })

  it('shape and target errors name the op, the input and the culprit', () => {
    const x = tensor(new Float32Array(6), [2, 3])
    assert.throws(() => ops.crossEntropy(x, [0]), (e) => e instanceof ShapeError && /crossEntropy: 1 targets for input 'logits' of shape \[2, 3\], expected N = 2/.test(e.message))
    assert.throws(() => ops.crossEntropy(tensor(new Float32Array(6), [6]), [0]), (e) => e instanceof ShapeError && /crossEntropy: input 'logits' has shape \[6\], expected \(N, V\)/.test(e.message))
    assert.throws(() => ops.crossEntropy(x, [0, 3]), /crossEntropy: target 3 at row 1 is not a class of input 'logits' of shape \[2, 3\]/)
    assert.throws(() => ops.crossEntropy(x, [0.5, 1]), /crossEntropy: target 0.5 at row 0/)
  })
})
