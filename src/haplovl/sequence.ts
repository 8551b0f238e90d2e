/**
 * Sequence assembly: samples made of text and image segments become one padded batch.
 *
 * Images sit inline in the text, anywhere and any number of times: each image takes `imageTokens(c)`
 * consecutive positions (its patches in raster order, with a newline token after each row when enabled).
 * Padding goes at the right, so the global positions 0..T−1 are shared by the whole batch (RoPE).
 * Next-token targets: position i predicts the token at i+1 when that token is text marked for loss.
 *
 * The comparison models (src/variants) use the same function with their own `Layout`: their own number of
 * tokens per image, row separators between rows (SOLO) and a plain causal mask. HaploVL's layout follows from
 * its Config (`layoutOf`), so passing the Config is the same as passing `layoutOf(c)`.
 */
import { type Either, left, right } from 'fp-ts/lib/Either.js'
import type { Tensor } from '../../autograd/index.ts'
import { type Config, grid } from './config.ts'
import { batchMask } from './mask.ts'

export type Segment =
  | { readonly kind: 'text'; readonly ids: readonly number[]; readonly loss: boolean }
  | { readonly kind: 'image'; readonly pixels: Float32Array }

export type Sample = readonly Segment[]

/** How a model lays images out in the sequence, and which mask it uses. */
export interface Layout {
  readonly vocab: number
  /** side in pixels of the square images a sample may hold */
  readonly imageSize: number
  /** side of an image's square grid of tokens (patches, or merged patches) */
  readonly grid: number
  /** a separator position after each row of the grid (HaploVL's image_newline), between rows (SOLO's <vrow_sep>), or none */
  readonly rowSeparator: 'none' | 'after' | 'between'
  /** 'mixed': HaploVL's mask (images bidirectional inside); 'causal': plain causal everywhere */
  readonly mask: 'mixed' | 'causal'
  readonly maxTokens: number
}

/** HaploVL's layout: the ViT's patch grid, newlines after each row when enabled, the mixed mask. */
export const layoutOf = (c: Config): Layout => ({
  vocab: c.llm.vocab, imageSize: c.vision.imageSize, grid: grid(c), rowSeparator: c.rowNewline ? 'after' : 'none', mask: 'mixed', maxTokens: c.maxTokens,
})

/** Sequence positions an image takes: its grid, plus its separators (`imageTokens` for HaploVL). */
export const tokensPerImage = (l: Layout): number =>
  l.grid ** 2 + (l.rowSeparator === 'after' ? l.grid : l.rowSeparator === 'between' ? l.grid - 1 : 0)

/** Token ids with a role in assembly. */
export interface SpecialIds {
  readonly image: number
  readonly pad: number
}

/** What a sequence position holds ('newline' is any row separator: HaploVL's newline, SOLO's <vrow_sep>). */
export const Kind = { pad: 0, text: 1, patch: 2, newline: 3 } as const
export type Kind = (typeof Kind)[keyof typeof Kind]

export interface Batch {
  readonly b: number
  readonly t: number
  /** (B·T) token id at text positions, the image id at image positions, the pad id at padding */
  readonly ids: Int32Array
  readonly kind: Uint8Array
  /** (B·T) index into `images` of the image a position belongs to, −1 for text and padding */
  readonly imageOf: Int32Array
  /** (B·T) index in its image's token grid (raster order) at patch positions, −1 elsewhere */
  readonly patchOf: Int32Array
  /** pixels (S, S, 3) in [0, 1] of every image, in order of appearance */
  readonly images: readonly Float32Array[]
  /** (B, T, T) additive mask: mixed (HaploVL) or causal, as the layout says */
  readonly mask: Tensor
  /** (B·T) next-token targets, −1 where no loss */
  readonly targets: number[]
  /** 0..T−1 */
  readonly positions: readonly number[]
}

/** Flat positions of the given kind, in order (the rows the losses gather). */
export const positionsOf = (batch: Batch, kind: Kind): number[] =>
  Array.from(batch.kind).flatMap((k, i) => (k === kind ? [i] : []))

/** The positions of one image, in order: rows of g grid tokens, with separators where the layout puts them. */
function imageRun(l: Layout): { kind: Kind; patch: number }[] {
  const run: { kind: Kind; patch: number }[] = [], g = l.grid
  for (let r = 0; r < g; r++) {
    if (l.rowSeparator === 'between' && r > 0) run.push({ kind: Kind.newline, patch: -1 })
    for (let x = 0; x < g; x++) run.push({ kind: Kind.patch, patch: r * g + x })
    if (l.rowSeparator === 'after') run.push({ kind: Kind.newline, patch: -1 })
  }
  return run
}

/**
 * One batch of samples, each row padded to T positions: the longest row rounded up to a multiple of `lengthStep`
 * (at most maxTokens). A step above 1 lets training meet few distinct sequence lengths.
 */
export function assemble(samples: readonly Sample[], c: Config | Layout, special: SpecialIds, lengthStep = 1): Either<string, Batch> {
  if (samples.length === 0) return left('assemble: the batch is empty')
  const l = 'llm' in c ? layoutOf(c) : c
  const run = imageRun(l), size = l.imageSize
  const rows: { id: number; kind: Kind; image: number; patch: number; loss: boolean }[][] = []
  const images: Float32Array[] = []
  for (const [s, sample] of samples.entries()) {
    const row: (typeof rows)[number] = []
    for (const seg of sample) {
      if (seg.kind === 'text') {
        for (const id of seg.ids) {
          if (!Number.isInteger(id) || id < 0 || id >= l.vocab) return left(`assemble: sample ${s} holds token id ${id}, outside the vocabulary of ${l.vocab}`)
          row.push({ id, kind: Kind.text, image: -1, patch: -1, loss: seg.loss })
        }
      } else {
        if (seg.pixels.length !== size * size * 3) return left(`assemble: an image of sample ${s} has ${seg.pixels.length} values, expected ${size}×${size}×3`)
        const index = images.push(seg.pixels) - 1
        for (const { kind, patch } of run) row.push({ id: special.image, kind, image: index, patch, loss: false })
      }
    }
    if (row.length === 0) return left(`assemble: sample ${s} is empty`)
    rows.push(row)
  }
  const longest = Math.max(...rows.map((r) => r.length))
  if (longest > l.maxTokens) return left(`assemble: a sample needs ${longest} positions, more than maxTokens ${l.maxTokens}`)
  const t = Math.min(l.maxTokens, Math.ceil(longest / lengthStep) * lengthStep)
  const b = rows.length, n = b * t
  const ids = new Int32Array(n).fill(special.pad), kind = new Uint8Array(n), imageOf = new Int32Array(n).fill(-1), patchOf = new Int32Array(n).fill(-1)
  const targets = new Array<number>(n).fill(-1)
  rows.forEach((row, s) =>
    row.forEach((tok, i) => {
      const at = s * t + i
      ids[at] = tok.id, kind[at] = tok.kind, imageOf[at] = tok.image, patchOf[at] = tok.patch
      const next = row[i + 1]
      if (next && next.kind === Kind.text && next.loss) targets[at] = next.id
    }),
  )
  const isPad = Array.from(kind, (k) => k === Kind.pad)
  return right({
    b, t, ids, kind, imageOf, patchOf, images, targets,
    mask: batchMask(imageOf, isPad, b, t, l.mask),
    positions: Array.from({ length: t }, (_, i) => i),
  })
}
