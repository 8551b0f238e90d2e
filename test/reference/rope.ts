/**
 * Float64 reference for rotary position embedding (rotate-half) on x of shape (B, H, T, D): forward and VJP.
 * Angles and their cos/sin are computed in Float64 here (the kernels use float32-rounded tables).
 */
import { type F64, zeros64 } from './array.ts'
import type { Differentiable } from '../helpers/gradcheck.ts'

/** Rotate each pair (i, i + D/2) of every D-vector by sign·p_t·θ^{−2i/D}. */
function rotate(x: F64, positions: readonly number[], theta: number, sign: number): F64 {
  const [, , t, d] = x.shape as [number, number, number, number]
  const half = d / 2
  const y = zeros64(x.shape)
  for (let row = 0; row < x.data.length / d; row++) {
    const p = positions[row % t]!
    for (let i = 0; i < half; i++) {
      const a = sign * p * theta ** (-2 * i / d)
      const x1 = x.data[row * d + i]!, x2 = x.data[row * d + i + half]!
      y.data[row * d + i] = x1 * Math.cos(a) - x2 * Math.sin(a)
      y.data[row * d + i + half] = x2 * Math.cos(a) + x1 * Math.sin(a)
    }
  }
  return y
}

/** The VJP of a rotation is its transpose, the rotation by the opposite angle. */
export const rope = (positions: readonly number[], theta: number): Differentiable => ({
  f: ([x]) => rotate(x!, positions, theta, 1),
  vjp: (_, u) => [rotate(u, positions, theta, -1)],
})
