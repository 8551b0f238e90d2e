/**
 * Cross-entropy of N×V logits against N integer targets, averaged over the targets that are ≥ 0
 * (a negative target masks its row out), and its gradient.
 *
 *   loss = (1/K) Σ_{n : t_n ≥ 0} (lse_n − x[n, t_n]),   lse_n = log Σ_v exp x[n, v],   K = #{n : t_n ≥ 0}
 *   dx[n, v] = dy · (softmax(x_n)_v − [v = t_n]) / K    on kept rows, 0 on masked rows
 *
 * lse comes from the stable max-shifted kernel of softmax.ts, so ±1e4 logits stay finite. With K = 0 the
 * loss is 0 and so is the gradient.
 */
import { kernel, type KernelThis } from './backend.ts'
import { logSumExpRows, noMask } from './softmax.ts'
import { sumAxis } from './reduce.ts'
import { affine } from './elementwise.ts'

function nllKernel(this: KernelThis<{ V: number }>, x: Float32Array, lse: Float32Array, targets: Float32Array): number {
  const t = targets[this.thread.x]!
  if (t < 0) return 0
  return lse[this.thread.x]! - x[this.thread.x * this.constants.V + t]!
}

function gradKernel(this: KernelThis<{ V: number }>, x: Float32Array, lse: Float32Array, targets: Float32Array, dy: Float32Array, invCount: number): number {
  const n = Math.floor(this.thread.x / this.constants.V)
  const v = this.thread.x - n * this.constants.V
  const t = targets[n]!
  if (t < 0) return 0
  const p = Math.exp(x[this.thread.x]! - lse[n]!)
  if (v === t) return dy[0]! * (p - 1) * invCount
  return dy[0]! * p * invCount
}

/** The count K of kept rows (targets ≥ 0). */
export const keptCount = (targets: Float32Array): number => targets.reduce((k, t) => k + (t >= 0 ? 1 : 0), 0)

/** Mean cross-entropy (one value) and the per-row log-sum-exp its backward reuses. */
export function crossEntropy(x: Float32Array, targets: Float32Array, rows: number, cols: number): { loss: Float32Array; lse: Float32Array } {
  const count = keptCount(targets)
  if (rows * cols === 0 || count === 0) return { loss: new Float32Array(1), lse: new Float32Array(rows) }
  const lse = logSumExpRows(x, noMask(cols), rows, cols, 1)
  const nll = kernel('crossEntropyRows', [rows, cols], nllKernel, { output: [rows], constants: { V: cols } })(x, lse, targets)
  return { loss: affine(sumAxis(nll, 1, rows, 1), 1 / count), lse }
}

/** d loss / d x for the upstream gradient dy (one value). */
export function crossEntropyBackward(x: Float32Array, lse: Float32Array, targets: Float32Array, dy: Float32Array, rows: number, cols: number): Float32Array {
  const count = keptCount(targets)
  if (rows * cols === 0 || count === 0) return new Float32Array(rows * cols)
  return kernel('crossEntropyGrad', [rows, cols], gradKernel, { output: [rows * cols], constants: { V: cols } })(x, lse, targets, dy, 1 / count)
}
