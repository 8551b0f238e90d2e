/**
 * One fused AdamW step over a flat parameter array (decoupled weight decay, as PyTorch's AdamW).
 *
 *   m' = β1·m + (1 − β1)·g
 *   v' = β2·v + (1 − β2)·g²
 *   m̂ = m' / (1 − β1ᵗ),   v̂ = v' / (1 − β2ᵗ)            (t = step, counting from 1)
 *   p' = p − lr·(m̂ / (√v̂ + eps) + wd·p)
 *
 * The hyper-parameters and the bias corrections (computed on the host in Float64) are scalar kernel
 * arguments, not constants, so one compiled kernel per size serves every step of a schedule. The three
 * outputs come from three kernels: gpu.js kernel maps fall back to the cpu backend on webasm.
 *
 * p' is evaluated in the grouped form above rather than as p·(1 − lr·wd) − …, because the factor 1 − lr·wd
 * would be rounded to float32 on its way into the kernel (to exactly 1 when lr·wd < 3e-8). Either way a
 * decay smaller than half an ulp of p (relative 3e-8) is lost when p' is rounded, as in float32 PyTorch.
 */
import { kernel, type KernelThis } from './backend.ts'

export interface AdamWHyper {
  readonly lr: number
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  readonly weightDecay: number
  /** the number of this step, from 1 */
  readonly step: number
}

function momentKernel(this: KernelThis<{ square: number }>, m: Float32Array, g: Float32Array, beta: number, oneMinusBeta: number): number {
  // square = 0: β·m + (1 − β)·g;  square = 1: β·v + (1 − β)·g²
  const x = g[this.thread.x]!
  if (this.constants.square === 1) return beta * m[this.thread.x]! + oneMinusBeta * x * x
  return beta * m[this.thread.x]! + oneMinusBeta * x
}

function paramKernel(this: KernelThis, p: Float32Array, m: Float32Array, v: Float32Array, lr: number, wd: number, bc1: number, bc2: number, eps: number): number {
  const w = p[this.thread.x]!
  const mhat = m[this.thread.x]! / bc1
  const vhat = v[this.thread.x]! / bc2
  return w - lr * (mhat / (Math.sqrt(vhat) + eps) + wd * w)
}

/** The new parameters and moments (fresh arrays; the inputs are not written). */
export function adamwStep(
  param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, h: AdamWHyper,
): { param: Float32Array; m: Float32Array; v: Float32Array } {
  const n = param.length
  if (grad.length !== n || m.length !== n || v.length !== n)
    throw new Error(`adamwStep: param has ${n} values but grad, m, v have ${grad.length}, ${m.length}, ${v.length}`)
  if (!Number.isInteger(h.step) || h.step < 1) throw new RangeError(`adamwStep: step ${h.step} must be an integer ≥ 1`)
  if (n === 0) return { param: new Float32Array(0), m: new Float32Array(0), v: new Float32Array(0) }
  const moment = (square: number) => kernel('adamwMoment', [n, square], momentKernel, { output: [n], constants: { square } })
  const m1 = moment(0)(m, grad, h.beta1, 1 - h.beta1)
  const v1 = moment(1)(v, grad, h.beta2, 1 - h.beta2)
  const bc1 = 1 - Math.pow(h.beta1, h.step), bc2 = 1 - Math.pow(h.beta2, h.step)
  const p1 = kernel('adamwParam', [n], paramKernel, { output: [n] })(param, m1, v1, h.lr, h.weightDecay, bc1, bc2, h.eps)
  return { param: p1, m: m1, v: v1 }
}
