/**
 * HoVLE (MODEL_SPEC §2) at tiny scale: a holistic embedding module in front of an unchanged LLM.
 *
 *   image ──► k×k patches ──► Linear(3k² → Cllm, with bias) + learned positions                (N, P, Cllm)
 *         ──► [pixel shuffle: each 2×2 block's four tokens side by side → (N, P/4, 4Cllm)
 *              ──► Linear(4Cllm → Cllm) ─ GELU ─ Linear(Cllm → Cllm)]                         (N, G², Cllm)
 *   text ids ──► the module's own copy of the LLM's table; image placeholders take the rows above (B, T, Cllm)
 *         ──► embedding module: Llama blocks at LLM width, causal mask, 1-D RoPE               (B, T, Cllm)
 *             (its whole output sequence replaces the LLM's input embeddings; W is bypassed)
 *         ──► LLM blocks (causal, RoPE) ──► RMSNorm ──► LM head ──► logits                       (B, T, V)
 *
 * Stages: (a) distillation, the module alone: image positions regress a teacher's visual tokens, text positions
 * regress the LLM's input embedding of the same token (context-free targets, so random images and random ids
 * serve); (b) alignment, next-token with the LLM frozen; (c) everything, next-token.
 *
 * Choices where the sources are silent (MODEL_SPEC §2 marks them UNKNOWN or INFERRED):
 * - Distillation loss: HaploVL's L_feat form, 1 + mean(‖ŷ − y‖₂ − cos(ŷ, y)), for the image positions and for
 *   the text positions, summed (no weights). No head: the module's output itself is what the LLM reads.
 * - Image teacher: the tiny LLaVA's visual tokens (ViT → projector; the analogue of InternVL2's visual tokens),
 *   average-pooled over 2×2 blocks when the teacher's grid is twice the module's (tiny: 64 → 16). Without a
 *   trained LLaVA projector, `projectedTeacher` gives the teacher ViT's features through a fixed random
 *   projection to Cllm: the module then learns to carry the ViT's information at LLM width, but not in a form
 *   the LLM was taught to read, which stage (b) then has to supply.
 * - No final norm on the module and no L2 normalisation of its output (HoVLE's default is off).
 * - The module's blocks start random (HoVLE trains them from scratch by distillation); its text table starts
 *   as a copy of the LLM's; the LLM's own table stays frozen in every stage (the text target; unused otherwise).
 * - Positions N(0, 1/Cllm) as the vision tower's; linear layers as PyTorch's nn.Linear.
 */
import type { Either } from 'fp-ts/lib/Either.js'
import { ops, noGrad, stopGradient, Tensor, type WithAux } from '../../autograd/index.ts'
import * as Linear from '../nn/linear.ts'
import * as Mlp from '../nn/mlp.ts'
import * as LlamaBlock from '../nn/llama-block.ts'
import type * as Attention from '../nn/attention.ts'
import * as Llm from '../parents/llm.ts'
import * as VisionTower from '../parents/vision-tower.ts'
import { patchify } from '../parents/patches.ts'
import { textFeature } from '../losses/distillation.ts'
import { nextToken } from '../losses/next-token.ts'
import * as Presets from '../optim/presets.ts'
import * as Random from '../random.ts'
import * as HaploConfig from '../haplovl/config.ts'
import * as Sequence from '../haplovl/sequence.ts'
import * as Generate from '../haplovl/generate.ts'
import * as Llava from './llava.ts'
import { type Check, type Stage, firstFailure, inputEmbeddings, llmChecks, llmVariant, positiveInt } from './common.ts'

// ---------------------------------------------------------------------------------------------------------------
// config
// ---------------------------------------------------------------------------------------------------------------

export interface Config {
  readonly name: string
  /** side of the square input images, in pixels */
  readonly imageSize: number
  readonly patch: number
  /** merge each 2×2 block of patches into one token before the module (HoVLE's `pre` pixel shuffle) */
  readonly pixelShuffle: boolean
  /** Llama blocks in the embedding module (HoVLE: 8, against 24 in the LLM) */
  readonly embedLayers: number
  readonly llm: Llm.Config
  readonly maxTokens: number
}

/** For tests: 8×8 images in 2×2-px patches (a 4×4 grid), shuffled to 2×2 tokens: LLaVA micro's grid. */
export const micro: Config = { name: 'hovle-micro', imageSize: 8, patch: 2, pixelShuffle: true, embedLayers: 1, llm: HaploConfig.micro.llm, maxTokens: 64 }

