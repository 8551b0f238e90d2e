/**
 * Decoding: greedy, or seeded temperature / top-p sampling, with a KV cache over every layer of the stack.
 *
 * The prompt runs once through the whole model; each new token then runs alone with the cached keys and values
 * of all earlier positions. A new token is text, so under the mixed mask (and under a causal one) it attends
 * every earlier position: its mask row is all zeros. `useCache: false` recomputes the full sequence at every
 * step instead; the two give the same tokens (a test checks it).
 *
 * Greedy decoding also takes several prompts of one assembled length at once (`decodeBatch`): they share
 * positions, so row b of the batch computes exactly what prompt b alone would, in one pass per token for all.
 *
 * The loop knows a model only through a `Decoder`: how to assemble samples, run whole sequences, embed new
 * text tokens, and run embedded tokens through every layer with the caches. HaploVL and the comparison models
 * of src/variants each provide one.
 */
import { type Either, left, right, isLeft } from 'fp-ts/lib/Either.js'
import { ops, noGrad, Tensor } from '../../autograd/index.ts'
import * as Linear from '../nn/linear.ts'
import * as Norm from '../nn/norm.ts'
import type * as Attention from '../nn/attention.ts'
import * as Random from '../random.ts'
import type { Config } from './config.ts'
import { type Params, forward, decode } from './model.ts'
import { type Batch, type Sample, type SpecialIds, Kind, assemble } from './sequence.ts'

export interface Options {
  readonly maxNewTokens: number
  /** token ids that end the answer (not included in it) */
  readonly stop: readonly number[]
  /** 0 (default): greedy */
  readonly temperature?: number
  /** nucleus sampling: keep the smallest set of tokens whose probability reaches topP (default 1) */
  readonly topP?: number
  /** required when sampling */
  readonly key?: Random.Key
  /** default true */
  readonly useCache?: boolean
}

export interface Generated {
  readonly tokens: readonly number[]
  /** the logits row that chose each token (for tests and inspection) */
  readonly logits: readonly Float32Array[]
}

/** Choose the next token from one row of logits. */
export function pick(logits: Float32Array, o: Options, step: number): number {
  const temperature = o.temperature ?? 0
  if (temperature <= 0) return logits.reduce((best, v, i) => (v > logits[best]! ? i : best), 0)
  // softmax(logits / τ) in Float64, then the smallest prefix (by probability) reaching topP
  const max = Math.max(...logits)
  const weights = Array.from(logits, (v, i) => ({ i, p: Math.exp((v - max) / temperature) }))
  const total = weights.reduce((s, w) => s + w.p, 0)
  weights.sort((a, b) => b.p - a.p)
  const kept: typeof weights = []
  let mass = 0
  for (const w of weights) {
    kept.push(w)
    mass += w.p / total
    if (mass >= (o.topP ?? 1)) break
  }
  const keptMass = kept.reduce((s, w) => s + w.p, 0)
  let u = Random.uniforms(Random.fold(o.key ?? Random.key(0), step), 1)[0]! * keptMass
  for (const w of kept) if ((u -= w.p) <= 0) return w.i
  return kept[kept.length - 1]!.i
}

/** The last position's logits row of batch row b of a (B, T, V) tensor. */
const lastRow = (logits: Tensor, b: number): Float32Array => {
  const v = logits.shape[2]!, t = logits.shape[1]!
  return logits.data.slice(((b + 1) * t - 1) * v, (b + 1) * t * v)
}

/** Logits (B, T, V) of the positions just run, and the KV cache of every layer of the stack. */
export interface Step {
  readonly logits: Tensor
  readonly caches: readonly Attention.Cache[]
}

