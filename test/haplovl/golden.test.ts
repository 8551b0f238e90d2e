/**
 * Golden runs (DESIGN §7.5): the micro model, a fixed seed, 10 AdamW steps of stage 1 and then 10 of stage 2,
 * on the float32 kernels and on the Float64 reference path (same model code, every op substituted by its
 * Float64 reference, AdamW in Float64). The per-step losses must agree.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isRight } from 'fp-ts/lib/Either.js'
import { valueAndGrad, withSubstitutes, treeMap, type Tree } from '../../src/index.ts'
import * as Random from '../../src/random.ts'
import { micro } from '../../src/haplovl/config.ts'
import { assemble, type Batch, type Sample } from '../../src/haplovl/sequence.ts'
import { fromScratch } from '../../src/haplovl/init.ts'
import * as Heads from '../../src/haplovl/heads.ts'
import { stage1Loss, stage2Loss, teacherTargets, type Stage1Params } from '../../src/haplovl/objectives.ts'
import * as VisionTower from '../../src/parents/vision-tower.ts'
import * as AdamW from '../../src/optim/adamw.ts'
import * as Presets from '../../src/optim/presets.ts'
import { referenceOps, toFloat64 } from '../reference/engine.ts'
import { referenceUpdate } from '../reference/adamw.ts'

const c = micro
const special = { image: 1, pad: 0 }
const image = (seed: number) => Float32Array.from(Random.uniforms(Random.key(seed), c.vision.imageSize ** 2 * 3))
const text = (ids: number[], loss = false) => ({ kind: 'text' as const, ids, loss })

// an interleaved stage-1 batch (two images in one sequence, an image-free one) and a stage-2 instruction batch
const stage1Samples: Sample[] = [
  [text([2, 7, 9]), { kind: 'image', pixels: image(1) }, text([11, 4]), { kind: 'image', pixels: image(2) }, text([5])],
  [text([12, 13, 14, 15, 16, 3])],
]
const stage2Samples: Sample[] = [
  [{ kind: 'image', pixels: image(3) }, text([20, 21, 22]), text([30, 31, 3], true)],
  [text([23, 24]), { kind: 'image', pixels: image(4) }, text([32, 3], true)],
]
const batchOf = (samples: Sample[]): Batch => {
  const b = assemble(samples, c, special)
  assert.ok(isRight(b))
  return b.right
}

interface Path {
  readonly float64: boolean
  readonly update: typeof referenceUpdate
}

function train(path: Path): { stage1: number[]; stage2: number[] } {
  const cast = <P extends Tree>(p: P): P => (path.float64 ? treeMap(p, toFloat64) : p)
  const [km, kh, kt] = Random.split(Random.key(2025), 3)
  const teacher = cast(VisionTower.init(kt!, c.vision))
  let p1: Stage1Params = cast({ model: fromScratch(km!, c), heads: Heads.init(kh!, c) })
  const run = <T>(fn: () => T) => (path.float64 ? withSubstitutes(referenceOps, fn) : fn())

  // stage 1: the paper's preset with a larger learning rate so ten steps move the weights visibly
  const h1 = Presets.hyperAt(Presets.scaleToRun(Presets.stage1, { steps: 10, batch: 2, lrScale: 20 }))
  const frozen1 = Presets.allExcept(['model.embed.tokens', 'model.connector', 'model.postDecoder'])
  const b1 = batchOf(stage1Samples)
  const targets = run(() => teacherTargets(teacher, c, b1))
  let s1 = AdamW.init(p1)
  const stage1: number[] = []
  for (let i = 0; i < 10; i++) {
    const { value, grads } = run(() => valueAndGrad((p: Stage1Params) => stage1Loss(p, c, b1, targets))(p1))
    stage1.push(value)
    ;({ params: p1, state: s1 } = path.update(p1, grads, s1, h1(s1.step), frozen1))
  }

  let p2 = p1.model
  const h2 = Presets.hyperAt(Presets.scaleToRun(Presets.stage2, { steps: 10, batch: 2, lrScale: 100 }))
  const b2 = batchOf(stage2Samples)
  let s2 = AdamW.init(p2)
  const stage2: number[] = []
  for (let i = 0; i < 10; i++) {
    const { value, grads } = run(() => valueAndGrad((p: typeof p2) => stage2Loss(p, c, b2))(p2))
    stage2.push(value)
    ;({ params: p2, state: s2 } = path.update(p2, grads, s2, h2(s2.step), () => true))
  }
  return { stage1, stage2 }
}

describe('golden run (micro, seed 2025)', () => {
  it('float32 kernels and the Float64 reference path give the same losses, step by step, through both stages', () => {
    const f32 = train({ float64: false, update: AdamW.update })
    const f64 = train({ float64: true, update: referenceUpdate })
    for (const stage of ['stage1', 'stage2'] as const)
      f64[stage].forEach((expected, i) => {
        const actual = f32[stage][i]!
        assert.ok(Math.abs(actual - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `${stage} step ${i}: float32 ${actual}, Float64 ${expected}`)
      })
    // the run must actually learn, or agreement would prove little
    assert.ok(f64.stage1[9]! < f64.stage1[0]! - 0.05, `stage 1 did not learn: ${f64.stage1.map((v) => v.toFixed(3))}`)
    assert.ok(f64.stage2[9]! < f64.stage2[0]! - 0.05, `stage 2 did not learn: ${f64.stage2.map((v) => v.toFixed(3))}`)
    console.log(`# golden stage1 ${f32.stage1.map((v) => v.toFixed(5)).join(' ')}`)
    console.log(`# golden stage2 ${f32.stage2.map((v) => v.toFixed(5)).join(' ')}`)
  })
})
