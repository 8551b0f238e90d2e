/**
 * Decoding: greedy, or seeded temperature / top-p sampling, with a KV cache over every layer of the stack.
 *
 * The prompt runs once through the whole model; each new token then runs alone with the cached keys and values
 * of all earlier positions. A new token is text, so under the mixed mask it attends every earlier position:
 * its mask row is all zeros. `useCache: false` recomputes the full sequence at every step instead; the two give
 * the same tokens (a test checks it).
 */
import { type Either, left, right, isLeft } from 'fp-ts/lib/Either.js'
import { ops, noGrad, Tensor } from '../../autograd/index.ts'
import * as Linear from '../nn/linear.ts'
import * as Norm from '../nn/norm.ts'
import * as Random from '../random.ts'
import type { Config } from './config.ts'
import { type Params, forward, decode } from './model.ts'
import { type Sample, type SpecialIds, assemble } from './sequence.ts'

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

export function generate(p: Params, c: Config, prompt: Sample, special: SpecialIds, o: Options): Either<string, Generated> {
  if ((o.temperature ?? 0) > 0 && o.key === undefined) return left('generate: sampling needs a key')
  const first = assemble([prompt], c, special)
  if (isLeft(first)) return first
  return right(noGrad(() => {
    const tokens: number[] = [], rows: Float32Array[] = []
    let out = forward(p, c, first.right)
    let length = first.right.t
    for (let step = 0; step < o.maxNewTokens; step++) {
      const row = lastRow(out.logits!)
      const next = pick(row, o, step)
      if (o.stop.includes(next)) break
      tokens.push(next), rows.push(row)
      if (length + 1 > c.maxTokens) break
      if (o.useCache ?? true) {
        // the new token alone: W row → text projector → pre-norm, then every layer with its cache
        const x = Norm.layerNorm(p.embed.preNorm, Linear.apply(p.embed.textProjector, ops.gatherRows(p.embed.tokens, [next])), c.vision.eps)
        out = decode(p, c, ops.reshape(x, [1, 1, c.vision.width]), new Tensor(new Float32Array(length + 1), [1, length + 1]), [length], { caches: out.caches })
      } else {
        const again = assemble([[...prompt, { kind: 'text', ids: tokens, loss: false }]], c, special)
        if (isLeft(again)) break
        out = forward(p, c, again.right)
      }
      length++
    }
    return { tokens, logits: rows }
  }))
}
