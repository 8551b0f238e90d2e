import { describe, it } from 'node:test'
import fc from 'fast-check'
import assert from 'node:assert/strict'
import { ops, tensor } from '../../src/index.ts'
import * as R from '../reference/basic.ts'
import { gradcheck } from '../helpers/gradcheck.ts'
import { checkOp } from '../helpers/opcheck.ts'
import { onEachBackend } from '../helpers/backends.ts'
import { arrayOf, shape, runs } from '../helpers/arbitraries.ts'
import { elementwise, reduction } from '../helpers/close.ts'

/** Two shapes that broadcast: b drops some leading dims and sets some others to 1. */
const broadcastPair = shape(3, 4).chain((s) =>
  fc.tuple(fc.integer({ min: 0, max: 3 }), fc.array(fc.boolean(), { minLength: 3, maxLength: 3 })).map(([drop, ones]) => {
    const b = s.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d))
    return [s, b] as const
  }),
)

describe('arithmetic', () => {
  for (const [name, engine, ref] of [
    ['add', ops.add, R.add], ['sub', ops.sub, R.sub], ['mul', ops.mul, R.mul], ['div', ops.div, R.div],
  ] as const) {
    it(`${name}: reference gradient passes gradcheck`, () => {
      fc.assert(fc.property(broadcastPair.chain(([a, b]) => fc.tuple(arrayOf(a), arrayOf(b).map((y) => name === 'div' ? { ...y, data: y.data.map((v) => (Math.abs(v) < 0.5 ? 1.5 : v)) } : y))), (xs) => gradcheck(ref, xs)), runs(20))
    })
    it(`${name}: kernels match the reference, forward and backward, with broadcasting`, () => {
      onEachBackend((backend) =>
        fc.assert(fc.property(broadcastPair.chain(([a, b]) => fc.tuple(arrayOf(a), arrayOf(b).map((y) => name === 'div' ? { ...y, data: y.data.map((v) => (Math.abs(v) < 0.5 ? 1.5 : v)) } : y))), (xs) =>
          checkOp({ name, engine: ([a, b]) => engine(a!, b!), reference: ref, tolerance: elementwise, backwardTolerance: reduction(64) }, xs, backend)), runs(15)))
    })
  }
  it('scale: α·x + β', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(shape(2).chain((s) => arrayOf(s)), fc.float({ min: -3, max: 3, noNaN: true }), (x, alpha) =>
        checkOp({ name: 'scale', engine: ([t]) => ops.scale(t!, Math.fround(alpha), 0.5), reference: R.scale(Math.fround(alpha), 0.5), tolerance: elementwise }, [x], backend)), runs(10)))
  })
})

describe('matmul', () => {
  // A: (lead…, M, K); B: K×N (or N×K), batched like A, or a shared matrix
  const operands = (transposeB: boolean) =>
    fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 7 }))
      .chain(([leadRank, share, m, k, n]) => {
        const lead = [2, 3].slice(0, leadRank)
        const bMat = transposeB ? [n, k] : [k, n]
        const aShape = share === 2 && leadRank > 0 ? [m, k] : [...lead, m, k]
        const bShape = share === 1 || (share === 2 && leadRank > 0) ? (share === 1 ? bMat : [...lead, ...bMat]) : [...lead, ...bMat]
        return fc.tuple(arrayOf(aShape), arrayOf(bShape))
      })
  for (const transposeB of [false, true]) {
    const ref = R.matmul(transposeB)
    it(`${transposeB ? 'A·Bᵀ' : 'A·B'}: reference gradient passes gradcheck`, () => {
      fc.assert(fc.property(operands(transposeB), (xs) => gradcheck(ref, xs)), runs(20))
    })
    it(`${transposeB ? 'A·Bᵀ' : 'A·B'}: kernels match the reference (batched, shared weights)`, () => {
      onEachBackend((backend) =>
        fc.assert(fc.property(operands(transposeB), (xs) =>
          checkOp({ name: 'matmul', engine: ([a, b]) => ops.matmul(a!, b!, { transposeB }), reference: ref, tolerance: reduction(9), backwardTolerance: reduction(64) }, xs, backend)), runs(20)))
    })
  }
})

describe('softmax', () => {
  const withMask = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 7 }))
    .chain(([blocks, t, c]) => fc.tuple(arrayOf([blocks, t, c], 8), fc.array(fc.boolean(), { minLength: t * c, maxLength: t * c })))
    .map(([x, allowed]) => {
      const c = x.shape[2]!
      // keep at least one allowed entry per mask row, so no row is fully masked
      const m = allowed.map((a, i) => (a || i % c === 0 ? 0 : -Infinity))
      return [x, { data: Float64Array.from(m), shape: x.shape.slice(1) }] as const
    })
  it('reference gradient passes gradcheck', () => {
    fc.assert(fc.property(withMask, ([x, mask]) => gradcheck(R.softmax, [x, mask])), runs(20))
  })
  it('kernels match the reference, with a mask tiled over leading rows', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(withMask, ([x, mask]) =>
        checkOp({ name: 'softmax', engine: ([a, m]) => ops.softmax(a!, m), reference: R.softmax, differentiable: [true, false], tolerance: reduction(8) }, [x, mask], backend)), runs(20)))
  })
})

describe('sum and mean', () => {
  for (const mean of [false, true]) {
    it(`${mean ? 'mean' : 'sum'} over an axis and over everything`, () => {
      onEachBackend((backend) =>
        fc.assert(fc.property(shape(3).chain((s) => fc.tuple(arrayOf(s), fc.integer({ min: -1, max: 2 }))), ([x, axis]) => {
          const ax = axis === -1 ? null : axis
          const ref = R.sumAxis(ax, mean)
          gradcheck(ref, [x])
          checkOp({ name: mean ? 'mean' : 'sum', engine: ([t]) => (mean ? ops.mean(t!, ax) : ops.sum(t!, ax)), reference: ref, tolerance: reduction(216) }, [x], backend)
        }), runs(15)))
    })
  }
})

describe('empty inputs', () => {
  it('a sum over an empty axis is zero, and so is its gradient shape', () => {
    onEachBackend(() => {
      const x = tensor([], [3, 0, 2])
      assert.deepEqual(Array.from(ops.sum(x, 1).data), [0, 0, 0, 0, 0, 0])
      assert.deepEqual(ops.mean(x, 0).shape, [0, 2])
    })
  })
})

describe('layout', () => {
  it('transpose, slice and concat match the reference', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(shape(3).chain((s) => fc.tuple(arrayOf(s), fc.shuffledSubarray([0, 1, 2], { minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 2 }))), ([x, perm, axis]) => {
        checkOp({ name: 'transpose', engine: ([t]) => ops.transpose(t!, perm), reference: R.transpose(perm), tolerance: elementwise }, [x], backend)
        const n = x.shape[axis]!, start = Math.floor(n / 3), end = n - Math.floor(n / 4)
        checkOp({ name: 'slice', engine: ([t]) => ops.slice(t!, axis, start, end), reference: R.slice(axis, start, end), tolerance: elementwise }, [x], backend)
        checkOp({ name: 'concat', engine: (ts) => ops.concat(ts, axis), reference: R.concat(axis), tolerance: elementwise }, [x, x, x], backend)
      }), runs(10)))
  })
})
