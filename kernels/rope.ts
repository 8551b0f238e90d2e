/**
 * Rotary position embedding, rotate-half convention, on x viewed as (B·H)×T×D with D even.
 *
 * Channel i < D/2 is paired with channel i + D/2 and the pair is rotated by the angle a = p_t·θ^{−2i/D},
 * p_t the position of token t:
 *   y_i       = x_i·cos a − x_{i+D/2}·sin a
 *   y_{i+D/2} = x_{i+D/2}·cos a + x_i·sin a
 * The rotation is orthogonal, so its VJP is the rotation by −a (sign = −1 below).
 *
 * cos a and sin a are computed on the host in Float64 and rounded once to float32 (an f32 angle for a
 * position in the thousands would already be off by 1e-4 rad), then passed to the kernel as T×(D/2) tables.
 */
import { kernel, type KernelThis } from './backend.ts'

export interface RopeTables {
  readonly cos: Float32Array
  readonly sin: Float32Array
}

const tables = new Map<string, RopeTables>()
const maxTables = 32

/** cos and sin of p_t·θ^{−2i/D} for t < T, i < D/2 (row-major T×D/2), cached by (positions, D, θ). */
export function ropeTables(positions: readonly number[], dim: number, theta: number): RopeTables {
  const key = `${dim}:${theta}:${positions.join(',')}`
  const hit = tables.get(key)
  if (hit) {
    // most recently used last: the oldest entry is the one evicted
    tables.delete(key)
    tables.set(key, hit)
    return hit
  }
  const half = dim / 2
  const cos = new Float32Array(positions.length * half), sin = new Float32Array(positions.length * half)
  for (let t = 0; t < positions.length; t++)
    for (let i = 0; i < half; i++) {
      const a = positions[t]! * Math.pow(theta, (-2 * i) / dim)
      cos[t * half + i] = Math.cos(a)
      sin[t * half + i] = Math.sin(a)
    }
  const made = { cos, sin }
  tables.set(key, made)
  if (tables.size > maxTables) tables.delete(tables.keys().next().value!)
  return made
}

function ropeKernel(this: KernelThis<{ T: number; D: number; half: number }>, x: Float32Array, cos: Float32Array, sin: Float32Array, sign: number): number {
  // thread → (row of B·H·T, channel d); the table row is the token t = row mod T
  const row = Math.floor(this.thread.x / this.constants.D)
  const d = this.thread.x - row * this.constants.D
  const t = row % this.constants.T
  if (d < this.constants.half) {
    const j = t * this.constants.half + d
    return x[this.thread.x]! * cos[j]! - sign * x[this.thread.x + this.constants.half]! * sin[j]!
  }
  const j = t * this.constants.half + d - this.constants.half
  return x[this.thread.x]! * cos[j]! + sign * x[this.thread.x - this.constants.half]! * sin[j]!
}

/** Rotate every D-vector of x ((B·H)×T×D) by its token's angles; `inverse` rotates by −a (the backward). */
export function rope(x: Float32Array, t: number, dim: number, table: RopeTables, inverse = false): Float32Array {
  if (x.length === 0) return new Float32Array(0)
  return kernel('rope', [x.length, t, dim], ropeKernel, { output: [x.length], constants: { T: t, D: dim, half: dim / 2 } })(
    x, table.cos, table.sin, inverse ? -1 : 1)
}
