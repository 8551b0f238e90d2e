/**
 * A small CLIP-style vision tower: the stage-1 teacher, and the ViT whose weights HaploVL's pre-decoder inherits.
 *   patches (N, P, 3k²) → linear (no bias) → prepend class token → + learned positions (P+1)
 *   → pre-LayerNorm → ViT blocks (pre-LN, QuickGELU MLP) → hidden states (N, P+1, C)
 *   pooled = post-LayerNorm(hidden[:, 0]) · projection   (the image embedding of contrastive training)
 */
import { ops, noGrad, type Tensor } from '../../autograd/index.ts'
import * as Linear from '../nn/linear.ts'
import * as Norm from '../nn/norm.ts'
import * as VitBlock from '../nn/vit-block.ts'
import * as Random from '../random.ts'
import { fullAttention } from '../nn/masks.ts'

export interface Config {
  readonly imageSize: number
  readonly patch: number
  readonly width: number
  readonly layers: number
  readonly heads: number
  readonly mlpWidth: number
  /** width of the shared image–text embedding space */
  readonly embedWidth: number
  readonly eps: number
}

export type Params = {
  readonly patchEmbed: Linear.Params // [C, 3k²], no bias
  readonly classEmbed: Tensor // [C]
  readonly position: Tensor // [P + 1, C]
  readonly preNorm: Norm.LayerNormParams
  readonly blocks: readonly VitBlock.Params[]
  readonly postNorm: Norm.LayerNormParams
  readonly projection: Linear.Params // [E, C], no bias
}

export const patches = (c: Config): number => (c.imageSize / c.patch) ** 2

export const blockConfig = (c: Config): VitBlock.Config => ({
  width: c.width, heads: c.heads, mlpWidth: c.mlpWidth, activation: 'quick-gelu', ropeTheta: null, eps: c.eps,
})

export function init(key: Random.Key, c: Config): Params {
  const [kp, kc, kpos, kb, kproj] = Random.split(key, 5)
  const scale = 1 / Math.sqrt(c.width)
  return {
    patchEmbed: Linear.init(kp!, { inFeatures: 3 * c.patch * c.patch, outFeatures: c.width, bias: false }),
    classEmbed: Random.normal(kc!, [c.width], scale),
    position: Random.normal(kpos!, [patches(c) + 1, c.width], scale),
    preNorm: Norm.initLayerNorm(c.width),
    blocks: Random.split(kb!, c.layers).map((k) => VitBlock.init(k, blockConfig(c))),
    postNorm: Norm.initLayerNorm(c.width),
    projection: Linear.init(kproj!, { inFeatures: c.width, outFeatures: c.embedWidth, bias: false }),
  }
}

export interface Output {
  /** hidden states after each block: hidden[l] is (N, P+1, C), position 0 is the class token */
  readonly hidden: readonly Tensor[]
  /** the projected, post-normalised class token (N, E) */
  readonly pooled: Tensor
}

/** patchRows: (N, P, 3k²) from `patchify`. */
export function apply(p: Params, c: Config, patchRows: Tensor): Output {
  const [n, np] = patchRows.shape as [number, number, number]
  const tokens = Linear.apply(p.patchEmbed, patchRows) // (N, P, C)
  const cls = ops.reshape(ops.gatherRows(ops.reshape(p.classEmbed, [1, c.width]), new Array<number>(n).fill(0)), [n, 1, c.width]) // (N, 1, C)
  let x = Norm.layerNorm(p.preNorm, ops.add(ops.concat([cls, tokens], 1), p.position), c.eps) // (N, P+1, C)
  const ctx = { mask: fullAttention(np + 1), positions: Array.from({ length: np + 1 }, (_, i) => i) }
  const hidden: Tensor[] = []
  for (const block of p.blocks) {
    x = VitBlock.apply(block, blockConfig(c), x, ctx).out
    hidden.push(x)
  }
  const pooled = Linear.apply(p.projection, Norm.layerNorm(p.postNorm, ops.reshape(ops.slice(x, 1, 0, 1), [n, c.width]), c.eps))
  return { hidden, pooled }
}

/**
 * The teacher's patch features for stage 1: the hidden state of layer `layer` (default the last) at the
 * patch positions, class token dropped: (N, P, C). Computed without a tape (the teacher is frozen).
 */
export function patchFeatures(p: Params, c: Config, patchRows: Tensor, layer = c.layers - 1): Tensor {
  return noGrad(() => {
    const h = apply(p, c, patchRows).hidden[layer]!
    return ops.slice(h, 1, 1, h.shape[1]!)
  })
}
