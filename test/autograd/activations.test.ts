import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ops, tensor, valueAndGrad, type Tensor } from '../../src/index.ts'
import * as R from '../reference/activations.ts'
import { f64, type F64 } from '../reference/array.ts'
import { gradcheck, type Differentiable } from '../helpers/gradcheck.ts'
import { checkOp } from '../helpers/opcheck.ts'
import { onEachBackend } from '../helpers/backends.ts'
import { arrayOf, shape, runs } from '../helpers/arbitraries.ts'
import { elementwise } from '../helpers/close.ts'

interface Case {
  readonly name: string
  readonly engine: (x: Tensor) => Tensor
  readonly reference: Differentiable
  /** maps generated values into the op's domain (log needs x > 0) */
  readonly domain?: (v: number) => number
}

const cases: readonly Case[] = [
  { name: 'gelu', engine: (x) => ops.gelu(x), reference: R.gelu },
  { name: 'gelu(tanh)', engine: (x) => ops.gelu(x, { approximate: 'tanh' }), reference: R.geluTanh },
  { name: 'quickGelu', engine: ops.quickGelu, reference: R.quickGelu },
  { name: 'silu', engine: ops.silu, reference: R.silu },
  { name: 'exp', engine: ops.exp, reference: R.exp },
  { name: 'log', engine: ops.log, reference: R.log, domain: (v) => Math.abs(v) + 0.125 },
]

const inputs = (domain = (v: number) => v, bound = 6): fc.Arbitrary<F64> =>
  shape(3, 5).chain((s) => arrayOf(s, bound)).map((x) => ({ ...x, data: x.data.map(domain) }))

describe('activations', () => {
  for (const c of cases) {
    it(`${c.name}: reference gradient passes gradcheck`, () => {
      fc.assert(fc.property(inputs(c.domain), (x) => gradcheck(c.reference, [x])), runs(20))
    })
    it(`${c.name}: kernels match the reference, forward and backward`, () => {
      onEachBackend((backend) =>
        fc.assert(fc.property(inputs(c.domain), (x) =>
          checkOp({ name: c.name, engine: ([t]) => c.engine(t!), reference: c.reference, tolerance: elementwise }, [x], backend)), runs(15)))
    })
  }

  it('the float32 Φ is good to ~1e-7: gelu and gelu′ within 2.5e-7·max(1, |y|) on a dense grid over [−10, 10]', () => {
    const n = 20001
    const x = tensor(Array.from({ length: n }, (_, i) => -10 + (20 * i) / (n - 1)), [n])
    const x64 = f64(x.data, [n])
    const ones = f64(new Array(n).fill(1), [n])
    onEachBackend((backend) => {
      for (const [name, approximate, ref] of [['gelu', 'none', R.gelu], ['gelu(tanh)', 'tanh', R.geluTanh]] as const) {
        const y = ops.gelu(x, { approximate })
        const { grads } = valueAndGrad((p: { x: Tensor }) => ops.sum(ops.gelu(p.x, { approximate })))({ x })
        for (const [what, got, want] of [['value', y.data, ref.f([x64]).data], ['derivative', grads.x.data, ref.vjp([x64], ones)[0]!.data]] as const)
          want.forEach((e, i) => {
            assert.ok(Math.abs(got[i]! - e) <= 2.5e-7 * Math.max(1, Math.abs(e)), `${name} ${what} on ${backend} at x = ${x.data[i]}: ${got[i]}, expected ${e}`)
          })
      }
    })
  })

  it('gelu tails: both forms match the reference out to |x| = 30', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(inputs(undefined, 30), (x) => {
        checkOp({ name: 'gelu', engine: ([t]) => ops.gelu(t!), reference: R.gelu, tolerance: elementwise }, [x], backend)
        checkOp({ name: 'gelu(tanh)', engine: ([t]) => ops.gelu(t!, { approximate: 'tanh' }), reference: R.geluTanh, tolerance: elementwise }, [x], backend)
      }), runs(10)))
  })
})

