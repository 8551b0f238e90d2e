/** Learning-rate schedules: the documented formula at its landmarks, and its shape between them. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { warmupCosine, constant } from '../../src/optim/schedule.ts'
import { runs } from '../helpers/arbitraries.ts'

const near = (a: number, e: number, label: string) =>
  assert.ok(Math.abs(a - e) <= 1e-12 * Math.max(1, Math.abs(e)), `${label}: ${a}, expected ${e}`)

/** The cosine part of the formula, written out independently of the implementation. */
const cosine = (peak: number, floor: number, progress: number) => floor + (peak - floor) * 0.5 * (1 + Math.cos(Math.PI * progress))

const config = fc
  .record({
    peak: fc.double({ min: 1e-6, max: 1, noNaN: true }),
    floorFraction: fc.double({ min: 0, max: 0.5, noNaN: true }),
    warmupSteps: fc.integer({ min: 1, max: 500 }),
    decaySteps: fc.integer({ min: 2, max: 5000 }).map((n) => 2 * n), // even, so the midpoint is a step
  })
  .map(({ peak, floorFraction, warmupSteps, decaySteps }) => ({
    peak,
    floor: peak * floorFraction,
    warmupSteps,
    totalSteps: warmupSteps + decaySteps,
  }))

describe('warmupCosine', () => {
  it('starts at 0, reaches the peak at the end of warm-up, the mean of peak and floor halfway, the floor at the end', () => {
    fc.assert(fc.property(config, (c) => {
      const lr = warmupCosine(c)
      const mid = c.warmupSteps + (c.totalSteps - c.warmupSteps) / 2
      near(lr(0), 0, 'step 0')
      near(lr(c.warmupSteps), cosine(c.peak, c.floor, 0), 'end of warm-up')
      near(lr(c.warmupSteps), c.peak, 'end of warm-up is the peak')
      near(lr(mid), cosine(c.peak, c.floor, 0.5), 'midpoint')
      near(lr(mid), (c.peak + c.floor) / 2, 'midpoint is the mean')
      near(lr(c.totalSteps), cosine(c.peak, c.floor, 1), 'end')
      near(lr(c.totalSteps), c.floor, 'end is the floor')
      near(lr(c.totalSteps + 1000), c.floor, 'after the end')
    }), runs(100))
  })

  it('warms up linearly and never leaves [floor, peak] after warm-up, decaying monotonically', () => {
    fc.assert(fc.property(config, fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (c, u, w) => {
      const lr = warmupCosine(c)
      const s = Math.floor(u * c.warmupSteps)
      near(lr(s), (c.peak * s) / c.warmupSteps, `warm-up step ${s}`)
      const a = c.warmupSteps + Math.floor(w * (c.totalSteps - c.warmupSteps)), b = a + 1
      assert.ok(lr(a) >= lr(b), `not decaying between ${a} and ${b}`)
      assert.ok(lr(a) <= c.peak && lr(a) >= c.floor, `step ${a} leaves [floor, peak]`)
    }), runs(100))
  })

  it('without warm-up the first step runs at the peak', () => {
    const lr = warmupCosine({ peak: 0.1, warmupSteps: 0, totalSteps: 10, floor: 0.01 })
    near(lr(0), 0.1, 'step 0')
    near(lr(5), cosine(0.1, 0.01, 0.5), 'midpoint')
  })

  it('a bad configuration is refused naming the field', () => {
    assert.throws(() => warmupCosine({ peak: 1, warmupSteps: 11, totalSteps: 10, floor: 0 }), /warmupSteps/)
    assert.throws(() => warmupCosine({ peak: 1, warmupSteps: 1, totalSteps: 0, floor: 0 }), /totalSteps/)
    assert.throws(() => warmupCosine({ peak: 1, warmupSteps: 1, totalSteps: 10, floor: 2 }), /floor/)
    assert.throws(() => warmupCosine({ peak: NaN, warmupSteps: 1, totalSteps: 10, floor: 0 }), /peak/)
    assert.throws(() => warmupCosine({ peak: 1, warmupSteps: 1.5, totalSteps: 10, floor: 0 }), /warmupSteps/)
  })
})

describe('constant', () => {
  it('gives the same rate at every step', () => {
    const lr = constant(3e-4)
    for (const s of [0, 1, 1000, 1e9]) assert.equal(lr(s), 3e-4)
    assert.throws(() => constant(-1), /lr/)
  })
})
