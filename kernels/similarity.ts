/**
 * Row norms and cosine similarity over the last axis, x viewed as R×C; each output has one value per row.
 *
 *   ‖x_r‖ = √(Σ_c x_rc²)                          d/dx = x/‖x‖  (0 where ‖x‖ = 0)
 *   cos_r = ⟨a_r, b_r⟩ / (Nₐ·N_b),  N = max(‖·‖, 1e-8)   (PyTorch's convention since 1.12: each norm is clamped
 *                                                   on its own, so a zero vector gives cos = 0, not NaN)
 *   d cos/da = b/(Nₐ N_b) − cos·a/‖a‖²   where ‖a‖ > 1e-8; below it Nₐ is the constant 1e-8 and only the first
 *   term remains. d cos/db is the same with a and b swapped.
 */
import { kernel, type KernelThis } from './backend.ts'

function rowNormKernel(this: KernelThis<{ C: number }>, x: Float32Array): number {
  let s = 0
  for (let c = 0; c < this.constants.C; c++) {
    const v = x[this.thread.x * this.constants.C + c]!
    s += v * v
  }
  return Math.sqrt(s)
}

function cosineKernel(this: KernelThis<{ C: number }>, a: Float32Array, b: Float32Array, na: Float32Array, nb: Float32Array): number {
  let d = 0
  for (let c = 0; c < this.constants.C; c++) d += a[this.thread.x * this.constants.C + c]! * b[this.thread.x * this.constants.C + c]!
  return d / (Math.max(na[this.thread.x]!, 1e-8) * Math.max(nb[this.thread.x]!, 1e-8))
}

function cosineGradKernel(this: KernelThis<{ C: number }>, self: Float32Array, other: Float32Array, nSelf: Float32Array, nOther: Float32Array, cos: Float32Array, dy: Float32Array): number {
  // gradient with respect to `self`; called with (a, b) for da and (b, a) for db
  const r = Math.floor(this.thread.x / this.constants.C)
  const ns = nSelf[r]!
  const g = dy[r]! * other[this.thread.x]! / (Math.max(ns, 1e-8) * Math.max(nOther[r]!, 1e-8))
  if (ns > 1e-8) return g - dy[r]! * cos[r]! * self[this.thread.x]! / (ns * ns)
  return g
}

function normGradKernel(this: KernelThis<{ C: number }>, x: Float32Array, norm: Float32Array, dy: Float32Array): number {
  const r = Math.floor(this.thread.x / this.constants.C)
  const n = norm[r]!
  if (n > 0) return dy[r]! * x[this.thread.x]! / n
  return 0
}

/** ‖x_r‖ for each row. */
export function rowNorms(x: Float32Array, rows: number, cols: number): Float32Array {
  if (rows === 0) return new Float32Array(0)
  if (cols === 0) return new Float32Array(rows)
  return kernel('rowNorm', [rows, cols], rowNormKernel, { output: [rows], constants: { C: cols } })(x)
}

/** dx = dy_r · x/‖x_r‖ (0 on zero rows). */
export function rowNormsBackward(x: Float32Array, norms: Float32Array, dy: Float32Array, rows: number, cols: number): Float32Array {
  if (rows * cols === 0) return new Float32Array(0)
  return kernel('rowNormGrad', [rows, cols], normGradKernel, { output: [rows * cols], constants: { C: cols } })(x, norms, dy)
}

/** Row cosines, given the row norms of a and b. */
export function cosineRows(a: Float32Array, b: Float32Array, na: Float32Array, nb: Float32Array, rows: number, cols: number): Float32Array {
  if (rows === 0) return new Float32Array(0)
  if (cols === 0) return new Float32Array(rows)
  return kernel('cosineRows', [rows, cols], cosineKernel, { output: [rows], constants: { C: cols } })(a, b, na, nb)
}

/** The gradient of Σ_r dy_r·cos_r with respect to `self` (a or b), the other operand being `other`. */
export function cosineRowsBackward(
  self: Float32Array, other: Float32Array, nSelf: Float32Array, nOther: Float32Array, cos: Float32Array, dy: Float32Array, rows: number, cols: number,
): Float32Array {
  if (rows * cols === 0) return new Float32Array(0)
  return kernel('cosineGrad', [rows, cols], cosineGradKernel, { output: [rows * cols], constants: { C: cols } })(self, other, nSelf, nOther, cos, dy)
}
