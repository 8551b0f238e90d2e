import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { clipMean, clipStd, patchify } from '../../src/parents/patches.ts'

describe('patchify', () => {
  it('normalises each channel with the CLIP mean and std, and lays patch (gy, gx) pixel (y, x) channel c at row gy·g + gx, column (c·k + y)·k + x', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 0, max: 1000 }), (g, k, n, seed) => {
      const size = g * k
      const value = (i: number, y: number, x: number, c: number) => ((i * 31 + y * 7 + x * 3 + c + seed) % 17) / 16
      const images = Array.from({ length: n }, (_, i) => Float32Array.from({ length: size * size * 3 }, (_, j) => value(i, Math.floor(j / (3 * size)), Math.floor(j / 3) % size, j % 3)))
      const out = patchify(images, size, k)
      assert.deepEqual(out.shape, [n, g * g, 3 * k * k])
      for (let i = 0; i < n; i++) for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) for (let c = 0; c < 3; c++) {
        const gy = Math.floor(y / k), gx = Math.floor(x / k)
        const at = ((i * g * g + gy * g + gx) * 3 * k * k) + (c * k + (y % k)) * k + (x % k)
        assert.ok(Math.abs(out.data[at]! - (value(i, y, x, c) - clipMean[c]!) / clipStd[c]!) < 1e-5)
      }
    }), { numRuns: 30 })
  })

  it('refuses an image whose size is not a multiple of the patch, or whose pixel count is wrong', () => {
    assert.throws(() => patchify([new Float32Array(5 * 5 * 3)], 5, 2), /multiple of the patch size/)
    assert.throws(() => patchify([new Float32Array(10)], 4, 2), /expected 4×4×3/)
  })
})