/** MODEL_SPEC §7: patch 4 → 8×8 patches, shuffled to 16 tokens per 32×32 image; one module layer × 128. */
export const tiny: Config = { name: 'hovle-tiny', imageSize: 32, patch: 4, pixelShuffle: true, embedLayers: 1, llm: HaploConfig.tiny.llm, maxTokens: 256 }

export const presets = { micro, tiny } as const

/** Side of the patch grid, and of the token grid the module sees (halved by the pixel shuffle). */
export const patchGrid = (c: Config): number => c.imageSize / c.patch
export const grid = (c: Config): number => patchGrid(c) / (c.pixelShuffle ? 2 : 1)

export const layout = (c: Config): Sequence.Layout => ({
  vocab: c.llm.vocab, imageSize: c.imageSize, grid: grid(c), rowSeparator: 'none', mask: 'causal', maxTokens: c.maxTokens,
})

export const imageTokens = (c: Config): number => Sequence.tokensPerImage(layout(c))

export function validate(c: Config): Either<string, Config> {
  const checks: Check[] = [
    [positiveInt(c.imageSize) && positiveInt(c.patch) && c.imageSize % c.patch === 0, `imageSize ${c.imageSize} must be a positive multiple of patch ${c.patch}`],
    [!c.pixelShuffle || patchGrid(c) % 2 === 0, `the pixel shuffle needs an even patch grid, got ${patchGrid(c)}×${patchGrid(c)}`],
    [positiveInt(c.embedLayers), `embedLayers must be a positive integer, got ${c.embedLayers}`],
    ...llmChecks(c.llm),
    [positiveInt(c.maxTokens) && c.maxTokens >= imageTokens(c) + 1, `maxTokens ${c.maxTokens} must hold at least one image and one token (${imageTokens(c) + 1})`],
  ]
  return firstFailure(c, checks)
}

/**
 * The cells of a g×g raster grid, f×f block by f×f block (blocks in raster order, each block's f² cells in
 * raster order): block (i, j), cell (dy, dx) → (f·i + dy)·g + f·j + dx. For f = 2 this is InternVL's pixel
 * shuffle order: top-left, top-right, bottom-left, bottom-right.
 */
export function blockOrder(g: number, f: number): number[] {
  const out: number[] = [], b = g / f
  for (let i = 0; i < b; i++)
    for (let j = 0; j < b; j++)
      for (let dy = 0; dy < f; dy++)
        for (let dx = 0; dx < f; dx++) out.push((f * i + dy) * g + f * j + dx)
  return out
}

/** For n grids of g×g rows stacked (n·g², C): the row indices of `blockOrder`, grid after grid. */
const stackedBlockOrder = (n: number, g: number, f: number): number[] => {
  const order = blockOrder(g, f)
  return Array.from({ length: n }, (_, k) => order.map((q) => k * g * g + q)).flat()
}

// ---------------------------------------------------------------------------------------------------------------
// parameters
// ---------------------------------------------------------------------------------------------------------------

/** HoVLE's `pixel_shuffle_proj`. */
export type Shuffle = {
  readonly fc1: Linear.Params // [Cllm, 4·Cllm]
  readonly fc2: Linear.Params // [Cllm, Cllm]
}

/** The holistic embedding module. */
export type Embedding = {
  readonly tokens: Tensor // [V, Cllm], its own copy of the LLM's table
  readonly patch: Linear.Params // [Cllm, 3k²], with bias: the stride-k convolution
  readonly position: Tensor // [P, Cllm], one per patch (before the shuffle)
  readonly shuffle?: Shuffle // when pixelShuffle
  readonly blocks: readonly LlamaBlock.Params[]
}

export type Params = {
  readonly embedding: Embedding
  readonly llm: Llm.Params
}

export function fromParents(key: Random.Key, c: Config, llm: Llm.Params): Params {
  const [kp, kpos, k1, k2, kb] = Random.split(key, 5)
  const w = c.llm.width
  return {
    embedding: {
      tokens: new Tensor(llm.embed.weight.data.slice(), llm.embed.weight.shape), // a copy: the two tables part in training
      patch: Linear.init(kp!, { inFeatures: 3 * c.patch * c.patch, outFeatures: w }),
      position: Random.normal(kpos!, [patchGrid(c) ** 2, w], 1 / Math.sqrt(w)),
      ...(c.pixelShuffle ? { shuffle: { fc1: Linear.init(k1!, { inFeatures: 4 * w, outFeatures: w }), fc2: Linear.init(k2!, { inFeatures: w, outFeatures: w }) } } : {}),
      blocks: Random.split(kb!, c.embedLayers).map((k) => LlamaBlock.init(k, Llm.blockConfig(c.llm))),
    },
    llm,
  }
}