/** What decoding needs of a model. */
export interface Decoder {
  /** samples as one batch */
  readonly assemble: (samples: readonly Sample[]) => Either<string, Batch>
  /** whole assembled sequences, from scratch */
  readonly forward: (batch: Batch) => Step
  /** the input embeddings (B, 1, C) of one new text token per row */
  readonly embedTokens: (ids: readonly number[]) => Tensor
  /** embedded tokens x (B, T, C) after the cached positions: mask (T, Tk), their global positions */
  readonly decode: (x: Tensor, mask: Tensor, positions: readonly number[], caches: readonly Attention.Cache[]) => Step
  /** longest sequence the model takes */
  readonly maxTokens: number
}

/** Decode from a prompt with any model (greedy or sampled, cached or recomputed). */
export function decodeWith(d: Decoder, prompt: Sample, o: Options): Either<string, Generated> {
  const decoded = decodeBatch(d, [prompt], o)
  return isLeft(decoded) ? decoded : right(decoded.right[0]!)
}

/**
 * Decoding of prompts that assemble to one length, all rows at once: row b gets what `decodeWith` gives prompt
 * b alone. Rows run until the last one stops (a stopped row's later tokens are dropped). Sampling takes one prompt.
 */
export function decodeBatch(d: Decoder, prompts: readonly Sample[], o: Options): Either<string, Generated[]> {
  const sampling = (o.temperature ?? 0) > 0
  if (sampling && o.key === undefined) return left('generate: sampling needs a key')
  if (sampling && prompts.length > 1) return left('generate: sampling decodes one prompt at a time')
  const first = d.assemble(prompts)
  if (isLeft(first)) return first
  const { b: rows, t } = first.right
  if (first.right.kind.some((k) => k === Kind.pad)) return left('generate: prompts decoded together must have one length')
  return right(noGrad(() => {
    const out = prompts.map(() => ({ tokens: [] as number[], logits: [] as Float32Array[] }))
    const done = new Array<boolean>(rows).fill(false)
    const fed: number[][] = prompts.map(() => [])
    let ran = d.forward(first.right)
    for (let step = 0, length = t; step < o.maxNewTokens; step++, length++) {
      const next = out.map((g, b) => {
        const row = lastRow(ran.logits, b), id = pick(row, o, step)
        done[b] ||= o.stop.includes(id)
        if (!done[b]) g.tokens.push(id), g.logits.push(row)
        return id
      })
      if (done.every(Boolean) || length + 1 > d.maxTokens) break
      next.forEach((id, b) => fed[b]!.push(id))
      if (o.useCache ?? true) {
        // the new tokens alone at position `length`; their mask row (1, length + 1) is all zeros
        ran = d.decode(d.embedTokens(next), new Tensor(new Float32Array(length + 1), [1, length + 1]), [length], ran.caches)
      } else {
        const again = d.assemble(prompts.map((p, b) => [...p, { kind: 'text' as const, ids: fed[b]!, loss: false }]))
        if (isLeft(again)) break
        ran = d.forward(again.right)
      }
    }
    return out
  }))
}

/** HaploVL's decoder: a new token is W row → text projector → pre-norm, then every layer of both decoders. */
export const decoder = (p: Params, c: Config, special: SpecialIds): Decoder => ({
  assemble: (samples) => assemble(samples, c, special),
  forward: (batch) => {
    const out = forward(p, c, batch)
    return { logits: out.logits!, caches: out.caches }
  },
  embedTokens: (ids) => {
    const x = Norm.layerNorm(p.embed.preNorm, Linear.apply(p.embed.textProjector, ops.gatherRows(p.embed.tokens, ids)), c.vision.eps) // (B, Cpre)
    return ops.reshape(x, [ids.length, 1, c.vision.width])
  },
  decode: (x, mask, positions, caches) => {
    const out = decode(p, c, x, mask, positions, { caches })
    return { logits: out.logits!, caches: out.caches }
  },
  maxTokens: c.maxTokens,
})

export const generate = (p: Params, c: Config, prompt: Sample, special: SpecialIds, o: Options): Either<string, Generated> =>
  decodeWith(decoder(p, c, special), prompt, o)
