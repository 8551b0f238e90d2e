/**
 * Float64 reference for one AdamW step (decoupled weight decay, bias-corrected moments, step t from 1).
 */
export interface AdamWState { readonly param: Float64Array; readonly m: Float64Array; readonly v: Float64Array }

export function adamwStep(
  param: ArrayLike<number>, grad: ArrayLike<number>, m: ArrayLike<number>, v: ArrayLike<number>,
  h: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number },
): AdamWState {
  const n = param.length
  const out = { param: new Float64Array(n), m: new Float64Array(n), v: new Float64Array(n) }
  for (let i = 0; i < n; i++) {
    const g = grad[i]!
    out.m[i] = h.beta1 * m[i]! + (1 - h.beta1) * g
    out.v[i] = h.beta2 * v[i]! + (1 - h.beta2) * g * g
    const mhat = out.m[i]! / (1 - h.beta1 ** h.step)
    const vhat = out.v[i]! / (1 - h.beta2 ** h.step)
    out.param[i] = param[i]! - h.lr * (mhat / (Math.sqrt(vhat) + h.eps) + h.weightDecay * param[i]!)
  }
  return out
}
