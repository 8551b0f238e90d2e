import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ops, tensor, valueAndGrad, ShapeError, type Tensor } from '../../src/index.ts'
import { invertIds, scatterAddRows } from '../../kernels/gather.ts'
import * as R from '../reference/gather.ts'
import { gradcheck, seeded } from '../helpers/gradcheck.ts'
import { f64 } from '../reference/array.ts'
import { checkOp } from '../helpers/opcheck.ts'
import { onEachBackend } from '../helpers/backends.ts'
import { arrayOf, runs } from '../helpers/arbitraries.ts'
import { elementwise, reduction } from '../helpers/close.ts'

/** A V×C table and N ids; V is small against N so ids repeat (and some rows are never used). */
const operands = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 14 }))
  .chain(([v, c, n]) => fc.tuple(arrayOf([v, c]), fc.array(fc.integer({ min: 0, max: v - 1 }), { minLength: n, maxLength: n })))

describe('gatherRows', () => {
  it('reference gradient passes gradcheck', () => {
    fc.assert(fc.property(operands, ([table, ids]) => gradcheck(R.gatherRows(ids), [table])), runs(20))
  })
  it('kernels match the reference, forward and backward (repeated ids accumulate)', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(operands, fc.boolean(), ([table, ids], typed) =>
        checkOp({
          name: 'gatherRows', engine: ([t]) => ops.gatherRows(t!, typed ? Int32Array.from(ids) : ids), reference: R.gatherRows(ids),
          tolerance: elementwise, backwardTolerance: reduction(14),
        }, [table], backend)), runs(20)))
  })

  it('a row gathered k times gets the sum of its k cotangents; unused rows get zeros', () => {
    onEachBackend((backend) => {
      const table = tensor([1, 2, 3, 4, 5, 6], [3, 2])
      const ids = [2, 0, 2, 2]
      const weights = tensor([1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7], [4, 2])
      const { grads } = valueAndGrad((p: { t: Tensor }) => ops.sum(ops.mul(ops.gatherRows(p.t, ids), weights)))({ t: table })
      assert.deepEqual([...grads.t.data], [100, 1000, 0, 0, 1 + 1e4 + 1e6, 10 + 1e5 + 1e7], backend)
    })
  })

  it('many ids with one hot row (the loop bound rounds 230 up to 256)', () => {
    const rand = seeded(3)
    const ids = Array.from({ length: 500 }, (_, n) => (n % 2 === 0 && n < 460 ? 7 : Math.floor(rand() * 37)))
    const table = f64(Array.from({ length: 37 * 5 }, () => rand() * 2 - 1), [37, 5])
    onEachBackend((backend) =>
      checkOp({ name: 'gatherRows', engine: ([t]) => ops.gatherRows(t!, ids), reference: R.gatherRows(ids), tolerance: elementwise, backwardTolerance: reduction(256) }, [table], backend))
  })

  it('no ids: an empty (0, C) result and a zero table gradient', () => {
    onEachBackend((backend) => {
      assert.deepEqual(ops.gatherRows(tensor([1, 2, 3, 4], [2, 2]), []).shape, [0, 2], backend)
      assert.deepEqual([...scatterAddRows(new Float32Array(0), new Float32Array(0), 2, 2)], [0, 0, 0, 0], backend)
    })
  })

  it('the inverse id map lists, for each row, the positions that read it, in order', () => {
    const { offsets, positions, longest } = invertIds(Float32Array.of(2, 0, 2, 3, 2), 4)
    assert.deepEqual([...offsets], [0, 1, 1, 4, 5])
    assert.deepEqual([...positions], [1, 0, 2, 4, 3])
    assert.equal(longest, 3)
  })

  it('out-of-range ids and bad shapes raise errors that name the op and the culprit', () => {
    const table = tensor(new Float32Array(6), [3, 2])
    assert.throws(() => ops.gatherRows(table, [0, 3]), (e) => e instanceof RangeError && /gatherRows: id 3 at position 1 is out of range for input 'table' of shape \[3, 2\]/.test(e.message))
    assert.throws(() => ops.gatherRows(table, [-1]), /gatherRows: id -1 at position 0/)
    assert.throws(() => ops.gatherRows(table, [1.5]), /gatherRows: id 1.5 at position 0/)
    assert.throws(() => ops.gatherRows(table, Int32Array.of(0, 7)), /gatherRows: id 7 at position 1/)
    assert.throws(() => ops.gatherRows(tensor(new Float32Array(6), [6]), [0]), (e) => e instanceof ShapeError && /gatherRows: input 'table' has shape \[6\], expected \(V, C\)/.test(e.message))
  })
})
