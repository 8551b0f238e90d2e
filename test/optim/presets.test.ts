/**
 * The presets carry the paper's numbers (HaploVL, App. C.1 Table 8 for stage 1, Table 9 for stage 2, §4.1 for
 * steps and warm-up) and LLaVA-1.5's for the connector-only stage; small runs keep the shape of the schedule.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { stage1, stage2, align, presets, scaleToRun, warmupSteps, schedule, hyperAt, under, allExcept, only } from '../../src/optim/presets.ts'
import { runs } from '../helpers/arbitraries.ts'

describe('paper presets', () => {
  it('stage 1 is Table 8 with §4.1’s 40K steps and 2K warm-up steps', () => {
    assert.equal(stage1.lr, 1.0e-4) // base learning rate 1.0 × 10⁻⁴
    assert.equal(stage1.paperLr, 1.0e-4)
    assert.equal(stage1.weightDecay, 1.0e-4) // weight decay 1.0 × 10⁻⁴
    assert.equal(stage1.beta1, 0.9) // β1 = 0.9
    assert.equal(stage1.beta2, 0.95) // β2 = 0.95
    assert.equal(stage1.batch, 256)
    assert.equal(stage1.steps, 40_000)
    assert.equal(warmupSteps(stage1), 2_000)
    assert.equal(stage1.floorFraction, 0) // cosine decay
    assert.equal(stage1.trainable.kind, 'all-except')
  })

  it('stage 2 is Table 9 (warm-up 3% as LLaVA, since the paper gives none)', () => {
    assert.equal(stage2.lr, 2.0e-5) // base learning rate 2.0 × 10⁻⁵
    assert.equal(stage2.weightDecay, 0) // weight decay 0.0
    assert.equal(stage2.beta1, 0.9) // β1 = 0.9
    assert.equal(stage2.beta2, 0.98) // β2 = 0.98
    assert.equal(stage2.batch, 128)
    assert.equal(stage2.steps, 30_000) // "1 epoch (30K steps)"
    assert.equal(stage2.warmupFraction, 0.03)
    assert.equal(warmupSteps(stage2), 900)
    assert.equal(stage2.trainable.kind, 'all-except')
  })

  it('the connector-only stage is LLaVA-1.5’s projector stage: lr 1e-3, wd 0, batch 256, 3% warm-up, only the connector', () => {
    assert.equal(align.lr, 1e-3)
    assert.equal(align.weightDecay, 0)
    assert.equal(align.batch, 256)
    assert.equal(align.warmupFraction, 0.03)
    assert.equal(align.steps, Math.ceil(558_000 / 256)) // one epoch over the 558K captions
    assert.equal(align.trainable.kind, 'only')
    assert.deepEqual(Object.keys(presets).sort(), ['align', 'stage1', 'stage2'])
  })

  it('each preset’s schedule warms up to its lr and decays to its floor at its last step', () => {
    for (const p of Object.values(presets)) {
      const lr = schedule(p)
      assert.equal(lr(0), 0, p.name)
      assert.equal(lr(warmupSteps(p)), p.lr, p.name)
      assert.equal(lr(p.steps), p.floorFraction * p.lr, p.name)
      const h = hyperAt(p)(warmupSteps(p))
      assert.deepEqual(h, { lr: p.lr, beta1: p.beta1, beta2: p.beta2, eps: p.eps, weightDecay: p.weightDecay })
    }
  })
})

describe('scaleToRun', () => {
  it('keeps betas, decay, floor, rule and warm-up fraction; sets steps, batch and lr = paper lr × lrScale', () => {
    fc.assert(fc.property(
      fc.constantFrom(stage1, stage2, align), fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 512 }),
      fc.double({ min: 0.1, max: 1000, noNaN: true }),
      (p, steps, batch, lrScale) => {
        const run = scaleToRun(p, { steps, batch, lrScale })
        assert.equal(run.steps, steps)
        assert.equal(run.batch, batch)
        assert.equal(run.lrScale, lrScale)
        assert.equal(run.lr, p.paperLr * lrScale)
        assert.equal(run.paperLr, p.paperLr)
        for (const k of ['beta1', 'beta2', 'eps', 'weightDecay', 'warmupFraction', 'floorFraction', 'trainable', 'name'] as const)
          assert.equal(run[k], p[k], k)
        const w = warmupSteps(run)
        assert.ok(w >= p.warmupFraction * steps - 1e-6 && w < p.warmupFraction * steps + 1, `warm-up ${w} of ${steps}`)
        // scaling twice does not compound: the multiplier is always relative to the paper's lr
        assert.equal(scaleToRun(run, { steps, batch, lrScale: 2 }).lr, p.paperLr * 2)
      },
    ), runs(100))
  })

  it('a 200-step stage-1 run warms up for 5% of it; lrScale defaults to 1', () => {
    const run = scaleToRun(stage1, { steps: 200, batch: 8 })
    assert.equal(warmupSteps(run), 10)
    assert.equal(run.lr, stage1.lr)
    assert.equal(run.lrScale, 1)
  })

  it('refuses a bad run naming the field', () => {
    assert.throws(() => scaleToRun(stage1, { steps: 0, batch: 8 }), /steps/)
    assert.throws(() => scaleToRun(stage1, { steps: 10, batch: 2.5 }), /batch/)
    assert.throws(() => scaleToRun(stage1, { steps: 10, batch: 8, lrScale: 0 }), /lrScale/)
  })
})

describe('trainable rules', () => {
  it('prefixes match whole path segments', () => {
    assert.ok(under('connector', 'connector'))
    assert.ok(under('connector.w', 'connector'))
    assert.ok(under('preDecoder.blocks.0.attn.wq', 'preDecoder.blocks'))
    assert.ok(!under('connectorX.w', 'connector'))
    assert.ok(!under('pre', 'preDecoder'))
  })

  it('stage 1 trains all but the frozen prefixes; align trains only the connector; stage 2 with [] trains all', () => {
    const paths = ['embed.patch.w', 'embed.text.table', 'embed.text.proj.w', 'preDecoder.blocks.0.mlp.w1', 'connector.w', 'postDecoder.blocks.0.attn.wq', 'heads.temperature']
    const s1 = stage1.trainable.of(['embed.text.table', 'postDecoder'])
    assert.deepEqual(paths.filter(s1), ['embed.patch.w', 'embed.text.proj.w', 'preDecoder.blocks.0.mlp.w1', 'connector.w', 'heads.temperature'])
    assert.deepEqual(paths.filter(align.trainable.of(['connector'])), ['connector.w'])
    assert.deepEqual(paths.filter(stage2.trainable.of([])), paths)
    assert.deepEqual(paths.filter(allExcept(['heads'])), paths.slice(0, -1))
    assert.deepEqual(paths.filter(only([])), [])
  })
})
