/**
 * What the comparison models (LLaVA-1.5, SOLO, HoVLE as tiny configurations) share: validation checks of the
 * LLM part, the stacked-table gather that turns an assembled batch into LLM input embeddings, the record a
 * training stage is described by, and the `init`/`assemble` pair of a model built on the LLM parent alone.
 */
import { type Either, left, right } from 'fp-ts/lib/Either.js'
import { ops, type Tensor } from '../../autograd/index.ts'
import * as Llm from '../parents/llm.ts'
import * as Random from '../random.ts'
import type * as AdamW from '../optim/adamw.ts'
import type * as Presets from '../optim/presets.ts'
import { type Batch, Kind, type Layout, type Sample, type SpecialIds, assemble } from '../haplovl/sequence.ts'
import * as Generate from '../haplovl/generate.ts'
import type * as Attention from '../nn/attention.ts'

// ---------------------------------------------------------------------------------------------------------------
// validation
// ---------------------------------------------------------------------------------------------------------------

export type Check = readonly [ok: boolean, message: string]

export const positiveInt = (v: number): boolean => Number.isInteger(v) && v > 0

/** The LLM's fields, as HaploVL's config checks them. */
export const llmChecks = (llm: Llm.Config): Check[] => [
  ...(['vocab', 'width', 'layers', 'heads', 'kvHeads', 'mlpWidth'] as const).map(
    (f): Check => [positiveInt(llm[f]), `llm.${f} must be a positive integer, got ${llm[f]}`]),
  [llm.width % llm.heads === 0 && (llm.width / llm.heads) % 2 === 0, `llm.width ${llm.width} / llm.heads ${llm.heads} must be an even integer`],
  [llm.heads % llm.kvHeads === 0, `llm.heads ${llm.heads} must be a multiple of llm.kvHeads ${llm.kvHeads}`],
  [llm.eps > 0, 'llm.eps must be positive'],
  [llm.ropeTheta > 1, 'llm.ropeTheta must be > 1'],
]

/** The first failed check, named after the config. */
export function firstFailure<C extends { readonly name: string }>(c: C, checks: readonly Check[]): Either<string, C> {
  const failed = checks.find(([ok]) => !ok)
  return failed ? left(`config '${c.name}': ${failed[1]}`) : right(c)
}

// ---------------------------------------------------------------------------------------------------------------
// input embeddings
// ---------------------------------------------------------------------------------------------------------------

/**
 * The LLM input sequence (B, T, C) of a batch, by one gather from the stacked table
 *   [ tokens (V, C) ; separator (1, C) when given ; images (Nimg·G, C) when given ]
 * text and padding positions read their token's row, a row separator reads `separator`, and grid token p of
 * image n reads images row n·G + p (G = tokens per image grid). The gather's backward scatters each position's
 * gradient back to the row it came from.
 */
export function inputEmbeddings(tokens: Tensor, batch: Batch, images: Tensor | null, separator: Tensor | null = null): Tensor {
  const [v, c] = tokens.shape as [number, number]
  const sepRow = v, imageBase = v + (separator ? 1 : 0)
  const perImage = images ? images.shape[0]! / batch.images.length : 0
  const rows = Array.from(batch.kind, (k, i) => {
    if (k === Kind.patch) {
      if (!images) throw new Error('inputEmbeddings: the batch holds images but no image rows were given')
      return imageBase + batch.imageOf[i]! * perImage + batch.patchOf[i]!
    }
    if (k === Kind.newline) {
      if (!separator) throw new Error('inputEmbeddings: the batch holds row separators but the model has none')
      return sepRow
    }
    return batch.ids[i]!
  })
  const parts = [tokens, ...(separator ? [ops.reshape(separator, [1, c])] : []), ...(images ? [images] : [])]
  const table = parts.length === 1 ? tokens : ops.concat(parts, 0) // (V [+1] [+Nimg·G], C)
  return ops.reshape(ops.gatherRows(table, rows), [batch.b, batch.t, c])
}

// ---------------------------------------------------------------------------------------------------------------
// training stages
// ---------------------------------------------------------------------------------------------------------------

/** A training stage: the leaves it trains (by dotted path) and the optimiser settings the sources give. */
export interface Stage {
  readonly name: string
  readonly trainable: AdamW.Trainable
  readonly preset: Presets.Preset
}

/** What decoding needs of a model module whose new tokens enter as rows of the LLM's table W (LLaVA, SOLO). */
export interface TableModel<P, C> {
  readonly assemble: (samples: readonly Sample[], c: C, special: SpecialIds) => Either<string, Batch>
  readonly forward: (p: P, c: C, batch: Batch) => Generate.Step
  readonly decode: (p: P, c: C, x: Tensor, mask: Tensor, positions: readonly number[], caches: readonly Attention.Cache[]) => Generate.Step
}

/** Such a module's `decoder` (a new token is its W row, (1, 1, C)) and `generate`. */
export function tableGeneration<P extends { readonly llm: { readonly embed: { readonly weight: Tensor } } }, C extends { readonly maxTokens: number }>(m: TableModel<P, C>) {
  const decoder = (p: P, c: C, special: SpecialIds): Generate.Decoder => {
    const table = p.llm.embed.weight
    return {
      assemble: (sample) => m.assemble([sample], c, special),
      forward: (batch) => m.forward(p, c, batch),
      decode: (x, mask, positions, caches) => m.decode(p, c, x, mask, positions, caches),
      embedToken: (id) => ops.reshape(ops.gatherRows(table, [id]), [1, 1, table.shape[1]!]),
      maxTokens: c.maxTokens,
    }
  }
  const generate = (p: P, c: C, prompt: Sample, special: SpecialIds, o: Generate.Options): Either<string, Generate.Generated> =>
    Generate.decodeWith(decoder(p, c, special), prompt, o)
  return { decoder, generate }
}

/**
 * `init` and `assemble` of a model whose only parent is the LLM (SOLO, HoVLE): from scratch is `fromParents`
 * over a randomly initialised LLM, and batches are assembled by the model's sequence layout.
 */
export function llmVariant<P, C extends { readonly llm: Llm.Config }>(fromParents: (key: Random.Key, c: C, llm: Llm.Params) => P, layout: (c: C) => Layout) {
  const init = (key: Random.Key, c: C): P => {
    const [kl, k] = Random.split(key)
    return fromParents(k!, c, Llm.init(kl!, c.llm))
  }
  const assembleFor = (samples: readonly Sample[], c: C, special: SpecialIds, lengthStep?: number): Either<string, Batch> =>
    assemble(samples, layout(c), special, lengthStep)
  return { init, assemble: assembleFor }
}
