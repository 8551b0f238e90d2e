/**
 * A small CLIP-style text tower: the text half of the contrastive teacher.
 *   ids (B rows of T) → W[ids] + learned positions (T of `context`) → pre-LN blocks (causal mask, QuickGELU MLP)
 *   → final LayerNorm → hidden states (B, T, C)
 *   pooled = hidden[b, last token of row b] · projection      (B, E)
 * CLIP pools at the end-of-text token, the last token of every caption; here the caller ends each row with its
 * end token and the tower pools at the last position of each (unpadded) row. Rows are padded on the right to the
 * longest one; the causal mask keeps the padding out of every position the pooling reads.
 * Unlike the vision tower there is no pre-LayerNorm (CLIP's text model has none).
 */
import { ops, type Tensor } from '../../autograd/index.ts'
import * as Embedding from '../nn/embedding.ts'
import * as Linear from '../nn/linear.ts'
import * as Norm from '../nn/norm.ts'
import * as VitBlock from '../nn/vit-block.ts'
import * as Random from '../random.ts'
import { causal } from '../nn/masks.ts'

export type Config = {
  readonly vocab: number
  /** the longest token row (CLIP: 77) */
  readonly context: number
  readonly width: number
  readonly layers: number
  readonly heads: number
  readonly mlpWidth: number
  /** width of the shared image–text embedding space */
  readonly embedWidth: number
  readonly eps: number
}

export type Params = {
  readonly tokenEmbed: Embedding.Params // [V, C]
  readonly position: Tensor // [context, C]
  readonly blocks: readonly VitBlock.Params[]
  readonly finalNorm: Norm.LayerNormParams
  readonly projection: Linear.Params // [E, C], no bias
}

export const blockConfig = (c: Config): VitBlock.Config => ({
  width: c.width, heads: c.heads, mlpWidth: c.mlpWidth, activation: 'quick-gelu', ropeTheta: null, eps: c.eps,
})

export function init(key: Random.Key, c: Config): Params {
  const [ke, kpos, kb, kproj] = Random.split(key, 4)
  // CLIP's initialisation: token embeddings N(0, 0.02²), positions N(0, 0.01²)
  return {
    tokenEmbed: Embedding.init(ke!, { vocab: c.vocab, width: c.width, std: 0.02 }),
    position: Random.normal(kpos!, [c.context, c.width], 0.01),
    blocks: Random.split(kb!, c.layers).map((k) => VitBlock.init(k, blockConfig(c))),
    finalNorm: Norm.initLayerNorm(c.width),
    projection: Linear.init(kproj!, { inFeatures: c.width, outFeatures: c.embedWidth, bias: false }),
  }
}

export type Output = {
  /** final-normalised hidden states (B, T, C); positions past a row's end hold padding */
  readonly hidden: Tensor
  /** the projected hidden state at each row's last token (B, E) */
  readonly pooled: Tensor
}

/** Row b pooled at position `lengths[b] − 1`: flat row index b·T + lengths[b] − 1 of the (B·T, C) states. */
export const poolIndices = (lengths: readonly number[], t: number): number[] => lengths.map((n, b) => b * t + n - 1)

/** rows: B token-id lists of 1 … context ids each, every one ending with the end-of-text token. */
export function apply(p: Params, c: Config, rows: readonly (readonly number[])[]): Output {
  if (rows.length === 0) throw new Error('text tower: no rows')
  const lengths = rows.map((r) => r.length)
  const t = Math.max(...lengths)
  if (Math.min(...lengths) < 1 || t > c.context) throw new Error(`text tower: row lengths must lie in [1, ${c.context}], got [${Math.min(...lengths)}, ${t}]`)
  const b = rows.length
  // right padding with id 0: under the causal mask no real position attends it
  const ids = rows.flatMap((r) => [...r, ...new Array<number>(t - r.length).fill(0)])
  let x = ops.add(ops.reshape(Embedding.apply(p.tokenEmbed, ids), [b, t, c.width]), ops.slice(p.position, 0, 0, t)) // (B, T, C)
  const ctx = { mask: causal(t), positions: Array.from({ length: t }, (_, i) => i) }
  for (const block of p.blocks) x = VitBlock.apply(block, blockConfig(c), x, ctx).out // (B, T, C)
  const hidden = Norm.layerNorm(p.finalNorm, x, c.eps) // (B, T, C)
  const last = ops.gatherRows(ops.reshape(hidden, [b * t, c.width]), poolIndices(lengths, t)) // (B, C)
  return { hidden, pooled: Linear.apply(p.projection, last) } // pooled: (B, E)
}
