/**
 * SOLO (MODEL_SPEC §3) at tiny scale: one LLM and a linear layer on raw pixels, no vision encoder, no teacher.
 *
 *   image ──► k×k patches, flattened channel-major                                             (N, P, 3k²)
 *         ──► Linear(3k² → Cllm, no bias), ADDED to W[<image>] (SOLO's <vpatch>)               (N, P, Cllm)
 *   text ids ──► W; between two rows of patches a row separator (<vrow_sep>)                   (B, T, Cllm)
 *         ──► LLM blocks (plain causal mask, 1-D RoPE only: no patch positions) ──► logits      (B, T, V)
 *
 * Spatial layout reaches the model only through raster order and the row separators. Every parameter trains in
 * every stage; the loss is next-token prediction on text only (image and separator positions are never targets;
 * SOLO's `<vision>` / `</vision>` markers, when a caller wants them, are text segments with loss off).
 *
 * The row separator is a learned vector of the model rather than a row of W: this project's tokenizer has a
 * fixed list of special tokens, and the separator is only ever an input (SOLO takes no loss on it), so a
 * vector and an embedding row behave the same.
 */
import type { Either } from 'fp-ts/lib/Either.js'
import { ops, type Tensor } from '../../autograd/index.ts'
import * as Linear from '../nn/linear.ts'
import type * as Attention from '../nn/attention.ts'
import * as Llm from '../parents/llm.ts'
import { patchify } from '../parents/patches.ts'
import { nextToken } from '../losses/next-token.ts'
import * as Presets from '../optim/presets.ts'
import * as Random from '../random.ts'
import * as HaploConfig from '../haplovl/config.ts'
import * as Sequence from '../haplovl/sequence.ts'
import type * as Generate from '../haplovl/generate.ts'
import { type Check, type Stage, firstFailure, inputEmbeddings, llmChecks, llmVariant, positiveInt, tableGeneration } from './common.ts'

// ---------------------------------------------------------------------------------------------------------------
// config
// ---------------------------------------------------------------------------------------------------------------

export interface Config {
  readonly name: string
  /** side of the square input images, in pixels */
  readonly imageSize: number
  /** side of a patch (SOLO: 32; tiny: 4, as the other models) */
  readonly patch: number
  readonly llm: Llm.Config
  /** a separator token between consecutive rows of patches (SOLO's <vrow_sep>) */
  readonly rowSeparators: boolean
  readonly maxTokens: number
}

/** For tests: 8×8 images, 2×2 patches of 4 px and one separator; HaploVL's micro LLM. */
export const micro: Config = { name: 'solo-micro', imageSize: 8, patch: 4, llm: HaploConfig.micro.llm, rowSeparators: true, maxTokens: 64 }

/** MODEL_SPEC §7: the tiny LLM 4 × 128 + Linear(4·4·3 = 48 → 128); 8 rows of 8 patches and 7 separators. */
export const tiny: Config = { name: 'solo-tiny', imageSize: 32, patch: 4, llm: HaploConfig.tiny.llm, rowSeparators: true, maxTokens: 256 }

export const presets = { micro, tiny } as const

export const layout = (c: Config): Sequence.Layout => ({
  vocab: c.llm.vocab, imageSize: c.imageSize, grid: c.imageSize / c.patch, rowSeparator: c.rowSeparators ? 'between' : 'none', mask: 'causal', maxTokens: c.maxTokens,
})

export const imageTokens = (c: Config): number => Sequence.tokensPerImage(layout(c))

export function validate(c: Config): Either<string, Config> {
  const checks: Check[] = [
    [positiveInt(c.imageSize) && positiveInt(c.patch) && c.imageSize % c.patch === 0, `imageSize ${c.imageSize} must be a positive multiple of patch ${c.patch}`],
    ...llmChecks(c.llm),
    [positiveInt(c.maxTokens) && c.maxTokens >= imageTokens(c) + 1, `maxTokens ${c.maxTokens} must hold at least one image and one token (${imageTokens(c) + 1})`],
  ]
  return firstFailure(c, checks)
}

// ---------------------------------------------------------------------------------------------------------------
// parameters
// ---------------------------------------------------------------------------------------------------------------

export type Params = {
  readonly patch: Linear.Params // [Cllm, 3k²], no bias (SOLO's embed_vision_patch)
  readonly rowSeparator?: Tensor // [Cllm], when rowSeparators
  readonly llm: Llm.Params
}

