/**
 * The σ-based activations and GELU against Float64 over the whole float32 range, forward and backward: inputs
 * that drive the inline arithmetic exp through every step of its range reduction down to underflow, tiny and
 * huge inputs, NaN.
 *
 * An f32 result may differ from the Float64 value f by
 *
 *   5e-7 · (1 + |E|) · S  +  (1 + |x|(1 + |a'|)) · 2^−147
 *
 * - S = |f(x)| for values; for derivatives S = Σ |terms| of f'(x), whose two terms cancel near a zero of f';
 * - E is the exponent (a for σ(a), x²/2 for Φ): rounding it to f32 moves e^E by up to |E|·2^−24 relative;
 * - the last term covers an exponential that underflows into the subnormals (steps of 2^−149), times its factors.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { activation, activationBackward, type Activation } from '../../kernels/activations.ts'
import { Phi, phi } from '../reference/activations.ts'
import { onEachBackend } from '../helpers/backends.ts'
import { runs } from '../helpers/arbitraries.ts'

interface Form {
  readonly f: (x: number) => number
  /** the two terms of f'(x) */
  readonly terms: (x: number) => [number, number]
  /** the exponent's magnitude and a' (1 for Φ) */
  readonly exponent: (x: number) => number
  readonly slope: (x: number) => number
}

/** σ(a) in Float64, without the overflow of e^{−a} for a ≪ 0. */
const sigma = (a: number): number => (a >= 0 ? 1 / (1 + Math.exp(-a)) : Math.exp(a) / (1 + Math.exp(a)))

/** x·σ(a(x)); f' = σ(a) + x·a'·σ(a)·σ(−a). */
const xSigma = (a: (x: number) => number, slope: (x: number) => number): Form => ({
  f: (x) => x * sigma(a(x)),
  terms: (x) => [sigma(a(x)), x * slope(x) * sigma(a(x)) * sigma(-a(x))],
  exponent: (x) => Math.abs(a(x)),
  slope,
})

const k = Math.sqrt(8 / Math.PI)
const forms: Record<Exclude<Activation, 'exp' | 'log'>, Form> = {
  silu: xSigma((x) => x, () => 1),
  quickGelu: xSigma((x) => 1.702 * x, () => 1.702),
  // ½x(1 + tanh u) = x·σ(2u): the reference's 1 + tanh u cancels in Float64 below u ≈ −20
  geluTanh: xSigma((x) => k * (x + 0.044715 * x ** 3), (x) => k * (1 + 3 * 0.044715 * x * x)),
  geluErf: { f: (x) => x * Phi(x), terms: (x) => [Phi(x), x * phi(x)], exponent: (x) => (x * x) / 2, slope: () => 1 },
}

/** Checks f and dy·f' at every x (NaN must give NaN, every other input a finite result within the bound). */
function check(kind: keyof typeof forms, x: Float32Array, dy: Float32Array, backend: string): void {
  const form = forms[kind]
  const y = activation(kind, x), dx = activationBackward(kind, x, dy)
  x.forEach((v, i) => {
    const at = `${kind} on ${backend} at x = ${v}`
    if (Number.isNaN(v)) return assert.ok(Number.isNaN(y[i]!) && Number.isNaN(dx[i]!), `${at}: ${y[i]}, ${dx[i]}`)
    const [t0, t1] = form.terms(v)
    const g = dy[i]!
    const tiny = (1 + Math.abs(v) * (1 + form.slope(v))) * 2 ** -147 * Math.max(1, Math.abs(g))
    const grow = 5e-7 * (1 + form.exponent(v))
    for (const [what, got, want, scale] of [
      ['value', y[i]!, form.f(v), Math.abs(form.f(v))],
      ['derivative', dx[i]!, g * (t0 + t1), Math.abs(g) * (Math.abs(t0) + Math.abs(t1))],
    ] as const)
      assert.ok(Number.isFinite(got) && Math.abs(got - want) <= grow * scale + tiny, `${at}: ${what} ${got}, expected ${want}`)
  })
}

describe('activation kernels against Float64', () => {
  it('a dense grid through the exp range reduction and underflow, and powers of ten from 1e-45 to 3e38', () => {
    const grid: number[] = []
    for (let i = -120 * 256; i <= 20 * 256; i++) grid.push(i / 256)
    for (let p = -45; p <= 38.5; p += 0.01) grid.push(10 ** p, -(10 ** p))
    const x = Float32Array.from(grid), dy = new Float32Array(x.length).fill(1)
    onEachBackend((backend) => {
      for (const kind of Object.keys(forms) as (keyof typeof forms)[]) check(kind, x, dy, backend)
    })
  })

  it('any finite float32 input, the underflowing tail, NaN; with any upstream gradient', () => {
    const value = fc.oneof(
      fc.float({ noNaN: true, noDefaultInfinity: true }), // every magnitude, 1e-45 to 3.4e38
      fc.float({ min: Math.fround(-120), max: Math.fround(-2), noNaN: true }), // e^a from 1 down past underflow
      fc.float({ min: Math.fround(-1e4), max: Math.fround(1e4), noNaN: true }),
      fc.constant(NaN),
    )
    const pairs = fc.array(fc.tuple(value, fc.float({ min: Math.fround(-2), max: Math.fround(2), noNaN: true })), { minLength: 1, maxLength: 64 })
    onEachBackend((backend) =>
      fc.assert(fc.property(pairs, (ps) => {
        const x = Float32Array.from(ps, (p) => p[0]), dy = Float32Array.from(ps, (p) => p[1])
        for (const kind of Object.keys(forms) as (keyof typeof forms)[]) check(kind, x, dy, backend)
      }), runs(40)))
  })
})
