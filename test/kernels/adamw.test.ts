import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { adamwStep, type AdamWHyper } from '../../kernels/adamw.ts'
import { cachedKernelCount } from '../../kernels/backend.ts'
import * as R from '../reference/adamw.ts'
import { onEachBackend } from '../helpers/backends.ts'
import { values, runs } from '../helpers/arbitraries.ts'
import { assertClose, elementwise } from '../helpers/close.ts'

const f32 = (min: number, max: number) => fc.float({ min: Math.fround(min), max: Math.fround(max), noNaN: true })

/** Float32 hyper-parameters (lr, eps, wd rounded as the kernel will see them) and a step from 1 to 10⁴. */
const hyper: fc.Arbitrary<AdamWHyper> = fc.record({
  lr: f32(1e-5, 0.1),
  beta1: fc.constantFrom(0.9, 0.8, 0),
  beta2: fc.constantFrom(0.95, 0.98, 0.999),
  eps: fc.constantFrom(1e-8, 1e-6).map(Math.fround),
  weightDecay: fc.constantFrom(0, 1e-4, 0.1).map(Math.fround),
  step: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 10000 })),
})

/** p, g, m in [−4, 4] and v ≥ 0, n values each. */
const state = fc.integer({ min: 1, max: 40 }).chain((n) =>
  fc.tuple(values(n), values(n), values(n), values(n).map((v) => v.map(Math.abs))))

describe('adamwStep', () => {
  it('matches the Float64 formula: moments, bias correction, decoupled weight decay', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(state, hyper, ([p, g, m, v], h) => {
        const out = adamwStep(Float32Array.from(p), Float32Array.from(g), Float32Array.from(m), Float32Array.from(v), h)
        // the reference sees β's as the kernel does: float32 arguments
        const e = R.adamwStep(p, g, m, v, { ...h, beta1: Math.fround(h.beta1), beta2: Math.fround(h.beta2) })
        const where = `${backend}, step ${h.step}, lr ${h.lr}, wd ${h.weightDecay}`
        assertClose(out.m, e.m, elementwise, `${where}: m`)
        assertClose(out.v, e.v, elementwise, `${where}: v`)
        assertClose(out.param, e.param, elementwise, `${where}: param`)
      }), runs(20)))
  })

  it('the decay is decoupled: it changes p by lr·wd·p and leaves the moments alone', () => {
    onEachBackend((backend) => {
      const h = { lr: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.5, step: 3 }
      const p = Float32Array.of(1, -2), g = Float32Array.of(0.25, 0.5), m = Float32Array.of(0.1, 0.2), v = Float32Array.of(0.3, 0.4)
      const decayed = adamwStep(p, g, m, v, h), plain = adamwStep(p, g, m, v, { ...h, weightDecay: 0 })
      assert.deepEqual([decayed.m, decayed.v], [plain.m, plain.v], backend)
      assertClose(decayed.param.map((x, i) => plain.param[i]! - x), [0.05, -0.1], elementwise, `${backend}: decay`)
    })
  })

  it('30 steps on a quadratic track the Float64 optimiser; one compiled kernel set serves every step', () => {
    onEachBackend((backend) => {
      const target = [0.5, -1.5, 2, 0, 3]
      let p: Float32Array = Float32Array.of(0, 0, 0, 0, 0), m: Float32Array = new Float32Array(5), v: Float32Array = new Float32Array(5)
      let ref: R.AdamWState = { param: Float64Array.from(p), m: new Float64Array(5), v: new Float64Array(5) }
      let kernels = 0
      for (let step = 1; step <= 30; step++) {
        const lr = 0.05 * (1 - step / 40) // a schedule: lr changes every step
        const h = { lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.01, step }
        const out = adamwStep(p, p.map((x, i) => x - target[i]!), m, v, h)
        ref = R.adamwStep(ref.param, ref.param.map((x, i) => x - target[i]!), ref.m, ref.v, { ...h, lr: Math.fround(lr) })
        ;({ param: p, m, v } = out)
        if (step === 1) kernels = cachedKernelCount()
      }
      assertClose(p, ref.param, { atol: 1e-5, rtol: 1e-4 }, `${backend}: parameters after 30 steps`)
      assert.equal(cachedKernelCount(), kernels, `${backend}: kernels were compiled after the first step`)
    })
  })

  it('refuses mismatched lengths and a step below 1', () => {
    const a = new Float32Array(3), h = { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, step: 1 }
    assert.throws(() => adamwStep(a, new Float32Array(2), a, a, h), /adamwStep: param has 3 values but grad, m, v have 2, 3, 3/)
    assert.throws(() => adamwStep(a, a, a, a, { ...h, step: 0 }), /adamwStep: step 0 must be an integer ≥ 1/)
  })
})
