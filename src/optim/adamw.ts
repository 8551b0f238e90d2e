/**
 * AdamW over parameter trees, as an init/update pair (JAX's `example_libraries/optimizers.py` style):
 * the state is a plain value, `update` returns new parameters and a new state and changes nothing it is given.
 *
 * For one leaf p with gradient g, at step t = state.step + 1 (counting from 1):
 *
 *   m ← β1·m + (1 − β1)·g                 first moment
 *   v ← β2·v + (1 − β2)·g²                second moment
 *   m̂ = m / (1 − β1ᵗ),  v̂ = v / (1 − β2ᵗ)  bias correction
 *   p ← p·(1 − lr·wd) − lr·m̂ / (√v̂ + eps)  decoupled weight decay, as PyTorch's `torch.optim.AdamW`
 *
 * Weight decay applies only to tensors of rank ≥ 2 (weight matrices, embedding tables, patch kernels):
 * biases, norm gains and the scalar temperature are not decayed. Leaves whose dotted path is not trainable
 * come back as the very same Tensor objects, with their m and v untouched. The arithmetic is the fused
 * kernel `adamwStep` (which evaluates the last line as p − lr·(m̂/(√v̂ + eps) + wd·p), the same value, so that
 * a decay as small as lr·wd = 1e-8 is not lost to float32 rounding of 1 − lr·wd); this module only walks the
 * tree and picks the per-leaf settings.
 *
 * @example
 * import * as AdamW from './adamw.ts'
 * let state = AdamW.init(params)
 * const { grads } = valueAndGrad(loss)(params, batch)
 * ;({ params, state } = AdamW.update(params, grads, state, { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 1e-4 }))
 */
import { Tensor, leaves, treeMap, treeZip, shapeText, type Tree } from '../../autograd/index.ts'
import { track } from '../../autograd/tape.ts'
import { adamwStep } from '../../kernels/adamw.ts'

// ---------------------------------------------------------------------------------------------------------------
// types
// ---------------------------------------------------------------------------------------------------------------

/** Hyper-parameters of one update. `lr` is the learning rate of this step (a schedule's value). */
export interface Hyper {
  readonly lr: number
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  readonly weightDecay: number
}

/** Updates done so far, and the two moment trees, each with the exact type of the parameters. */
export interface State<P extends Tree> {
  readonly step: number
  readonly m: P
  readonly v: P
}

/** Which leaves an update may change, by dotted path ("preDecoder.blocks.0.attn.wq"). */
export type Trainable = (path: string) => boolean

const everything: Trainable = () => true

// ---------------------------------------------------------------------------------------------------------------
// init / update
// ---------------------------------------------------------------------------------------------------------------

/** Step 0 and zero moments shaped as the parameters. */
export function init<P extends Tree>(params: P): State<P> {
  const zero = (p: Tensor) => track(new Float32Array(p.size), p.shape)
  return { step: 0, m: treeMap(params, zero), v: treeMap(params, zero) }
}

/** The rank-≥2 rule: is this leaf decayed? */
export const decays = (p: Tensor): boolean => p.rank >= 2

/**
 * One AdamW step over the whole tree. `grads` must have the structure and shapes of `params`
 * (as `valueAndGrad` returns them); a mismatch throws naming the path. The inputs are not disposed.
 */
export function update<P extends Tree>(
  params: P,
  grads: P,
  state: State<P>,
  h: Hyper,
  trainable: Trainable = everything,
): { params: P; state: State<P> } {
  const count = leaves(params).length
  for (const [what, tree] of [['grads', grads], ['m', state.m], ['v', state.v]] as const)
    if (leaves(tree).length !== count)
      throw new Error(`adamw: ${what} has ${leaves(tree).length} leaves, params has ${count}`)

  const step = state.step + 1
  // The three outputs of each leaf, keyed by path: treeZip builds the parameter tree, treeMap the moments.
  const moments = new Map<string, { m: Tensor; v: Tensor }>()
  const next = treeZip([params, grads, state.m, state.v], ([p, g, m, v], path) => {
    for (const [what, t] of [['grad', g], ['m', m], ['v', v]] as const)
      if (!(t instanceof Tensor) || t.size !== p!.size || t.rank !== p!.rank || t.shape.some((d, i) => d !== p!.shape[i]))
        throw new Error(`adamw: ${what} of '${path}' has shape ${t instanceof Tensor ? shapeText(t.shape) : 'none'}, param has ${shapeText(p!.shape)}`)
    if (moments.has(path)) throw new Error(`adamw: two leaves share the path '${path}'`)
    if (!trainable(path)) {
      moments.set(path, { m: m!, v: v! })
      return p!
    }
    const out = adamwStep(p!.data, g!.data, m!.data, v!.data, {
      lr: h.lr,
      beta1: h.beta1,
      beta2: h.beta2,
      eps: h.eps,
      weightDecay: decays(p!) ? h.weightDecay : 0,
      step,
    })
    moments.set(path, { m: track(out.m, p!.shape), v: track(out.v, p!.shape) })
    return track(out.param, p!.shape)
  })
  const m = treeMap(state.m, (_, path) => moments.get(path)!.m)
  const v = treeMap(state.v, (_, path) => moments.get(path)!.v)
  return { params: next, state: { step, m, v } }
}

/**
 * Dispose every leaf of `before` that `after` no longer holds (the replaced parameters or moments of a
 * training step), so that a loop keeps a flat live-tensor count. Frozen leaves, returned as the same
 * objects, are kept.
 *
 * @example
 * const next = AdamW.update(params, grads, state, h, trainable)
 * AdamW.disposeReplaced([params, state.m, state.v], [next.params, next.state.m, next.state.v])
 */
export function disposeReplaced(before: Tree, after: Tree): void {
  const kept = new Set(leaves(after))
  for (const t of leaves(before)) if (!kept.has(t)) t.dispose()
}
