/**
 * Sequence assembly: samples made of text and image segments become one padded batch.
 *
 * Images sit inline in the text, anywhere and any number of times: each image takes `imageTokens(c)`
 * consecutive positions (its patches in raster order, with a newline token after each row when enabled).
 * Padding goes at the right, so the global positions 0..T−1 are shared by the whole batch (RoPE).
 * Next-token targets: position i predicts the token at i+1 when that token is text marked for loss.
 */
import { type Either, left, right } from 'fp-ts/lib/Either.js'
import type { Tensor } from '../../autograd/index.ts'
import { type Config, grid, imageTokens } from './config.ts'
import { batchMask } from './mask.ts'

export type Segment =
  | { readonly kind: 'text'; readonly ids: readonly number[]; readonly loss: boolean }
  | { readonly kind: 'image'; readonly pixels: Float32Array }

export type Sample = readonly Segment[]

/** Token ids with a role in assembly. */
export interface SpecialIds {
  readonly image: number
  readonly pad: number
}

/** What a sequence position holds. */
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
  /** (B·T) patch index within its image at patch positions, −1 elsewhere */
  readonly patchOf: Int32Array
  /** pixels (S, S, 3) in [0, 1] of every image, in order of appearance */
  readonly images: readonly Float32Array[]
  /** (B, T, T) additive mixed mask */
  readonly mask: Tensor
  /** (B·T) next-token targets, −1 where no loss */
  readonly targets: number[]
  /** 0..T−1 */
  readonly positions: readonly number[]
}

/** Flat positions of the given kind, in order (the rows the losses gather). */
export const positionsOf = (batch: Batch, kind: Kind): number[] =>
  Array.from(batch.kind).flatMap((k, i) => (k === kind ? [i] : []))

export function assemble(samples: readonly Sample[], c: Config, special: SpecialIds, length?: number): Either<string, Batch> {
  if (samples.length === 0) return left('assemble: the batch is empty')
  const perImage = imageTokens(c), g = grid(c), size = c.vision.imageSize
  const rows: { id: number; kind: Kind; image: number; patch: number; loss: boolean }[][] = []
  const images: Float32Array[] = []
  for (const [s, sample] of samples.entries()) {
    const row: (typeof rows)[number] = []
    for (const seg of sample) {
      if (seg.kind === 'text') {
        for (const id of seg.ids) {
          if (!Number.isInteger(id) || id < 0 || id >= c.llm.vocab) return left(`assemble: sample ${s} holds token id ${id}, outside the vocabulary of ${c.llm.vocab}`)
          row.push({ id, kind: Kind.text, image: -1, patch: -1, loss: seg.loss })
        }
      } else {
        if (seg.pixels.length !== size * size * 3) return left(`assemble: an image of sample ${s} has ${seg.pixels.length} values, expected ${size}×${size}×3`)
        const index = images.push(seg.pixels) - 1
        for (let p = 0; p < perImage; p++) {
          // with newlines, each grid row of g patches is followed by one newline position
          const rowLength = c.rowNewline ? g + 1 : g
          const isNewline = c.rowNewline && p % rowLength === g
          const patch = c.rowNewline ? Math.floor(p / rowLength) * g + (p % rowLength) : p
          row.push({ id: special.image, kind: isNewline ? Kind.newline : Kind.patch, image: index, patch: isNewline ? -1 : patch, loss: false })
        }
      }
    }
    if (row.length === 0) return left(`assemble: sample ${s} is empty`)
    rows.push(row)
  }
  const longest = Math.max(...rows.map((r) => r.length))
  const t = length ?? longest
  if (longest > t || t > c.maxTokens)
    return left(`assemble: a sample needs ${longest} positions, more than the ${Math.min(t, c.maxTokens)} allowed (maxTokens ${c.maxTokens})`)
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
    mask: batchMask(imageOf, isPad, b, t),
    positions: Array.from({ length: t }, (_, i) => i),
  })
}