/**
 * The LLM as it is. New: the patch layer (PyTorch's nn.Linear initialisation, as SOLO's post_init leaves it)
 * and the separator, N(0, 0.02²) (Hugging Face's initializer_range for new embedding rows).
 */
export function fromParents(key: Random.Key, c: Config, llm: Llm.Params): Params {
  const [kp, ks] = Random.split(key)
  return {
    patch: Linear.init(kp!, { inFeatures: 3 * c.patch * c.patch, outFeatures: c.llm.width, bias: false }),
    ...(c.rowSeparators ? { rowSeparator: Random.normal(ks!, [c.llm.width], 0.02) } : {}),
    llm,
  }
}

export const { init, assemble } = llmVariant(fromParents, layout)

// ---------------------------------------------------------------------------------------------------------------
// forward
// ---------------------------------------------------------------------------------------------------------------

export type Output = Generate.Step

/**
 * The LLM input sequence (B, T, Cllm): x_i = W[id_i] + (W_p · patch_i at patch positions). Assembly writes the
 * image placeholder id (SOLO's <vpatch>) at every patch position, so a patch's row is W[<image>] + W_p · patch,
 * built once per patch and gathered into place.
 */
export function embed(p: Params, c: Config, batch: Sequence.Batch): Tensor {
  const first = batch.kind.indexOf(Sequence.Kind.patch)
  const patches = first >= 0
    ? ops.add(ops.reshape(Linear.apply(p.patch, patchify(batch.images, c.imageSize, c.patch)), [-1, c.llm.width]), ops.gatherRows(p.llm.embed.weight, [batch.ids[first]!])) // (N·P, Cllm)
    : null
  return inputEmbeddings(p.llm.embed.weight, batch, patches, p.rowSeparator ?? null)
}

export function decode(p: Params, c: Config, x: Tensor, mask: Tensor, positions: readonly number[], caches?: readonly Attention.Cache[]): Output {
  return Llm.decode(p.llm, c.llm, x, { mask, positions, ...(caches ? { caches } : {}) })
}

export const forward = (p: Params, c: Config, batch: Sequence.Batch): Output =>
  decode(p, c, embed(p, c, batch), batch.mask, batch.positions)

// ---------------------------------------------------------------------------------------------------------------
// training
// ---------------------------------------------------------------------------------------------------------------

/** Every stage: next-token prediction on loss-marked text tokens (never on image or separator positions). */
export const loss = (p: Params, c: Config, batch: Sequence.Batch): Tensor =>
  nextToken(forward(p, c, batch).logits, batch.targets)

/**
 * SOLO's pre-training stages share one optimiser (MODEL_SPEC §3.2): lr 5e-5 cosine to 5e-6, 200 warm-up
 * iterations, wd 0.1, Megatron's Adam defaults (0.9, 0.999, 1e-8), global batch 128 packed sequences; one
 * epoch each (1525 iterations on ImageNet-21K, 3481 on the web-scale mix). SFT: AdamW lr 1e-5, wd 0.05, 50
 * warm-up steps; SOLO decays it linearly, here by the presets' cosine; its step count is not given (one epoch;
 * 1000 stands in). The tiny curriculum (§7): class names → captions → instructions. All parameters train.
 */
const pretraining = (name: string, steps: number): Presets.Preset => ({
  name, paperLr: 5e-5, lrScale: 1, lr: 5e-5, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, batch: 128, steps,
  warmupFraction: 200 / steps, floorFraction: 0.1, trainable: { kind: 'all-except', of: Presets.allExcept },
})

export const stages = {
  classNames: { name: 'solo-class-names', trainable: Presets.allExcept([]), preset: pretraining('solo-class-names', 1525) },
  captions: { name: 'solo-captions', trainable: Presets.allExcept([]), preset: pretraining('solo-captions', 3481) },
  instruct: {
    name: 'solo-instruct',
    trainable: Presets.allExcept([]),
    preset: { ...pretraining('solo-instruct', 1000), paperLr: 1e-5, lr: 1e-5, weightDecay: 0.05, warmupFraction: 50 / 1000, floorFraction: 0 },
  },
} as const satisfies Record<string, Stage>

// ---------------------------------------------------------------------------------------------------------------
// generation
// ---------------------------------------------------------------------------------------------------------------

/** A new token is its W row; every LLM layer runs with its cache. */
export const { decoder, generate } = tableGeneration<Params, Config>({ assemble, forward, decode })
