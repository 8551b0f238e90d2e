/**
 * LayerNorm and RMSNorm over the last axis, x viewed as R×C. Both are one normalisation with a centre μ_r
 * and an inverse scale s_r per row, so they share every kernel:
 *
 *   x̂ = (x − μ_r)·s_r,   y = x̂ ⊙ w + b
 *   LayerNorm: μ_r = mean_c x_rc,  s_r = 1/√(mean_c (x_rc − μ_r)² + eps)   (two passes: no E[x²] − μ² cancellation)
 *   RMSNorm:   μ_r = 0,            s_r = 1/√(mean_c x_rc² + eps),           b = 0
 *
 * Backward, with g = dy ⊙ w (and [centred] = 1 for LayerNorm, 0 for RMSNorm):
 *   dx = s_r·(g − [centred]·mean_c g − x̂·mean_c(g ⊙ x̂))
 *   dw = Σ_r dy ⊙ x̂,   db = Σ_r dy
 * The mean_c g term is the derivative through μ, the x̂·mean(g ⊙ x̂) term the derivative through s.
 */
import { kernel, type KernelThis } from './backend.ts'
import { sumAxis } from './reduce.ts'

/** Per-row centre and inverse scale. */
export interface RowStats {
  readonly mean: Float32Array
  readonly invStd: Float32Array
}

const zeroArrays = new Map<number, Float32Array>()
/** n zeros, shared (never written): the centre of RMSNorm and its absent bias. */
function zeros(n: number): Float32Array {
  let z = zeroArrays.get(n)
  if (!z) zeroArrays.set(n, (z = new Float32Array(n)))
  return z
}

function rowMeanKernel(this: KernelThis<{ C: number }>, x: Float32Array): number {
  let s = 0
  for (let c = 0; c < this.constants.C; c++) s += x[this.thread.x * this.constants.C + c]!
  return s / this.constants.C
}

function rowInvStdKernel(this: KernelThis<{ C: number }>, x: Float32Array, mean: Float32Array, eps: number): number {
  const m = mean[this.thread.x]!
  let s = 0
  for (let c = 0; c < this.constants.C; c++) {
    const d = x[this.thread.x * this.constants.C + c]! - m
    s += d * d
  }
  return 1 / Math.sqrt(s / this.constants.C + eps)
}

function normalizeKernel(this: KernelThis<{ C: number }>, x: Float32Array, mean: Float32Array, invStd: Float32Array, w: Float32Array, b: Float32Array): number {
  const r = Math.floor(this.thread.x / this.constants.C)
  const c = this.thread.x - r * this.constants.C
  return (x[this.thread.x]! - mean[r]!) * invStd[r]! * w[c]! + b[c]!
}

/** μ_r (or 0 when not `centred`) and s_r for each of the R rows. */
export function rowStats(x: Float32Array, rows: number, cols: number, eps: number, centred: boolean): RowStats {
  if (rows * cols === 0) return { mean: zeros(rows), invStd: zeros(rows) }
  const mean = centred ? kernel('normRowMean', [rows, cols], rowMeanKernel, { output: [rows], constants: { C: cols } })(x) : zeros(rows)
  const invStd = kernel('normRowInvStd', [rows, cols], rowInvStdKernel, { output: [rows], constants: { C: cols } })(x, mean, eps)
  return { mean, invStd }
}

/** y = (x − μ_r)·s_r·w + b; `bias` null for none. */
export function normalizeRows(x: Float32Array, stats: RowStats, weight: Float32Array, bias: Float32Array | null, rows: number, cols: number): Float32Array {
  if (rows * cols === 0) return new Float32Array(0)
  return kernel('normApply', [rows, cols], normalizeKernel, { output: [rows * cols], constants: { C: cols } })(
    x, stats.mean, stats.invStd, weight, bias ?? zeros(cols))
}

// -------------------------------------------------------------------------------------------------- backward

function gradMeansKernel(this: KernelThis<{ R: number; C: number }>, dy: Float32Array, w: Float32Array, x: Float32Array, mean: Float32Array, invStd: Float32Array): number {
  // threads [0, R): mean_c g;  threads [R, 2R): mean_c g ⊙ x̂   (g = dy ⊙ w)
  const second = this.thread.x >= this.constants.R
  const r = second ? this.thread.x - this.constants.R : this.thread.x
  const m = mean[r]!
  const s = invStd[r]!
  let acc = 0
  for (let c = 0; c < this.constants.C; c++) {
    const g = dy[r * this.constants.C + c]! * w[c]!
    if (second) acc += g * (x[r * this.constants.C + c]! - m) * s
    else acc += g
  }
  return acc / this.constants.C
}

function inputGradKernel(this: KernelThis<{ R: number; C: number; centred: number }>, dy: Float32Array, w: Float32Array, x: Float32Array, mean: Float32Array, invStd: Float32Array, means: Float32Array): number {
  const r = Math.floor(this.thread.x / this.constants.C)
  const c = this.thread.x - r * this.constants.C
  const s = invStd[r]!
  const xhat = (x[this.thread.x]! - mean[r]!) * s
  return s * (dy[this.thread.x]! * w[c]! - this.constants.centred * means[r]! - xhat * means[this.constants.R + r]!)
}

function weightGradKernel(this: KernelThis<{ R: number; C: number }>, dy: Float32Array, x: Float32Array, mean: Float32Array, invStd: Float32Array): number {
  // dw_c = Σ_r dy_rc · x̂_rc
  let acc = 0
  for (let r = 0; r < this.constants.R; r++) {
    const i = r * this.constants.C + this.thread.x
    acc += dy[i]! * (x[i]! - mean[r]!) * invStd[r]!
  }
  return acc
}

/** dx, dw and (when `centred`, i.e. LayerNorm) db; see the header for the formulas. */
export function normalizeRowsBackward(
  dy: Float32Array, x: Float32Array, weight: Float32Array, stats: RowStats, rows: number, cols: number, centred: boolean,
): { dx: Float32Array; dw: Float32Array; db: Float32Array | null } {
  if (rows * cols === 0) return { dx: new Float32Array(0), dw: new Float32Array(cols), db: centred ? new Float32Array(cols) : null }
  const { mean, invStd } = stats
  const means = kernel('normGradMeans', [rows, cols], gradMeansKernel, { output: [2 * rows], constants: { R: rows, C: cols } })(dy, weight, x, mean, invStd)
  const dx = kernel('normInputGrad', [rows, cols, centred], inputGradKernel, { output: [rows * cols], constants: { R: rows, C: cols, centred: centred ? 1 : 0 } })(
    dy, weight, x, mean, invStd, means)
  const dw = kernel('normWeightGrad', [rows, cols], weightGradKernel, { output: [cols], constants: { R: rows, C: cols } })(dy, x, mean, invStd)
  return { dx, dw, db: centred ? sumAxis(dy, 1, rows, cols) : null }
}