describe('clamp', () => {
  const bounds = fc.tuple(fc.float({ min: Math.fround(-3), max: Math.fround(0), noNaN: true }), fc.float({ min: Math.fround(0), max: Math.fround(3), noNaN: true }))
  // central differences need every value at least 1e-4 away from the kinks at the bounds
  const awayFrom = (lo: number, hi: number) => (v: number) => (Math.abs(v - lo) < 1e-4 || Math.abs(v - hi) < 1e-4 ? v + 3e-4 : v)
  it('reference gradient passes gradcheck', () => {
    fc.assert(fc.property(bounds, inputs(undefined, 4), ([lo, hi], x) =>
      gradcheck(R.clamp(lo, hi), [{ ...x, data: x.data.map(awayFrom(lo, hi)) }])), runs(20))
  })
  it('kernels match the reference; the gradient passes only where x is not clamped', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(bounds, inputs(undefined, 4), ([lo, hi], x) => {
        checkOp({ name: 'clamp', engine: ([t]) => ops.clamp(t!, lo, hi), reference: R.clamp(lo, hi), tolerance: elementwise }, [x], backend)
        // one-sided, as the learnable temperature uses it: exp(s) clamped at 100
        checkOp({ name: 'clamp(−∞, hi)', engine: ([t]) => ops.clamp(t!, -Infinity, hi), reference: R.clamp(-Infinity, hi), tolerance: elementwise }, [x], backend)
      }), runs(10)))
  })
  it('refuses bounds that are not an interval', () => {
    assert.throws(() => ops.clamp(tensor([1], [1]), 2, 1), /clamp: bounds \[2, 1\]/)
  })
})

describe('activation properties', () => {
  const wide = fc.array(fc.float({ min: Math.fround(-1e4), max: Math.fround(1e4), noNaN: true }), { minLength: 1, maxLength: 16 })

  it('gelu(x) − gelu(−x) = x for both forms, for |x| up to 1e4', () => {
    onEachBackend((backend) =>
      fc.assert(fc.property(wide, (vs) => {
        const values = [...vs, 1e4, -1e4, 0]
        const x = tensor(values, [values.length])
        for (const approximate of ['none', 'tanh'] as const) {
          const d = ops.sub(ops.gelu(x, { approximate }), ops.gelu(ops.neg(x), { approximate }))
          d.data.forEach((v, i) => {
            const e = x.data[i]!
            assert.ok(Math.abs(v - e) <= 1e-6 * Math.max(1, Math.abs(e)), `gelu(${approximate}) on ${backend}: gelu(x) − gelu(−x) = ${v} for x = ${e}`)
          })
        }
      }), runs(15)))
  })

  it('no NaN or Inf at ±1e4, forward or backward; the saturated values are exact', () => {
    onEachBackend((backend) => {
      const x = tensor([1e4, -1e4], [2])
      for (const [name, f] of [
        ['gelu', (t: Tensor) => ops.gelu(t)], ['gelu(tanh)', (t: Tensor) => ops.gelu(t, { approximate: 'tanh' })],
        ['quickGelu', ops.quickGelu], ['silu', ops.silu],
      ] as const) {
        const y = f(x)
        assert.deepEqual([y.data[0], Math.abs(y.data[1]!)], [1e4, 0], `${name} on ${backend}: f(±1e4) = ${[...y.data]}`)
        const { grads } = valueAndGrad((p: { x: Tensor }) => ops.sum(f(p.x)))({ x })
        assert.deepEqual([...grads.x.data].map(Math.abs), [1, 0], `${name} on ${backend}: f'(±1e4) = ${[...grads.x.data]}`)
      }
    })
  })

  it('NaN propagates through every activation (and through clamp)', () => {
    onEachBackend((backend) => {
      const x = tensor([NaN, 1, -1, NaN], [4])
      for (const [name, f] of [
        ['gelu', (t: Tensor) => ops.gelu(t)], ['gelu(tanh)', (t: Tensor) => ops.gelu(t, { approximate: 'tanh' })],
        ['quickGelu', ops.quickGelu], ['silu', ops.silu], ['exp', ops.exp], ['log', ops.log], ['clamp', (t: Tensor) => ops.clamp(t, -0.5, 0.5)],
      ] as const) {
        const y = f(x)
        assert.ok(Number.isNaN(y.data[0]) && Number.isNaN(y.data[3]), `${name} on ${backend}: NaN became ${y.data[0]}, ${y.data[3]}`)
        assert.ok(Number.isFinite(y.data[1]), `${name} on ${backend}: a NaN elsewhere leaked into f(1) = ${y.data[1]}`)
      }
    })
  })

  it('the reference erf matches known values', () => {
    // erf(0.5), erf(1), erf(2), erfc(5), erfc(10) to 15 digits
    const known: [number, number][] = [[R.erf(0.5), 0.5204998778130465], [R.erf(1), 0.8427007929497149], [R.erf(2), 0.9953222650189527],
      [R.erfc(5), 1.5374597944280349e-12], [R.erfc(10), 2.088487583762545e-45]]
    for (const [a, e] of known) assert.ok(Math.abs(a - e) <= 1e-14 * e, `${a} ≠ ${e}`)
    const below = R.erfc(3 - 1e-12), above = R.erfc(3 + 1e-12)
    assert.ok(Math.abs(below - above) <= 1e-13, `erfc jumps from ${below} to ${above} where the series hands over to the continued fraction`)
  })
})
