/**
 * The matmul kernel on shapes the autograd tests do not reach: row counts that are not multiples of the
 * 4-row blocks, every layout with shared operands, and products large enough to be split over worker threads
 * (whose result must be bit-identical to the single-threaded one).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { matmul, type MatmulDims } from '../../kernels/matmul.ts'
import { setThreadCount, threadCount } from '../../kernels/threads.ts'
import { onEachBackend } from '../helpers/backends.ts'
import { seeded } from '../helpers/gradcheck.ts'

function reference(a: Float32Array, b: Float32Array, d: MatmulDims): Float64Array {
  const { batch, m, k, n } = d
  const c = new Float64Array(batch * m * n)
  for (let z = 0; z < batch; z++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0
        for (let p = 0; p < k; p++) {
          const av = a[(d.batchedA ? z * m * k : 0) + (d.transA ? p * m + i : i * k + p)]!
          const bv = b[(d.batchedB ? z * k * n : 0) + (d.transB ? j * k + p : p * n + j)]!
          s += av * bv
        }
        c[(z * m + i) * n + j] = s
      }
  return c
}

function operands(d: MatmulDims, seed: number): [Float32Array, Float32Array] {
  const rand = seeded(seed)
  const a = Float32Array.from({ length: (d.batchedA ? d.batch : 1) * d.m * d.k }, () => rand() * 2 - 1)
  const b = Float32Array.from({ length: (d.batchedB ? d.batch : 1) * d.k * d.n }, () => rand() * 2 - 1)
  return [a, b]
}

const layouts = [[false, false], [false, true], [true, false], [true, true]] as const
const sharing = [[true, true], [true, false], [false, true]] as const

describe('matmul kernel', () => {
  it('matches the Float64 reference in every layout, with shared operands and ragged row blocks', () => {
    onEachBackend((backend) => {
      for (const [batch, m, k, n] of [[1, 1, 1, 1], [2, 7, 9, 6], [3, 5, 2, 9], [1, 130, 70, 129], [3, 66, 33, 70]] as const)
        for (const [transA, transB] of layouts)
          for (const [batchedA, batchedB] of sharing) {
            const d: MatmulDims = { batch, m, k, n, transA, transB, batchedA, batchedB }
            const [a, b] = operands(d, m * 31 + n)
            const c = matmul(a, b, d), r = reference(a, b, d)
            assert.equal(c.length, r.length)
            for (let i = 0; i < r.length; i++)
              assert.ok(Math.abs(c[i]! - r[i]!) <= 1e-5 * Math.sqrt(k) * (1 + Math.abs(r[i]!)), `${backend} ${JSON.stringify(d)} at ${i}: ${c[i]} vs ${r[i]}`)
          }
    })
  })
  it('an empty reduction gives zeros', () => {
    const d: MatmulDims = { batch: 2, m: 3, k: 0, n: 4, transA: false, transB: false, batchedA: true, batchedB: true }
    assert.deepEqual([...matmul(new Float32Array(0), new Float32Array(0), d)], new Array(24).fill(0))
  })
  it('split over threads, by batch entries or by row blocks, gives the single-threaded bits', () => {
    const before = threadCount()
    try {
      for (const d of [
        { batch: 1, m: 203, k: 96, n: 130, transA: false, transB: true, batchedA: true, batchedB: true },
        { batch: 5, m: 64, k: 80, n: 72, transA: true, transB: false, batchedA: true, batchedB: false },
        { batch: 4, m: 70, k: 64, n: 64, transA: false, transB: false, batchedA: false, batchedB: true },
        // more cells than one call holds: row blocks in as many boxes as threads share evenly
        { batch: 1, m: 768, k: 16, n: 344, transA: false, transB: false, batchedA: true, batchedB: false },
      ] satisfies MatmulDims[]) {
        const [a, b] = operands(d, d.m)
        setThreadCount(1)
        const one = matmul(a, b, d)
        for (const threads of [2, 3]) {
          setThreadCount(threads)
          assert.deepEqual(matmul(a, b, d), one, `${threads} threads, ${JSON.stringify(d)}`)
        }
        const r = reference(a, b, d)
        for (let i = 0; i < r.length; i++) assert.ok(Math.abs(one[i]! - r[i]!) <= 1e-4, `${JSON.stringify(d)} at ${i}`)
      }
    } finally {
      setThreadCount(before)
    }
  })
})
