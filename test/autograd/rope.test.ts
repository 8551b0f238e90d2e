import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ops, tensor, ShapeError } from '../../src/index.ts'
import { ropeTables } from '../../kernels/rope.ts'
import * as R from '../reference/rope.ts'
import { dot64 } from '../reference/array.ts'
import { gradcheck } from '../helpers/gradcheck.ts'
import { checkOp } from '../helpers/opcheck.ts'
import { onEachBackend } from '../helpers/backends.ts'
import { arrayOf, values, runs } from '../helpers/arbitraries.ts'
import { elementwise } from '../helpers/close.ts'

const position = fc.integer({ min: -50, max: 5000 })
const theta = fc.constantFrom(10000, 500, 1e6)

/** x: (B, H, T, D) with D even, T arbitrary integer positions (not 0..T−1), and θ. */
const operands = fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }))
  .chain(([b, h, t, half]) => fc.tuple(arrayOf([b, h, t, 2 * half]), fc.array(position, { minLength: t, maxLength: t }), theta))

const norm = (v: ArrayLike<number>): number => Math.sqrt(dot64(Float64Array.from(v), Float64Array.from(v)))

describe('rope', () => {
  it('reference gradient passes gradcheck', () => {
    fc.assert(fc.property(operands, ([x, positions, th]) => gradcheck(R.rope(positions, th), [x])), runs(20))
  })
  it('kernels match the reference, forward and backward', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(operands, ([x, positions, th]) =>
        checkOp({ name: 'rope', engine: ([t]) => ops.rope(t!, positions, th), reference: R.rope(positions, th), tolerance: elementwise }, [x], backend)), runs(15)))
  })

  it('preserves the norm of every D-vector; position 0 is the identity', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(operands, ([x, positions, th]) => {
        const xt = tensor(x.data, x.shape)
        const y = ops.rope(xt, positions, th)
        const d = x.shape[3]!
        for (let r = 0; r < x.data.length / d; r++) {
          const nx = norm(xt.data.subarray(r * d, (r + 1) * d)), ny = norm(y.data.subarray(r * d, (r + 1) * d))
          assert.ok(Math.abs(nx - ny) <= 1e-6 * (1 + nx), `${backend}: row ${r} has norm ${ny}, input norm ${nx}`)
        }
        const same = ops.rope(xt, positions.map(() => 0), th)
        assert.ok(same.data.every((v, i) => v === xt.data[i]), `${backend}: rope at position 0 changed x`)
      }), runs(15)))
  })

  it('⟨rope(q, m), rope(k, n)⟩ depends only on m − n', () => {
    const pair = fc.integer({ min: 1, max: 4 }).chain((half) =>
      fc.tuple(values(2 * half), values(2 * half), position, position, fc.integer({ min: -2000, max: 2000 }), theta))
    onEachBackend((backend) =>
      fc.assert(fc.property(pair, ([q, k, m, n, shift, th]) => {
        const d = q.length
        const qt = tensor(q, [1, 1, 1, d]), kt = tensor(k, [1, 1, 1, d])
        const score = (a: number, b: number) => dot64(ops.rope(qt, [a], th).data, ops.rope(kt, [b], th).data)
        const s0 = score(m, n), s1 = score(m + shift, n + shift)
        assert.ok(Math.abs(s0 - s1) <= 1e-5 * (1 + norm(qt.data) * norm(kt.data)), `${backend}: score ${s0} at (${m}, ${n}) but ${s1} at (${m + shift}, ${n + shift})`)
      }), runs(20)))
  })

  it('tables are cached by (positions, D, θ)', () => {
    assert.equal(ropeTables([3, 1, 4], 8, 10000), ropeTables([3, 1, 4], 8, 10000))
    assert.notEqual(ropeTables([3, 1, 4], 8, 10000), ropeTables([3, 1, 4], 8, 500))
    assert.notEqual(ropeTables([3, 1, 4], 8, 10000), ropeTables([3, 1, 5], 8, 10000))
    // float32-rounded Float64 values: channel pair 1 of D = 4 at position 4 turns by 4·10000^{−2/4} = 0.04
    assert.equal(ropeTables([4], 4, 10000).cos[1], Math.fround(Math.cos(0.04)))
    assert.equal(ropeTables([4], 4, 10000).sin[1], Math.fround(Math.sin(0.04)))
  })

  it('shape errors name the op, the input and the shapes', () => {
    const x = tensor(new Float32Array(2 * 3 * 4), [1, 2, 3, 4])
    assert.throws(() => ops.rope(tensor(new Float32Array(6), [1, 1, 2, 3]), [0, 1]), (e) => e instanceof ShapeError && /rope: input 'x' has shape \[1, 1, 2, 3\], expected \(B, H, T, D\) with D even/.test(e.message))
    assert.throws(() => ops.rope(tensor(new Float32Array(8), [2, 4]), [0, 1]), (e) => e instanceof ShapeError && /rope: input 'x' has shape \[2, 4\]/.test(e.message))
    assert.throws(() => ops.rope(x, [0, 1]), (e) => e instanceof ShapeError && /rope: 2 positions for input 'x' of shape \[1, 2, 3, 4\], expected T = 3/.test(e.message))
    assert.throws(() => ops.rope(x, [0, 1.5, 2]), /rope: position 1.5 at index 1 is not an integer/)
  })
})
