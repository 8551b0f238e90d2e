/**
 * Checks of a Float64 reference's analytic backward against its forward.
 *
 * Projection check (as in JAX's check_grads): for random u (output cotangent) and v (input direction),
 *   ⟨u, (f(x + εv) − f(x − εv)) / 2ε⟩  ≈  ⟨vjp(u), v⟩,
 * one directional derivative per input. Central differences in Float64 with ε = 1e-6 are accurate to ~1e-9
 * relative, so the tolerances (atol 1e-5, rtol 1e-3, as PyTorch's gradcheck) have wide margins.
 */
import assert from 'node:assert/strict'
import { type F64, dot64 } from '../reference/array.ts'

export interface Differentiable {
  readonly f: (xs: readonly F64[]) => F64
  /** gradient of ⟨u, f(xs)⟩ with respect to each input (null: not differentiable in that input) */
  readonly vjp: (xs: readonly F64[], u: F64) => readonly (F64 | null)[]
}

export function randomLike(x: { shape: readonly number[]; data: { length: number } }, rand: () => number): F64 {
  return { data: Float64Array.from({ length: x.data.length }, () => rand() * 2 - 1), shape: x.shape }
}

/** A seeded uniform [0, 1) generator (mulberry32) so failures reproduce. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function gradcheck(op: Differentiable, xs: readonly F64[], seed = 1, eps = 1e-6, atol = 1e-5, rtol = 1e-3): void {
  const rand = seeded(seed)
  const y = op.f(xs)
  const u = randomLike(y, rand)
  const grads = op.vjp(xs, u)
  xs.forEach((x, i) => {
    const g = grads[i]
    if (!g) return
    assert.deepEqual(g.shape, x.shape, `gradient ${i} has shape [${g.shape}], input has [${x.shape}]`)
    const v = randomLike(x, rand)
    const shifted = (sign: number) =>
      op.f(xs.map((xj, j) => (j === i ? { data: xj.data.map((val, k) => val + sign * eps * v.data[k]!), shape: xj.shape } : xj)))
    const numeric = (dot64(u.data, shifted(1).data) - dot64(u.data, shifted(-1).data)) / (2 * eps)
    const analytic = dot64(g.data, v.data)
    assert.ok(
      Math.abs(numeric - analytic) <= atol + rtol * Math.abs(numeric),
      `input ${i}: finite differences give ${numeric}, the analytic gradient gives ${analytic}`,
    )
  })
}
