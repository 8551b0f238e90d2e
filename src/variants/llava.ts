/**
 * LLaVA-1.5 (MODEL_SPEC §4), the paper's compositional baseline, at tiny scale. Top to bottom:
 *
 *   image ──► k×k patches ──► frozen ViT (bidirectional, with its class token) ──► hidden state of layer
 *             `selectLayer` (LLaVA: the penultimate), class token dropped                     (N, P, Cvit)
 *         ──► projector  Linear(Cvit → Cllm) ─ GELU ─ Linear(Cllm → Cllm)                      (N, P, Cllm)
 *   text ids ──► W (the LLM's table); the image placeholder positions take the projected tokens (B, T, Cllm)
 *         ──► LLM blocks (plain causal mask, 1-D RoPE) ──► RMSNorm ──► LM head ──► logits         (B, T, V)
 *
 * Late fusion: the image is encoded alone, then handed to the LLM as P input embeddings.
 * Stages: (1) the projector alone, next-token on captions; (2) projector + LLM, next-token on instructions.
 * The ViT is frozen in both: its features are computed without a tape, once per batch if the caller wishes
 * (`features`, passed back through `Options`).
 */
import type { Either } from 'fp-ts/lib/Either.js'
import { ops, noGrad, type Tensor } from '../../autograd/index.ts'
import * as Linear from '../nn/linear.ts'
import * as Mlp from '../nn/mlp.ts'
import type * as Attention from '../nn/attention.ts'
import * as Llm from '../parents/llm.ts'
import * as VisionTower from '../parents/vision-tower.ts'
import { patchify } from '../parents/patches.ts'
import { nextToken } from '../losses/next-token.ts'
import * as Presets from '../optim/presets.ts'
import * as Random from '../random.ts'
import * as HaploConfig from '../haplovl/config.ts'
import * as Sequence from '../haplovl/sequence.ts'
import type * as Generate from '../haplovl/generate.ts'
import { type Check, type Stage, firstFailure, inputEmbeddings, llmChecks, positiveInt, tableGeneration } from './common.ts'

// ---------------------------------------------------------------------------------------------------------------
// config
// ---------------------------------------------------------------------------------------------------------------

export interface Config {
  readonly name: string
  /** the vision tower: the same CLIP-style ViT HaploVL's teacher is */
  readonly vision: VisionTower.Config
  readonly llm: Llm.Config
  /** which ViT layer's hidden states feed the projector (0-based; LLaVA-1.5: the penultimate) */
  readonly selectLayer: number
  /** longest sequence a batch may hold */
  readonly maxTokens: number
}

/** For tests: HaploVL's micro parents; the penultimate of 2 layers. */
export const micro: Config = { name: 'llava-micro', vision: HaploConfig.micro.vision, llm: HaploConfig.micro.llm, selectLayer: 0, maxTokens: 64 }

/** MODEL_SPEC §7: ViT 4 × 64 (64 patches of a 32×32 image), LLM 4 × 128; the penultimate layer, index 2. */
export const tiny: Config = { name: 'llava-tiny', vision: HaploConfig.tiny.vision, llm: HaploConfig.tiny.llm, selectLayer: 2, maxTokens: 256 }

export const presets = { micro, tiny } as const

/** One token per ViT patch: the patch grid, no separators, the plain causal mask. */
export const layout = (c: Config): Sequence.Layout => ({
  vocab: c.llm.vocab, imageSize: c.vision.imageSize, grid: c.vision.imageSize / c.vision.patch, rowSeparator: 'none', mask: 'causal', maxTokens: c.maxTokens,
})

export const imageTokens = (c: Config): number => Sequence.tokensPerImage(layout(c))

export function validate(c: Config): Either<string, Config> {
  const checks: Check[] = [
    ...(['imageSize', 'patch', 'width', 'layers', 'heads', 'mlpWidth', 'embedWidth'] as const).map(
      (f): Check => [positiveInt(c.vision[f]), `vision.${f} must be a positive integer, got ${c.vision[f]}`]),
    [c.vision.imageSize % c.vision.patch === 0, `vision.imageSize ${c.vision.imageSize} must be a multiple of vision.patch ${c.vision.patch}`],
    [c.vision.width % c.vision.heads === 0, `vision.width ${c.vision.width} must be a multiple of vision.heads ${c.vision.heads}`],
    [c.vision.eps > 0, 'vision.eps must be positive'],
    ...llmChecks(c.llm),
    [Number.isInteger(c.selectLayer) && c.selectLayer >= 0 && c.selectLayer < c.vision.layers,
      `selectLayer must be in [0, ${c.vision.layers - 1}], got ${c.selectLayer}`],
    [positiveInt(c.maxTokens) && c.maxTokens >= imageTokens(c) + 1, `maxTokens ${c.maxTokens} must hold at least one image and one token (${imageTokens(c) + 1})`],
  ]
  return firstFailure(c, checks)
}

// ---------------------------------------------------------------------------------------------------------------
// parameters
// ---------------------------------------------------------------------------------------------------------------

/** LLaVA-1.5's `mlp2x_gelu`. */
export type Projector = {
  readonly fc1: Linear.Params // [Cllm, Cvit]
  readonly fc2: Linear.Params // [Cllm, Cllm]
}

