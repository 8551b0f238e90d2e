/**
 * A small Llama-style causal language model: the LLM whose weights HaploVL's post-decoder inherits, and
 * whose (frozen) embedding table W is HaploVL's text embedding and stage-1 text teacher.
 *   ids → W[ids] (N, C) → Llama blocks (causal mask, RoPE) → final RMSNorm → LM head (untied) → logits (B, T, V)
 */
import { ops, type Tensor } from '../../autograd/index.ts'
import * as Embedding from '../nn/embedding.ts'
import * as Linear from '../nn/linear.ts'
import * as Norm from '../nn/norm.ts'
import * as LlamaBlock from '../nn/llama-block.ts'
import * as Attention from '../nn/attention.ts'
import * as Random from '../random.ts'
import { causal } from '../nn/masks.ts'

export interface Config {
  readonly vocab: number
  readonly width: number
  readonly layers: number
  readonly heads: number
  readonly kvHeads: number
  readonly mlpWidth: number
  readonly ropeTheta: number
  readonly eps: number
}

/** Everything after the input embedding: what HaploVL's post-decoder inherits. */
export type Decoder = {
  readonly blocks: readonly LlamaBlock.Params[]
  readonly norm: Norm.RmsNormParams
  readonly lmHead: Linear.Params // [V, C], no bias
}

export type Params = Decoder & {
  readonly embed: Embedding.Params // W: [V, C]
}

export const blockConfig = (c: Config): LlamaBlock.Config => ({
  width: c.width, heads: c.heads, kvHeads: c.kvHeads, mlpWidth: c.mlpWidth, ropeTheta: c.ropeTheta, eps: c.eps,
})

export function init(key: Random.Key, c: Config): Params {
  const [ke, kb, kh] = Random.split(key, 3)
  return {
    // a small std keeps the initial logits near uniform for a narrow model
    embed: Embedding.init(ke!, { vocab: c.vocab, width: c.width, std: 0.02 * Math.sqrt(c.width / 16) }),
    blocks: Random.split(kb!, c.layers).map((k) => LlamaBlock.init(k, blockConfig(c))),
    norm: Norm.initRmsNorm(c.width),
    lmHead: Linear.init(kh!, { inFeatures: c.width, outFeatures: c.vocab, bias: false }),
  }
}

/** Run the blocks, final norm and head over embeddings x (B, T, C) with the given mask and positions. */
export function decode(
  p: Decoder, c: Config, x: Tensor,
  ctx: { readonly mask: Tensor; readonly positions: readonly number[]; readonly caches?: readonly Attention.Cache[]; readonly withWeights?: boolean },
): { logits: Tensor; caches: Attention.Cache[]; weights?: Tensor[] } {
  const caches: Attention.Cache[] = [], weights: Tensor[] = []
  let h = x
  p.blocks.forEach((block, l) => {
    const cache = ctx.caches?.[l]
    const out = LlamaBlock.apply(block, blockConfig(c), h, { mask: ctx.mask, positions: ctx.positions, ...(cache ? { cache } : {}), withWeights: ctx.withWeights ?? false })
    caches.push(out.cache)
    if (out.weights) weights.push(out.weights)
    h = out.out
  })
  return { logits: Linear.apply(p.lmHead, Norm.rmsNorm(p.norm, h, c.eps)), caches, ...(ctx.withWeights ? { weights } : {}) }
}

/** Token ids (B rows of T) → logits (B, T, V), causal. */
export function apply(p: Params, c: Config, ids: readonly (readonly number[])[]): Tensor {
  const b = ids.length, t = ids[0]!.length
  const x = ops.reshape(Embedding.apply(p.embed, ids.flat()), [b, t, c.width])
  return decode(p, c, x, { mask: causal(t), positions: Array.from({ length: t }, (_, i) => i) }).logits
}
