/**
 * The arithmetic exp of kernels/math.ts (copied inline into the softmax kernels): relative error against
 * Math.exp over the whole f32 range where the result is a normal number, and the edge cases softmax relies on.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { exp, EXP2_TABLE } from '../../kernels/math.ts'
import { onEachBackend } from '../helpers/backends.ts'

describe('arithmetic exp', () => {
  it('the table holds 2^(i − 150) exactly', () => {
    assert.equal(EXP2_TABLE[0], 0)
    assert.equal(EXP2_TABLE[150], 1)
    assert.equal(EXP2_TABLE[277], 2 ** 127)
    assert.equal(EXP2_TABLE[1], 2 ** -149)
  })
  it('is within 2e-7 relative error of Math.exp for every normal f32 result', () => {
    onEachBackend((backend) => {
      const n = 1 << 18
      // a dense grid over [−87.3, 88.7], plus the neighbourhood of 0 and of the reduction's boundaries
      const xs = Float32Array.from({ length: n }, (_, i) =>
        i % 2 === 0 ? -87.3 + (176 * i) / n : ((i % 64) - 32) * 0.34657359 + (i / n) * 1e-3)
      const ys = exp(xs)
      let worst = 0, at = 0
      for (let i = 0; i < n; i++) {
        const want = Math.exp(xs[i]!)
        if (want < 2 ** -126 || want > 3.4e38) continue
        const rel = Math.abs(ys[i]! - want) / want
        if (rel > worst) (worst = rel), (at = xs[i]!)
      }
      assert.ok(worst <= 2e-7, `${backend}: relative error ${worst} at x = ${at}`)
    })
  })
  it('underflows to exactly 0 for −∞ and large negative inputs, overflows to +∞, keeps NaN', () => {
    onEachBackend((backend) => {
      const ys = exp(Float32Array.of(-Infinity, -1e30, -200, -104, 0, -0, 88.7, 89, Infinity, NaN))
      assert.deepEqual([...ys.slice(0, 4)], [0, 0, 0, 0], backend)
      assert.deepEqual([...ys.slice(4, 6)], [1, 1], backend)
      assert.ok(Number.isFinite(ys[6]!) && ys[6]! > 3e38, `${backend}: exp(88.7) = ${ys[6]}`)
      assert.deepEqual([...ys.slice(7, 9)], [Infinity, Infinity], backend)
      assert.ok(Number.isNaN(ys[9]!), backend)
    })
  })
})