export type Params = {
  readonly vision: VisionTower.Params // frozen in every stage
  readonly projector: Projector
  readonly llm: Llm.Params
}

/** The ViT and the LLM as they are; the projector new (PyTorch's nn.Linear initialisation). */
export function fromParents(key: Random.Key, c: Config, vit: VisionTower.Params, llm: Llm.Params): Params {
  const [k1, k2] = Random.split(key)
  return {
    vision: vit,
    projector: {
      fc1: Linear.init(k1!, { inFeatures: c.vision.width, outFeatures: c.llm.width }),
      fc2: Linear.init(k2!, { inFeatures: c.llm.width, outFeatures: c.llm.width }),
    },
    llm,
  }
}

/** Parents drawn at random, then assembled. */
export function init(key: Random.Key, c: Config): Params {
  const [kv, kl, k] = Random.split(key, 3)
  return fromParents(k!, c, VisionTower.init(kv!, c.vision), Llm.init(kl!, c.llm))
}

// ---------------------------------------------------------------------------------------------------------------
// forward
// ---------------------------------------------------------------------------------------------------------------

export const assemble = (samples: readonly Sequence.Sample[], c: Config, special: Sequence.SpecialIds, lengthStep?: number): Either<string, Sequence.Batch> =>
  Sequence.assemble(samples, layout(c), special, lengthStep)

/** The frozen ViT's layer-`selectLayer` patch features of the batch's images (Nimg, P, Cvit), without a tape; null without images. */
export function features(p: Params, c: Config, batch: Sequence.Batch): Tensor | null {
  if (batch.images.length === 0) return null
  return VisionTower.patchFeatures(p.vision, c.vision, patchify(batch.images, c.vision.imageSize, c.vision.patch), c.selectLayer)
}

/** x: (…, Cvit) → (…, Cllm): fc2(GELU(fc1 x)), the exact (erf) GELU as PyTorch's nn.GELU. */
export const project = (p: Projector, x: Tensor): Tensor => Linear.apply(p.fc2, Mlp.activate(Linear.apply(p.fc1, x), 'gelu'))

/** The visual tokens the LLM reads for some images: (N, P, Cllm), without a tape (HoVLE's distillation target). */
export const visualTokens = (p: Params, c: Config, images: readonly Float32Array[]): Tensor =>
  noGrad(() => project(p.projector, VisionTower.patchFeatures(p.vision, c.vision, patchify(images, c.vision.imageSize, c.vision.patch), c.selectLayer)))

export interface Options {
  /** the batch's ViT features from `features` (they never change: the ViT is frozen); computed when absent */
  readonly features?: Tensor | null
}

export type Output = Generate.Step

/** The LLM input sequence (B, T, Cllm): W rows at text and padding, projected visual tokens at image positions. */
export function embed(p: Params, c: Config, batch: Sequence.Batch, o: Options = {}): Tensor {
  const f = o.features !== undefined ? o.features : features(p, c, batch) // (Nimg, P, Cvit)
  const visual = f ? ops.reshape(project(p.projector, f), [-1, c.llm.width]) : null // (Nimg·P, Cllm)
  return inputEmbeddings(p.llm.embed.weight, batch, visual)
}

/** The LLM on embedded inputs x (B, T, Cllm), continuing from `caches` when given. */
export function decode(p: Params, c: Config, x: Tensor, mask: Tensor, positions: readonly number[], caches?: readonly Attention.Cache[]): Output {
  return Llm.decode(p.llm, c.llm, x, { mask, positions, ...(caches ? { caches } : {}) })
}

export const forward = (p: Params, c: Config, batch: Sequence.Batch, o: Options = {}): Output =>
  decode(p, c, embed(p, c, batch, o), batch.mask, batch.positions)

// ---------------------------------------------------------------------------------------------------------------
// training
// ---------------------------------------------------------------------------------------------------------------

/** Both stages: next-token prediction on the batch's loss-marked text tokens. */
export const loss = (p: Params, c: Config, batch: Sequence.Batch, o: Options = {}): Tensor =>
  nextToken(forward(p, c, batch, o).logits, batch.targets)

/**
 * Stage 1: the projector alone on captions (LLaVA-1.5: lr 1e-3, batch 256, wd 0, 3% warm-up, cosine, one epoch
 * of 558K; `Presets.align` holds exactly this). Stage 2: projector + LLM on instructions (lr 2e-5, batch 128,
 * wd 0, 3% warm-up, cosine, one epoch of 665K = 5198 steps; β and eps: the trainer's defaults).
 */
export const stages = {
  projector: { name: 'llava-projector', trainable: Presets.only(['projector']), preset: { ...Presets.align, name: 'llava-projector' } },
  instruct: {
    name: 'llava-instruct',
    trainable: Presets.allExcept(['vision']),
    preset: { ...Presets.stage2, name: 'llava-instruct', beta2: 0.999, steps: Math.ceil(665_000 / 128) },
  },
} as const satisfies Record<string, Stage>

// ---------------------------------------------------------------------------------------------------------------
// generation
// ---------------------------------------------------------------------------------------------------------------

/** A new token is its W row; every LLM layer runs with its cache. */
export const { decoder, generate } = tableGeneration<Params, Config>({ assemble, forward, decode })
