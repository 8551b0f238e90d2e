import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setBackend, getBackend, cachedKernelCount, liveKernelCount, setKernelLimit, KERNELS_PER_THREAD, kernel, type KernelThis } from '../../kernels/backend.ts'
import { onEachBackend } from '../helpers/backends.ts'

function double(this: KernelThis, x: Float32Array): number {
  return x[this.thread.x]! * 2
}

describe('backend', () => {
  it('defaults to webasm and refuses unknown names clearly', () => {
    assert.equal(process.env.HAPLOVL_BACKEND ?? 'webasm', getBackend())
    assert.throws(() => setBackend('metal'), /unknown backend 'metal': expected one of webasm, cpu, headlessgl/)
  })
  it('caches one compiled kernel per (name, key) and returns fresh output arrays', () => {
    onEachBackend((backend) => {
      const before = cachedKernelCount()
      const k = kernel('test-double', [3], double, { output: [3] })
      assert.equal(kernel('test-double', [3], double, { output: [3] }), k)
      assert.equal(cachedKernelCount(), before + 1)
      const first = k(Float32Array.of(1, 2, 3))
      const second = k(Float32Array.of(5, 5, 5))
      assert.deepEqual([...first], [2, 4, 6], backend)
      assert.deepEqual([...second], [10, 10, 10], backend)
    })
  })
  it('destroys the kernels it evicts, so gpu.js holds no more than the cache, and recompiles them on demand', () => {
    onEachBackend((backend) => {
      setKernelLimit(3)
      try {
        for (let n = 1; n <= 8; n++) kernel('test-double', [n], double, { output: [n] })(new Float32Array(n).fill(n))
        assert.equal(cachedKernelCount(), 3, backend)
        assert.equal(liveKernelCount(), 3, `${backend}: kernels gpu.js still holds`)
        assert.deepEqual([...kernel('test-double', [2], double, { output: [2] })(Float32Array.of(1, 2))], [2, 4], backend)
      } finally {
        setKernelLimit(KERNELS_PER_THREAD)
      }
    })
  })
  it('refuses arrays past 2^24 values, where float32 indices stop being exact', () => {
    assert.throws(() => kernel('test-huge', [2 ** 24 + 1], double, { output: [2 ** 24 + 1] }), /output of 16777217 values.*exact only up to 2\^24/)
    const k = kernel('test-double', [3], double, { output: [3] })
    assert.throws(() => k(new Float32Array(2 ** 24 + 1)), /an input holds 16777217 values/)
  })
  it('a loop longer than 1000 iterations runs in full when its bound is a constant', () => {
    onEachBackend(() => {
      const n = 2500
      const sum = kernel('test-long-sum', [n], function (this: KernelThis<{ n: number }>, x: Float32Array): number {
        let s = 0
        for (let i = 0; i < this.constants.n; i++) s += x[i]!
        return s
      }, { output: [1], constants: { n } })
      assert.equal(sum(new Float32Array(n).fill(1))[0], n)
    })
  })
})