export const { init, assemble } = llmVariant(fromParents, layout)

// ---------------------------------------------------------------------------------------------------------------
// forward
// ---------------------------------------------------------------------------------------------------------------

/** The module's image inputs: (N·G², Cllm), image after image, each in raster order of its token grid. */
export function imageEmbeddings(e: Embedding, c: Config, images: readonly Float32Array[]): Tensor {
  const n = images.length, np = patchGrid(c) ** 2, w = c.llm.width
  const x = ops.reshape(ops.add(Linear.apply(e.patch, patchify(images, c.imageSize, c.patch)), e.position), [n * np, w]) // (N·P, Cllm)
  if (!c.pixelShuffle) return x
  if (!e.shuffle) throw new Error(`hovle: config '${c.name}' shuffles pixels but the parameters have no shuffle projector`)
  // gather each 2×2 block's four rows together; a row-major reshape then lays them side by side
  const merged = ops.reshape(ops.gatherRows(x, stackedBlockOrder(n, patchGrid(c), 2)), [n * np / 4, 4 * w]) // (N·P/4, 4Cllm)
  return Linear.apply(e.shuffle.fc2, Mlp.activate(Linear.apply(e.shuffle.fc1, merged), 'gelu')) // (N·G², Cllm)
}

/** The module's input sequence (B, T, Cllm). */
export const embed = (e: Embedding, c: Config, batch: Sequence.Batch): Tensor =>
  inputEmbeddings(e.tokens, batch, batch.images.length > 0 ? imageEmbeddings(e, c, batch.images) : null)

export interface Options {
  /** stop after the embedding module (stage a needs nothing else) */
  readonly embeddingOnly?: boolean
  /** KV caches from an earlier call, one per layer of the whole stack (module then LLM), for decoding */
  readonly caches?: readonly Attention.Cache[]
}

export interface Output {
  readonly hidden: Tensor // (B, T, Cllm): the module's output, the LLM's input embeddings
  readonly logits?: Tensor // (B, T, V)
  readonly caches: readonly Attention.Cache[]
}

/** The module's blocks, then the LLM, on embedded inputs x (B, T, Cllm), the same mask and positions throughout. */
export function decode(p: Params, c: Config, x: Tensor, mask: Tensor, positions: readonly number[], o: Options = {}): Output {
  const caches: Attention.Cache[] = []
  let h = x
  p.embedding.blocks.forEach((block, l) => {
    const cache = o.caches?.[l]
    const out = LlamaBlock.apply(block, Llm.blockConfig(c.llm), h, { mask, positions, ...(cache ? { cache } : {}) })
    h = out.out
    caches.push(out.cache)
  })
  if (o.embeddingOnly) return { hidden: h, caches }
  const post = Llm.decode(p.llm, c.llm, h, { mask, positions, ...(o.caches ? { caches: o.caches.slice(p.embedding.blocks.length) } : {}) })
  return { hidden: h, logits: post.logits, caches: [...caches, ...post.caches] }
}

export const forward = (p: Params, c: Config, batch: Sequence.Batch, o: Options = {}): Output =>
  decode(p, c, embed(p.embedding, c, batch), batch.mask, batch.positions, o)

// ---------------------------------------------------------------------------------------------------------------
// distillation teachers
// ---------------------------------------------------------------------------------------------------------------

/** Pixel arrays → their visual tokens (N, Gt², Cllm) on a square grid, computed without a tape. */
export type Teacher = (images: readonly Float32Array[]) => Tensor

/** A tiny LLaVA's visual tokens (frozen ViT → projector): what its LLM reads for an image. */
export const llavaTeacher = (p: Llava.Params, c: Llava.Config): Teacher => (images) => Llava.visualTokens(p, c, images)

/** The teacher ViT's layer-`layer` patch features through a fixed random projection R (Cvit → width), R ~ N(0, 1/Cvit). */
export function projectedTeacher(key: Random.Key, vit: VisionTower.Params, vc: VisionTower.Config, layer: number, width: number): Teacher {
  const projection: Linear.Params = { weight: Random.normal(key, [width, vc.width], 1 / Math.sqrt(vc.width)) } // [width, Cvit]
  return (images) => noGrad(() => Linear.apply(projection, VisionTower.patchFeatures(vit, vc, patchify(images, vc.imageSize, vc.patch), layer)))
}

/**
 * The image targets of a batch (Nimg·G², Cllm), in the order of its image positions. A teacher grid f times
 * finer than the module's is average-pooled over f×f blocks (tiny LLaVA: 8×8 tokens → HoVLE's 4×4).
 */
