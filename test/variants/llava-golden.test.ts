/**
 * Golden run of the LLaVA-style baseline (DESIGN §7.5): micro, a fixed seed, 4 AdamW steps of the projector stage
 * then 4 of the instruction stage, on the float32 kernels and on the Float64 reference path (same model code,
 * every op substituted by its Float64 reference, AdamW in Float64). The per-step losses must agree.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { valueAndGrad, withSubstitutes, treeMap, type Tree } from '../../src/index.ts'
import * as Random from '../../src/random.ts'
import * as Llava from '../../src/variants/llava.ts'
import * as AdamW from '../../src/optim/adamw.ts'
import { referenceOps, toFloat64 } from '../reference/engine.ts'
import { referenceUpdate } from '../reference/adamw.ts'
import { special, right, captionSamples, instructionSamples } from './helpers.ts'

const c = Llava.micro
const steps = 4

function train(float64: boolean): { projector: number[]; instruct: number[] } {
  const run = <T>(fn: () => T) => (float64 ? withSubstitutes(referenceOps, fn) : fn())
  const update = float64 ? referenceUpdate : AdamW.update
  let p = float64 ? treeMap(Llava.init(Random.key(2025), c), toFloat64) : Llava.init(Random.key(2025), c)
  const losses = { projector: [] as number[], instruct: [] as number[] }
  for (const [stage, samples, lr] of [['projector', captionSamples(c.vision.imageSize), 1e-2], ['instruct', instructionSamples(c.vision.imageSize), 3e-3]] as const) {
    const batch = right(Llava.assemble(samples, c, special))
    const features = run(() => Llava.features(p, c, batch))
    const hyper: AdamW.Hyper = { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 }
    let state = AdamW.init(p)
    for (let i = 0; i < steps; i++) {
      const { value, grads } = run(() => valueAndGrad((q: Llava.Params) => Llava.loss(q, c, batch, { features }))(p))
      losses[stage].push(value)
      ;({ params: p, state } = update(p, grads, state, hyper, Llava.stages[stage].trainable))
    }
  }
  return losses
}

describe('LLaVA golden run (micro, seed 2025)', () => {
  it('float32 kernels and the Float64 reference path give the same losses, step by step, through both stages', () => {
    const f32 = train(false), f64 = train(true)
    for (const stage of ['projector', 'instruct'] as const) {
      f64[stage].forEach((expected, i) => {
        const actual = f32[stage][i]!
        assert.ok(Math.abs(actual - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `${stage} step ${i}: float32 ${actual}, Float64 ${expected}`)
      })
      assert.ok(f64[stage][steps - 1]! < f64[stage][0]! - 0.01, `${stage} did not learn: ${f64[stage].map((v) => v.toFixed(4))}`)
    }
    console.log(`# llava golden projector ${f32.projector.map((v) => v.toFixed(5)).join(' ')}`)
    console.log(`# llava golden instruct ${f32.instruct.map((v) => v.toFixed(5)).join(' ')}`)
  })
})
