/**
 * The bridge from the synthetic world (scenes, chat samples, the BPE tokenizer) to model batches.
 * A data sample's segments are tokenised, its scenes rendered at the model's resolution, and the result is
 * cut to the model's longest sequence (text past it is dropped; an image that would not fit is dropped whole).
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Tokenizer from '../data/tokenizer.ts'
import * as Scene from '../data/scene.ts'
import type * as Language from '../data/language.ts'
import type { Config } from '../haplovl/config.ts'
import { assemble, layoutOf, tokensPerImage, type Batch, type Layout, type Sample, type Segment, type SpecialIds } from '../haplovl/sequence.ts'

/** The tokenizer, and the sequence layout of the model that reads the samples (HaploVL's, or a variant's). */
export interface World {
  readonly tokenizer: Tokenizer.Tokenizer
  readonly layout: Layout
}

/** The world as HaploVL with config `c` reads it. */
export const worldOf = (tokenizer: Tokenizer.Tokenizer, c: Config): World => ({ tokenizer, layout: layoutOf(c) })

export const specialIds = (w: { readonly tokenizer: Tokenizer.Tokenizer }): SpecialIds => ({ image: w.tokenizer.special.image, pad: w.tokenizer.special.pad })

/** Tokenised, rendered, and cut to `max` positions. */
export function modelSample(w: World, segments: readonly Language.Segment[], max = w.layout.maxTokens): Sample {
  const encoded = Tokenizer.encodeSegments(w.tokenizer, segments, (g) => Scene.render(g.scene, w.layout.imageSize))
  const out: Segment[] = []
  const perImage = tokensPerImage(w.layout)
  let room = max
  for (const seg of encoded) {
    if (seg.kind === 'image') {
      if (perImage > room) break
      out.push(seg)
      room -= perImage
    } else {
      if (room === 0) break
      out.push({ ...seg, ids: seg.ids.slice(0, room) })
      room -= Math.min(room, seg.ids.length)
    }
  }
  return out
}

/**
 * Batches are padded to a multiple of this many positions, so that training meets few distinct sequence
 * lengths: each new shape compiles its kernels afresh (about 35 ms apiece at tiny, dozens per step).
 */
export const LENGTH_STEP = 32

export const batchOf = (w: World, samples: readonly Language.Sample[]): E.Either<string, Batch> =>
  assemble(samples.map((s) => modelSample(w, s.segments)), w.layout, specialIds(w), LENGTH_STEP)

/**
 * The samples as `parts` batches of similar lengths: sorted by length, cut into equal groups, each padded to its
 * own longest. One batch pads every row to the longest sample; stage 2's samples (one image and one to eight
 * questions, or a caption, or a text dialogue) vary so much that a third of its positions were padding, and
 * attention pays for padding squared. In two parts a stage-2 step computes ~15% fewer positions.
 */
export function partsOf(w: World, samples: readonly Language.Sample[], parts: number): E.Either<string, Batch[]> {
  const rows = samples.map((s) => modelSample(w, s.segments))
  const length = (row: Sample): number => row.reduce((n, g) => n + (g.kind === 'image' ? tokensPerImage(w.layout) : g.ids.length), 0)
  const sorted = rows.slice().sort((a, b) => length(a) - length(b))
  const size = Math.ceil(sorted.length / parts)
  const groups = Array.from({ length: Math.ceil(sorted.length / size) }, (_, k) => sorted.slice(k * size, (k + 1) * size))
  return E.sequenceArray(groups.map((g) => assemble(g, w.layout, specialIds(w), LENGTH_STEP))) as E.Either<string, Batch[]>
}

/** Tokens a batch holds (not counting padding). */
export const tokensIn = (b: Batch): number => b.kind.reduce((n, k) => n + (k === 0 ? 0 : 1), 0)

/** Positions that carry a next-token target. */
export const targetsIn = (b: Batch): number => b.targets.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0)
