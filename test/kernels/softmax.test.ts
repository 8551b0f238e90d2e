/**
 * The softmax kernels on matrices large enough to be split over worker threads: the result must be the
 * single-threaded bits, and match a Float64 softmax.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { softmaxRows, logSumExpRows, noMask } from '../../kernels/softmax.ts'
import { setThreadCount, threadCount } from '../../kernels/threads.ts'
import { seeded } from '../helpers/gradcheck.ts'

function reference(x: Float32Array, rows: number, cols: number, mask: Float32Array, maskRows: number): Float64Array {
  const y = new Float64Array(rows * cols)
  for (let r = 0; r < rows; r++) {
    const v = Array.from({ length: cols }, (_, c) => x[r * cols + c]! + mask[(r % maskRows) * cols + c]!)
    const m = Math.max(...v)
    const s = v.reduce((acc, e) => acc + Math.exp(e - m), 0)
    v.forEach((e, c) => (y[r * cols + c] = Math.exp(e - m) / s))
  }
  return y
}

describe('softmax kernels', () => {
  it('split over threads give the single-threaded bits and match Float64', () => {
    const rand = seeded(11)
    const rows = 520, cols = 300, maskRows = 8
    const x = Float32Array.from({ length: rows * cols }, () => rand() * 20 - 10)
    const mask = Float32Array.from({ length: maskRows * cols }, (_, i) => (i % cols <= (i / cols) * 37 ? 0 : -Infinity))
    const before = threadCount()
    try {
      for (const [m, mr] of [[noMask(cols), 1], [mask, maskRows]] as const) {
        setThreadCount(1)
        const one = softmaxRows(x, rows, cols, m, mr), lse = logSumExpRows(x, m, rows, cols, mr)
        for (const threads of [2, 3]) {
          setThreadCount(threads)
          assert.deepEqual(softmaxRows(x, rows, cols, m, mr), one, `${threads} threads`)
          assert.deepEqual(logSumExpRows(x, m, rows, cols, mr), lse, `${threads} threads`)
        }
        const want = reference(x, rows, cols, m, mr)
        for (let i = 0; i < want.length; i++) assert.ok(Math.abs(one[i]! - want[i]!) <= 1e-6 + 1e-5 * want[i]!, `at ${i}: ${one[i]} vs ${want[i]}`)
      }
    } finally {
      setThreadCount(before)
    }
  })
})
