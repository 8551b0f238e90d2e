/**
 * Float64 references for the pointwise activations, forward and VJP (u ⊙ f'(x)).
 * JavaScript has no Math.erf: `erf` and `erfc` below are accurate to ~1e-15 (series, continued fraction).
 */
import { map64 } from './array.ts'
import type { Differentiable } from '../helpers/gradcheck.ts'

/** erf by its Maclaurin series for |z| < 3 (terms shrink below 1e-17 of the sum), else 1 − erfc. */
export function erf(z: number): number {
  const a = Math.abs(z)
  if (a >= 3) return Math.sign(z) * (1 - erfc(a))
  let term = a, sum = a
  for (let n = 1; n < 200; n++) {
    term *= (-a * a) / n // (−1)^n a^{2n+1} / n!
    const t = term / (2 * n + 1)
    sum += t
    if (Math.abs(t) < 1e-17 * Math.abs(sum)) break
  }
  return Math.sign(z) * sum * (2 / Math.sqrt(Math.PI))
}

/** erfc(z) = 1 − erf(z); for z ≥ 3 the continued fraction e^{−z²}/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …)))). */
export function erfc(z: number): number {
  if (z < 3) return 1 - erf(z)
  let f = 0
  for (let k = 60; k >= 1; k--) f = k / 2 / (z + f)
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f)
}

/** Standard normal CDF and density. */
export const Phi = (x: number): number => (x >= 0 ? 1 - 0.5 * erfc(x / Math.SQRT2) : 0.5 * erfc(-x / Math.SQRT2))
export const phi = (x: number): number => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI)

export const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z))

const pointwise = (f: (x: number) => number, df: (x: number) => number): Differentiable => ({
  f: ([x]) => map64(x!, f),
  vjp: ([x], u) => [map64(u, (g, i) => g * df(x!.data[i]!))],
})

export const gelu = pointwise((x) => x * Phi(x), (x) => Phi(x) + x * phi(x))

const k = Math.sqrt(2 / Math.PI)
export const geluTanh = pointwise(
  (x) => 0.5 * x * (1 + Math.tanh(k * (x + 0.044715 * x ** 3))),
  (x) => {
    const t = Math.tanh(k * (x + 0.044715 * x ** 3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
  },
)

export const quickGelu = pointwise(
  (x) => x * sigmoid(1.702 * x),
  (x) => sigmoid(1.702 * x) + 1.702 * x * sigmoid(1.702 * x) * (1 - sigmoid(1.702 * x)),
)

export const silu = pointwise((x) => x * sigmoid(x), (x) => sigmoid(x) * (1 + x * (1 - sigmoid(x))))

export const exp = pointwise(Math.exp, Math.exp)
export const log = pointwise(Math.log, (x) => 1 / x)

/** Gradient 1 on the closed interval [lo, hi] (PyTorch's choice at the bounds). */
export const clamp = (lo: number, hi: number): Differentiable =>
  pointwise((x) => Math.min(Math.max(x, lo), hi), (x) => (x >= lo && x <= hi ? 1 : 0))
