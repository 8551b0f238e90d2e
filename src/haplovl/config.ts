/**
 * HaploVL's hyper-parameters: the image grid, the two parents it inherits from (a CLIP-style ViT for the
 * pre-decoder, a Llama-style LLM for the post-decoder) and the choices of DESIGN §6. Validated once, at the
 * boundary, with messages that name the field.
 */
import { type Either, left, right } from 'fp-ts/lib/Either.js'
import type * as VisionTower from '../parents/vision-tower.ts'
import type * as Llm from '../parents/llm.ts'

export interface Config {
  readonly name: string
  /** the teacher ViT, whose blocks, patch embedding, positions and pre-norm the pre-decoder inherits */
  readonly vision: VisionTower.Config
  /** the LLM, whose blocks, final norm, head and embedding table W the model inherits */
  readonly llm: Llm.Config
  /** RoPE base of the pre-decoder (its own head dim); DESIGN §6: 10000 */
  readonly preRopeTheta: number
  /** append a learned newline token after each row of patches (the release code's image_newline) */
  readonly rowNewline: boolean
  /** which teacher layer's patch features the vision head distils (0-based; default the last) */
  readonly teacherLayer: number
  /** longest sequence a batch may hold */
  readonly maxTokens: number
}

/** For tests: every dimension small enough for Float64 reference runs. 8×8 images, 2×2 patches of 4 px. */
export const micro: Config = {
  name: 'micro',
  vision: { imageSize: 8, patch: 4, width: 16, layers: 2, heads: 2, mlpWidth: 32, embedWidth: 16, eps: 1e-5 },
  llm: { vocab: 320, width: 24, layers: 2, heads: 2, kvHeads: 1, mlpWidth: 40, ropeTheta: 10000, eps: 1e-5 }, // holds a byte-level tokenizer
  preRopeTheta: 10000,
  rowNewline: false,
  teacherLayer: 1,
  maxTokens: 64,
}

/** The reproduction's scale: 32×32 images, patch 4 → 64 patches; pre-decoder 4 × 64, post-decoder 4 × 128. */
export const tiny: Config = {
  name: 'tiny',
  vision: { imageSize: 32, patch: 4, width: 64, layers: 4, heads: 4, mlpWidth: 256, embedWidth: 64, eps: 1e-5 },
  llm: { vocab: 512, width: 128, layers: 4, heads: 4, kvHeads: 4, mlpWidth: 344, ropeTheta: 10000, eps: 1e-5 },
  preRopeTheta: 10000,
  rowNewline: false,
  teacherLayer: 3,
  maxTokens: 256,
}

export const presets = { micro, tiny } as const

/** Patches per image, and the grid side. */
export const grid = (c: Config): number => c.vision.imageSize / c.vision.patch
export const patchesPerImage = (c: Config): number => grid(c) ** 2
/** Sequence positions an image takes (its patches, plus one newline per row when enabled). */
export const imageTokens = (c: Config): number => patchesPerImage(c) + (c.rowNewline ? grid(c) : 0)

const positiveInt = (v: number) => Number.isInteger(v) && v > 0

export function validate(c: Config): Either<string, Config> {
  const checks: [boolean, string][] = [
    ...(['imageSize', 'patch', 'width', 'layers', 'heads', 'mlpWidth', 'embedWidth'] as const).map(
      (f): [boolean, string] => [positiveInt(c.vision[f]), `vision.${f} must be a positive integer, got ${c.vision[f]}`]),
    ...(['vocab', 'width', 'layers', 'heads', 'kvHeads', 'mlpWidth'] as const).map(
      (f): [boolean, string] => [positiveInt(c.llm[f]), `llm.${f} must be a positive integer, got ${c.llm[f]}`]),
    [c.vision.imageSize % c.vision.patch === 0, `vision.imageSize ${c.vision.imageSize} must be a multiple of vision.patch ${c.vision.patch}`],
    [c.vision.width % c.vision.heads === 0 && (c.vision.width / c.vision.heads) % 2 === 0,
      `vision.width ${c.vision.width} / vision.heads ${c.vision.heads} must be an even integer (the pre-decoder applies RoPE)`],
    [c.llm.width % c.llm.heads === 0 && (c.llm.width / c.llm.heads) % 2 === 0, `llm.width ${c.llm.width} / llm.heads ${c.llm.heads} must be an even integer`],
    [c.llm.heads % c.llm.kvHeads === 0, `llm.heads ${c.llm.heads} must be a multiple of llm.kvHeads ${c.llm.kvHeads}`],
    [c.vision.eps > 0 && c.llm.eps > 0, 'vision.eps and llm.eps must be positive'],
    [c.preRopeTheta > 1 && c.llm.ropeTheta > 1, 'preRopeTheta and llm.ropeTheta must be > 1'],
    [Number.isInteger(c.teacherLayer) && c.teacherLayer >= 0 && c.teacherLayer < c.vision.layers,
      `teacherLayer must be in [0, ${c.vision.layers - 1}], got ${c.teacherLayer}`],
    [positiveInt(c.maxTokens) && c.maxTokens >= imageTokens(c) + 1, `maxTokens ${c.maxTokens} must hold at least one image and one token (${imageTokens(c) + 1})`],
  ]
  const failed = checks.find(([ok]) => !ok)
  return failed ? left(`config '${c.name}': ${failed[1]}`) : right(c)
}
