/**
 * HaploVL (the paper's Figure 3), top to bottom:
 *
 *   text ids ──► W (frozen LLM table) ──► text projector ─┐
 *                                                          ├─► one mixed sequence ─► pre-LayerNorm
 *   image ──► k×k patches ──► linear ──► + positions ──────┘        (B, T, Cpre)
 *     ─► pre-decoder: ViT blocks with RoPE and the mixed mask      (B, T, Cpre)   ← stage-1 losses read here
 *     ─► connector (linear, no bias)                               (B, T, Cllm)
 *     ─► post-decoder: the LLM's blocks, same mask, final RMSNorm, LM head → logits (B, T, V)
 *
 * Early fusion: text tokens meet raw patch embeddings from the first pre-decoder layer on.
 */
import { ops, Tensor } from '../../autograd/index.ts'
import * as Linear from '../nn/linear.ts'
import * as Norm from '../nn/norm.ts'
import * as VitBlock from '../nn/vit-block.ts'
import type * as Attention from '../nn/attention.ts'
import * as Llm from '../parents/llm.ts'
import { patchify } from '../parents/patches.ts'
import { type Config, patchesPerImage } from './config.ts'
import { type Batch, Kind } from './sequence.ts'

// ---------------------------------------------------------------------------------------------------------------
// parameters
// ---------------------------------------------------------------------------------------------------------------

export type Embed = {
  readonly patch: Linear.Params // [Cpre, 3k²], no bias: the stride-k convolution
  readonly position: Tensor // [P, Cpre], learned, inherited from the ViT (its class slot dropped)
  readonly newline?: Tensor // [Cpre], when rowNewline
  readonly tokens: Tensor // W: [V, Cllm], the LLM's input table, frozen
  readonly textProjector: Linear.Params // [Cpre, Cllm]
  readonly preNorm: Norm.LayerNormParams // the ViT's pre-LayerNorm, over the whole mixed sequence
}

export type Params = {
  readonly embed: Embed
  readonly preDecoder: readonly VitBlock.Params[]
  readonly connector: Linear.Params // [Cllm, Cpre], no bias
  readonly postDecoder: Llm.Decoder // the LLM's blocks, final norm and LM head
}

export const preBlockConfig = (c: Config): VitBlock.Config => ({
  width: c.vision.width, heads: c.vision.heads, mlpWidth: c.vision.mlpWidth, activation: 'quick-gelu', ropeTheta: c.preRopeTheta, eps: c.vision.eps,
})

// ---------------------------------------------------------------------------------------------------------------
// embedding layers
// ---------------------------------------------------------------------------------------------------------------

/**
 * The mixed input sequence (B, T, Cpre). Text rows, image rows, the newline row and a zero row for padding are
 * stacked into one table; one gather puts each at its position (the gather's backward scatters gradients back).
 */
export function embed(p: Embed, c: Config, batch: Batch): Tensor {
  const cPre = c.vision.width
  const textAt: number[] = [], textIds: number[] = []
  batch.kind.forEach((k, i) => { if (k === Kind.text) textAt.push(i), textIds.push(batch.ids[i]!) })
  const parts: Tensor[] = []
  if (textIds.length > 0) parts.push(Linear.apply(p.textProjector, ops.gatherRows(p.tokens, textIds))) // (Nt, Cpre)
  const nImages = batch.images.length, np = patchesPerImage(c)
  if (nImages > 0) {
    const patches = Linear.apply(p.patch, patchify(batch.images, c.vision.imageSize, c.vision.patch)) // (N, P, Cpre)
    parts.push(ops.reshape(ops.add(patches, p.position), [nImages * np, cPre]))
  }
  if (p.newline) parts.push(ops.reshape(p.newline, [1, cPre]))
  parts.push(new Tensor(new Float32Array(cPre), [1, cPre])) // padding
  // row of the stacked table for each position
  const imageBase = textIds.length, newlineRow = imageBase + nImages * np, padRow = newlineRow + (p.newline ? 1 : 0)
  let nextText = 0
  const rows = Array.from(batch.kind, (k, i) =>
    k === Kind.text ? nextText++
    : k === Kind.patch ? imageBase + batch.imageOf[i]! * np + batch.patchOf[i]!
    : k === Kind.newline ? newlineRow
    : padRow)
  const sequence = ops.gatherRows(ops.concat(parts, 0), rows) // (B·T, Cpre)
  return ops.reshape(Norm.layerNorm(p.preNorm, sequence, c.vision.eps), [batch.b, batch.t, cPre])
}

// ---------------------------------------------------------------------------------------------------------------
// the decoder stack
// ---------------------------------------------------------------------------------------------------------------

export interface Options {
  /** stop after the pre-decoder (stage 1 needs nothing else) */
  readonly preDecoderOnly?: boolean
  /** return each layer's attention weights (B, H, T, T), pre-decoder then post-decoder (as `caches`) */
  readonly withAttention?: boolean
  /** KV caches from an earlier call, one per layer of the whole stack (pre then post), for decoding */
  readonly caches?: readonly Attention.Cache[]
}

export interface Output {
  readonly preHidden: Tensor // (B, T, Cpre): the pre-decoder's output H_m
  readonly logits?: Tensor // (B, T, V)
  readonly attention?: readonly Tensor[]
  readonly caches: readonly Attention.Cache[]
}

/** Run the stack on already embedded inputs x (B, T, Cpre) with the batch's mask and positions. */
export function decode(p: Params, c: Config, x: Tensor, mask: Tensor, positions: readonly number[], o: Options = {}): Output {
  const caches: Attention.Cache[] = [], attention: Tensor[] = []
  let h = x
  p.preDecoder.forEach((block, l) => {
    const cache = o.caches?.[l]
    const out = VitBlock.apply(block, preBlockConfig(c), h, { mask, positions, ...(cache ? { cache } : {}), withWeights: o.withAttention ?? false })
    h = out.out
    caches.push(out.cache)
    if (out.weights) attention.push(out.weights)
  })
  const preHidden = h
  const withAttention = o.withAttention ? { attention } : {}
  if (o.preDecoderOnly) return { preHidden, caches, ...withAttention }
  const post = Llm.decode(p.postDecoder, c.llm, Linear.apply(p.connector, preHidden), {
    mask, positions, ...(o.caches ? { caches: o.caches.slice(p.preDecoder.length) } : {}), withWeights: o.withAttention ?? false,
  })
  return { preHidden, logits: post.logits, caches: [...caches, ...post.caches], ...(o.withAttention ? { attention: [...attention, ...post.weights!] } : {}) }
}

/** The whole model on an assembled batch. */
export const forward = (p: Params, c: Config, batch: Batch, o: Options = {}): Output =>
  decode(p, c, embed(p.embed, c, batch), batch.mask, batch.positions, o)
