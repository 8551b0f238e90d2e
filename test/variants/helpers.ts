/** What the variant tests share: images, batches, a few AdamW steps of a stage, leaf snapshots. */
import assert from 'node:assert/strict'
import { type Either, isRight } from 'fp-ts/lib/Either.js'
import { valueAndGrad, entries, type Tensor, type Tree, type WithAux } from '../../src/index.ts'
import * as Random from '../../src/random.ts'
import * as AdamW from '../../src/optim/adamw.ts'
import { under } from '../../src/optim/presets.ts'
import type { Batch, Sample } from '../../src/haplovl/sequence.ts'

export const special = { image: 1, pad: 0 }

export const image = (size: number, seed: number): Float32Array => Float32Array.from(Random.uniforms(Random.key(seed), size * size * 3))

export const text = (ids: readonly number[], loss = false) => ({ kind: 'text' as const, ids, loss })

export function right<T>(e: Either<string, T>): T {
  assert.ok(isRight(e), isRight(e) ? '' : e.left)
  return e.right
}

/** Rows [0, upTo) of a (1, T, C) tensor. */
export const rowsBefore = (x: Tensor, upTo: number): number[] => Array.from(x.data.slice(0, upTo * x.shape[2]!))

/** Row t of a (1, T, C) tensor. */
export const rowAt = (x: Tensor, t: number): number[] => Array.from(x.data.slice(t * x.shape[2]!, (t + 1) * x.shape[2]!))

/** A copy of every leaf's values, by dotted path. */
export const snapshot = (tree: Tree): Map<string, Float32Array> => new Map(entries(tree).map(([path, t]) => [path, Float32Array.from(t.data)]))

const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]))

/** Constant-rate AdamW with weight decay, so a frozen leaf would move even without a gradient if the rule failed. */
export const hyper = (lr: number): AdamW.Hyper => ({ lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 })

/** `steps` AdamW steps of `loss` on one fixed batch; the losses before each step and the final parameters. */
export function train<P extends Tree>(params: P, loss: (p: P) => Tensor | WithAux<unknown>, trainable: AdamW.Trainable, steps: number, lr: number): { params: P; losses: number[] } {
  let p = params, state = AdamW.init(p)
  const losses: number[] = []
  for (let i = 0; i < steps; i++) {
    const { value, grads } = valueAndGrad(loss)(p)
    losses.push(value)
    ;({ params: p, state } = AdamW.update(p, grads, state, hyper(lr), trainable))
  }
  return { params: p, losses }
}

/**
 * Run a stage for a few steps and check: its loss falls, every leaf under a `frozen` prefix is bitwise unchanged,
 * every other leaf moved. Returns the trained parameters.
 */
export function checkStage<P extends Tree>(name: string, params: P, loss: (p: P) => Tensor | WithAux<unknown>, trainable: AdamW.Trainable, o: { steps: number; lr: number; frozen: readonly string[] }): P {
  const before = snapshot(params)
  const { params: after, losses } = train(params, loss, trainable, o.steps, o.lr)
  assert.ok(losses.every(Number.isFinite), `${name}: non-finite loss ${losses}`)
  assert.ok(losses[losses.length - 1]! < losses[0]! - 1e-3, `${name}: the loss did not fall: ${losses.map((v) => v.toFixed(4)).join(' ')}`)
  let frozen = 0
  for (const [path, values] of snapshot(after)) {
    const moved = !sameBits(values, before.get(path)!)
    if (o.frozen.some((prefix) => under(path, prefix))) {
      assert.ok(!moved, `${name}: the frozen leaf '${path}' changed`)
      frozen++
    } else assert.ok(moved, `${name}: the trainable leaf '${path}' did not move`)
  }
  assert.equal(frozen > 0, o.frozen.length > 0, `${name}: no leaf lies under the frozen prefixes ${o.frozen}`)
  return after
}

/** Samples with images and loss-marked text, as the stage batches of the tests. */
export const captionSamples = (size: number): Sample[] => [
  [{ kind: 'image', pixels: image(size, 11) }, text([5, 6, 7, 3], true)],
  [text([8, 9]), { kind: 'image', pixels: image(size, 12) }, text([10, 11, 3], true)],
]

export const instructionSamples = (size: number): Sample[] => [
  [text([2, 14]), { kind: 'image', pixels: image(size, 13) }, text([15, 16]), text([17, 18, 3], true)],
  [{ kind: 'image', pixels: image(size, 14) }, text([19, 20]), text([21, 3], true)],
]

export type { Batch }
