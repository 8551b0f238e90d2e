/**
 * Decoding: greedy, or seeded temperature / top-p sampling, with a KV cache over every layer of the stack.
 *
 * The prompt runs once through the whole model; each new token then runs alone with the cached keys and values
 * of all earlier positions. A new token is text, so under the mixed mask (and under a causal one) it attends
 * every earlier position: its mask row is all zeros. `useCache: false` recomputes the full sequence at every
 * step instead; the two give the same tokens (a test checks it).
 *
 * The loop (`decodeWith`) knows a model only through a `Decoder`: how to assemble a sample, run a whole
 * sequence, embed one new text token, and run embedded tokens through every layer with the caches. HaploVL and
 * the comparison models of src/variants each provide one.
 */
import { type Either, left, right, isLeft } from 'fp-ts/lib/Either.js'
import { ops, noGrad, Tensor } from '../../autograd/index.ts'
import * as Linear from '../nn/linear.ts'
import * as Norm from '../nn/norm.ts'
import type * as Attention from '../nn/attention.ts'
import * as Random from '../random.ts'
import type { Config } from './config.ts'
import { type Params, forward, decode } from './model.ts'
import { type Batch, type Sample, type SpecialIds, assemble } from './sequence.ts'

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

/** The last position's logits row of a (1, T, V) tensor. */
const lastRow = (logits: Tensor): Float32Array => {
  const v = logits.shape[2]!, t = logits.shape[1]!
  return logits.data.slice((t - 1) * v, t * v)
}

/** Logits (1, T, V) of the positions just run, and the KV cache of every layer of the stack. */
export interface Step {
  readonly logits: Tensor
  readonly caches: readonly Attention.Cache[]
}

/** What decoding needs of a model. */
export interface Decoder {
  /** one sample as a batch of one */
  readonly assemble: (sample: Sample) => Either<string, Batch>
  /** a whole assembled sequence, from scratch */
  readonly forward: (batch: Batch) => Step
  /** the input embedding (1, 1, C) of one new text token */
  readonly embedToken: (id: number) => Tensor
  /** embedded tokens x (1, T, C) after the cached positions: mask (T, Tk), their global positions */
  readonly decode: (x: Tensor, mask: Tensor, positions: readonly number[], caches: readonly Attention.Cache[]) => Step
  /** longest sequence the model takes */
  readonly maxTokens: number
}

/** Decode from a prompt with any model (greedy or sampled, cached or recomputed). */
export function decodeWith(d: Decoder, prompt: Sample, o: Options): Either<string, Generated> {
  if ((o.temperature ?? 0) > 0 && o.key === undefined) return left('generate: sampling needs a key')
  const first = d.assemble(prompt)
  if (isLeft(first)) return first
  return right(noGrad(() => {
    const tokens: number[] = [], rows: Float32Array[] = []
    let out = d.forward(first.right)
    let length = first.right.t
    for (let step = 0; step < o.maxNewTokens; step++) {
      const row = lastRow(out.logits)
      const next = pick(row, o, step)
      if (o.stop.includes(next)) break
      tokens.push(next), rows.push(row)
      if (length + 1 > d.maxTokens) break
      if (o.useCache ?? true) {
        // the new token alone at position `length`; its mask row (1, length + 1) is all zeros
        out = d.decode(d.embedToken(next), new Tensor(new Float32Array(length + 1), [1, length + 1]), [length], out.caches)
      } else {
        const again = d.assemble([...prompt, { kind: 'text', ids: tokens, loss: false }])
        if (isLeft(again)) break
        out = d.forward(again.right)
      }
      length++
    }
    return { tokens, logits: rows }
  }))
}

/** HaploVL's decoder: a new token is W row → text projector → pre-norm, then every layer of both decoders. */
export const decoder = (p: Params, c: Config, special: SpecialIds): Decoder => ({
  assemble: (sample) => assemble([sample], c, special),
  forward: (batch) => {
    const out = forward(p, c, batch)
    return { logits: out.logits!, caches: out.caches }
  },
  embedToken: (id) => {
    const x = Norm.layerNorm(p.embed.preNorm, Linear.apply(p.embed.textProjector, ops.gatherRows(p.embed.tokens, [id])), c.vision.eps) // (1, Cpre)
    return ops.reshape(x, [1, 1, c.vision.width])
  },
  decode: (x, mask, positions, caches) => {
    const out = decode(p, c, x, mask, positions, { caches })
    return { logits: out.logits!, caches: out.caches }
  },
  maxTokens: c.maxTokens,
})

export const generate = (p: Params, c: Config, prompt: Sample, special: SpecialIds, o: Options): Either<string, Generated> =>
  decodeWith(decoder(p, c, special), prompt, o)
