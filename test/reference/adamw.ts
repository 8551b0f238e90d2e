import { Tensor, treeMap, treeZip, type Tree } from '../../src/index.ts'
import type * as AdamW from '../../src/optim/adamw.ts'

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

/** AdamW in Float64 over a tree, as the reference path's optimizer (decay on rank ≥ 2 only, frozen leaves kept). */
export function referenceUpdate<P extends Tree>(params: P, grads: P, state: AdamW.State<P>, h: AdamW.Hyper, trainable: AdamW.Trainable) {
  const step = state.step + 1
  const out = new Map<string, ReturnType<typeof adamwStep>>()
  treeZip([params, grads, state.m, state.v], ([p, g, m, v], path) => {
    if (trainable(path)) out.set(path, adamwStep(p!.data, g!.data, m!.data, v!.data, { ...h, weightDecay: p!.rank >= 2 ? h.weightDecay : 0, step }))
    return p!
  })
  const pick = (tree: P, field: 'param' | 'm' | 'v') =>
    treeMap(tree, (t, path) => (out.has(path) ? new Tensor(out.get(path)![field] as unknown as Float32Array, t.shape) : t))
  return { params: pick(params, 'param'), state: { step, m: pick(state.m, 'm'), v: pick(state.v, 'v') } }
}