export function imageTargets(teacher: Teacher, c: Config, batch: Sequence.Batch): Tensor | null {
  if (batch.images.length === 0) return null
  return noGrad(() => {
    const t = teacher(batch.images) // (N, Gt², Cllm)
    const [n, cells, w] = t.shape as [number, number, number]
    const gt = Math.round(Math.sqrt(cells)), g = grid(c), f = gt / g
    if (gt * gt !== cells || !Number.isInteger(f)) throw new Error(`hovle: a teacher grid of ${cells} tokens does not pool to the ${g}×${g} grid of config '${c.name}'`)
    const rows = ops.reshape(t, [n * cells, w])
    if (f === 1) return rows
    return ops.mean(ops.reshape(ops.gatherRows(rows, stackedBlockOrder(n, gt, f)), [n * g * g, f * f, w]), 1) // (N·G², Cllm)
  })
}

// ---------------------------------------------------------------------------------------------------------------
// training
// ---------------------------------------------------------------------------------------------------------------

export interface DistillTerms {
  readonly image: number
  readonly text: number
}

/** Stage (a): L = L_feat(module output at image positions, teacher tokens) + L_feat(at text positions, W[token]). */
export function distillLoss(p: Params, c: Config, batch: Sequence.Batch, targets: Tensor | null): WithAux<DistillTerms> {
  const h = ops.reshape(forward(p, c, batch, { embeddingOnly: true }).hidden, [-1, c.llm.width]) // (B·T, Cllm)
  const imageRows = Sequence.positionsOf(batch, Sequence.Kind.patch) // image by image, raster order: the targets' order
  const image = targets && imageRows.length > 0 ? textFeature(ops.gatherRows(h, imageRows), targets) : null
  const textRows = Sequence.positionsOf(batch, Sequence.Kind.text)
  const text = textRows.length > 0
    ? textFeature(ops.gatherRows(h, textRows), ops.gatherRows(stopGradient(p.llm.embed.weight), textRows.map((i) => batch.ids[i]!)))
    : null
  const terms = [image, text].filter((t): t is Tensor => t !== null)
  if (terms.length === 0) throw new Error('hovle distillLoss: the batch holds neither image nor text tokens')
  return { loss: terms.reduce((a, b) => ops.add(a, b)), aux: { image: image?.item() ?? 0, text: text?.item() ?? 0 } }
}

/** Stages (b) and (c): next-token prediction on loss-marked text through the module and the LLM. */
export const loss = (p: Params, c: Config, batch: Sequence.Batch): Tensor =>
  nextToken(forward(p, c, batch).logits!, batch.targets)

/**
 * HoVLE's optimiser settings are not in the sources read (MODEL_SPEC §2.2): the presets are borrowed from the
 * analogous HaploVL steps — feature distillation of the front (stage 1), the front aligned to a frozen LLM
 * (LLaVA-style alignment), full fine-tuning (stage 2).
 */
export const stages = {
  distill: { name: 'hovle-distill', trainable: Presets.only(['embedding']), preset: { ...Presets.stage1, name: 'hovle-distill' } },
  align: { name: 'hovle-align', trainable: Presets.only(['embedding']), preset: { ...Presets.align, name: 'hovle-align' } },
  finetune: { name: 'hovle-finetune', trainable: Presets.allExcept(['llm.embed']), preset: { ...Presets.stage2, name: 'hovle-finetune' } },
} as const satisfies Record<string, Stage>

// ---------------------------------------------------------------------------------------------------------------
// generation
// ---------------------------------------------------------------------------------------------------------------

/** A new token is its row of the module's table; the module's blocks and the LLM's run with their caches. */
export const decoder = (p: Params, c: Config, special: Sequence.SpecialIds): Generate.Decoder => {
  const step = (out: Output): Generate.Step => ({ logits: out.logits!, caches: out.caches })
  return {
    assemble: (sample) => assemble([sample], c, special),
    forward: (batch) => step(forward(p, c, batch)),
    embedToken: (id) => ops.reshape(ops.gatherRows(p.embedding.tokens, [id]), [1, 1, c.llm.width]),
    decode: (x, mask, positions, caches) => step(decode(p, c, x, mask, positions, { caches })),
    maxTokens: c.maxTokens,
  }
}

export const generate = (p: Params, c: Config, prompt: Sequence.Sample, special: Sequence.SpecialIds, o: Generate.Options): Either<string, Generate.Generated> =>
  Generate.decodeWith(decoder(p, c, special), prompt, o)
