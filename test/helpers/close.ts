/** Elementwise closeness of float32 results to Float64 references, with a message that locates the worst miss. */
import assert from 'node:assert/strict'

export interface Tolerance {
  readonly atol: number
  readonly rtol: number
}

/** Elementwise ops: one rounding. */
export const elementwise: Tolerance = { atol: 1e-6, rtol: 1e-5 }

/** Reductions and products over K terms: error grows like sqrt(K); 2e-3 is the ceiling. */
export const reduction = (k: number): Tolerance => ({ atol: 1e-5, rtol: Math.min(2e-3, 1e-4 * Math.sqrt(Math.max(k, 1)) + 1e-5) })

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: ${actual.length} values, expected ${expected.length}`)
  // Scale the absolute tolerance by the magnitude of the data, so sums of large values are judged fairly.
  let scale = 0
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!))
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!
    if (Number.isNaN(e) && Number.isNaN(a)) continue
    if (a === e) continue
    const bound = tol.atol * Math.max(1, scale) + tol.rtol * Math.abs(e)
    if (!(Math.abs(a - e) <= bound))
      assert.fail(`${label}: index ${i} is ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > ${bound})`)
  }
}
