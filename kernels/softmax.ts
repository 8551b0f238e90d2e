/**
 * Row softmax over the last axis with an optional additive mask, and its backward.
 *
 * x is R×C. The mask is Rm×C and is shared by row blocks: row r reads mask row (r mod Rm), so one (T×T)
 * attention mask serves every (batch, head) of a (B·H·T)×T score matrix. Masked entries are −∞ (or very
 * negative); a row whose every entry is masked yields zeros rather than NaN.
 *
 * Two passes, each O(R·C): (1) per row, the log-sum-exp  lse_r = m_r + log Σ_c exp(x_rc + mask − m_r);
 * (2) per element, y = exp(x + mask − lse).
 */
import { kernel, type KernelThis } from './backend.ts'

function rowLogSumExp(this: KernelThis<{ C: number; Rm: number }>, x: Float32Array, mask: Float32Array): number {
  const base = this.thread.x * this.constants.C
  const maskBase = (this.thread.x % this.constants.Rm) * this.constants.C
  let m = -Infinity
  for (let c = 0; c < this.constants.C; c++) m = Math.max(m, x[base + c]! + mask[maskBase + c]!)
  if (m === -Infinity) return -Infinity
  let s = 0
  for (let c = 0; c < this.constants.C; c++) s += Math.exp(x[base + c]! + mask[maskBase + c]! - m)
  return m + Math.log(s)
}

function expMinus(this: KernelThis<{ C: number; Rm: number }>, x: Float32Array, mask: Float32Array, lse: Float32Array): number {
  const r = Math.floor(this.thread.x / this.constants.C)
  const c = this.thread.x - r * this.constants.C
  const l = lse[r]!
  if (l === -Infinity) return 0
  return Math.exp(x[this.thread.x]! + mask[(r % this.constants.Rm) * this.constants.C + c]! - l)
}

/** log Σ_c exp(x_rc + mask_rc) for each row (−∞ for a fully masked row). */
export function logSumExpRows(x: Float32Array, mask: Float32Array, rows: number, cols: number, maskRows: number): Float32Array {
  return kernel('rowLogSumExp', [rows, cols, maskRows], rowLogSumExp, { output: [rows], constants: { C: cols, Rm: maskRows } })(x, mask)
}

const zeroMasks = new Map<number, Float32Array>()
/** A 1×C mask of zeros (cached: it is never written). */
export function noMask(cols: number): Float32Array {
  let z = zeroMasks.get(cols)
  if (!z) zeroMasks.set(cols, (z = new Float32Array(cols)))
  return z
}

export function softmaxRows(x: Float32Array, rows: number, cols: number, mask = noMask(cols), maskRows = 1): Float32Array {
  if (rows * cols === 0) return new Float32Array(0)
  const lse = logSumExpRows(x, mask, rows, cols, maskRows)
  return kernel('softmaxExp', [rows, cols, maskRows], expMinus, { output: [rows * cols], constants: { C: cols, Rm: maskRows } })(x, mask, lse)
}

function rowDot(this: KernelThis<{ C: number }>, a: Float32Array, b: Float32Array): number {
  let s = 0
  for (let c = 0; c < this.constants.C; c++) s += a[this.thread.x * this.constants.C + c]! * b[this.thread.x * this.constants.C + c]!
  return s
}

function softmaxGrad(this: KernelThis<{ C: number }>, y: Float32Array, dy: Float32Array, dots: Float32Array): number {
  return y[this.thread.x]! * (dy[this.thread.x]! - dots[Math.floor(this.thread.x / this.constants.C)]!)
}

/** Σ_c a_rc · b_rc for each row. */
export function dotRows(a: Float32Array, b: Float32Array, rows: number, cols: number): Float32Array {
  return kernel('rowDot', [rows, cols], rowDot, { output: [rows], constants: { C: cols } })(a, b)
}

/** dx = y ⊙ (dy − Σ_c dy ⊙ y), row by row. */
export function softmaxRowsBackward(y: Float32Array, dy: Float32Array, rows: number, cols: number): Float32Array {
  if (rows * cols === 0) return new Float32Array(0)
  const dots = dotRows(dy, y, rows, cols)
  return kernel('softmaxGrad', [rows, cols], softmaxGrad, { output: [rows * cols], constants: { C: cols } })(y, dy, dots)
}
