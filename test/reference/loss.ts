/**
 * Float64 reference for masked mean cross-entropy over logits (N, V) and N integer targets (< 0: ignored).
 */
import { zeros64 } from './array.ts'
import type { Differentiable } from '../helpers/gradcheck.ts'

/** log Σ_v exp x_v, shifted by the row maximum. */
export function logSumExp(row: ArrayLike<number>): number {
  let m = -Infinity
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]!)
  let s = 0
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i]! - m)
  return m + Math.log(s)
}

export const crossEntropy = (targets: readonly number[]): Differentiable => {
  const kept = targets.filter((t) => t >= 0).length
  return {
    f: ([x]) => {
      const v = x!.shape[1]!
      let total = 0
      targets.forEach((t, n) => {
        if (t >= 0) total += logSumExp(x!.data.subarray(n * v, (n + 1) * v)) - x!.data[n * v + t]!
      })
      return { data: Float64Array.of(kept === 0 ? 0 : total / kept), shape: [] }
    },
    // ∂/∂x[n, j] of (lse_n − x[n, t_n]) = softmax(x_n)_j − [j = t_n]
    vjp: ([x], u) => {
      const v = x!.shape[1]!
      const g = zeros64(x!.shape)
      targets.forEach((t, n) => {
        if (t < 0) return
        const lse = logSumExp(x!.data.subarray(n * v, (n + 1) * v))
        for (let j = 0; j < v; j++) g.data[n * v + j] = (u.data[0]! * (Math.exp(x!.data[n * v + j]! - lse) - (j === t ? 1 : 0))) / kept
      })
      return [g]
    },
  }
}
