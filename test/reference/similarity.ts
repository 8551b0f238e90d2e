/**
 * Float64 references for the Euclidean norm and the cosine similarity over the last axis: forward and VJP.
 */
import { type F64, zeros64 } from './array.ts'
import type { Differentiable } from '../helpers/gradcheck.ts'

const eps = 1e-8

function norms(x: F64): number[] {
  const c = x.shape[x.shape.length - 1]!
  return Array.from({ length: x.data.length / c }, (_, r) => Math.hypot(...x.data.subarray(r * c, (r + 1) * c)))
}

export const l2Norm: Differentiable = {
  f: ([x]) => ({ data: Float64Array.from(norms(x!)), shape: x!.shape.slice(0, -1) }),
  // ∂‖x‖/∂x = x/‖x‖; at x = 0 the subgradient 0
  vjp: ([x], u) => {
    const c = x!.shape[x!.shape.length - 1]!, n = norms(x!)
    const g = zeros64(x!.shape)
    for (let i = 0; i < g.data.length; i++) {
      const r = Math.floor(i / c)
      g.data[i] = n[r]! > 0 ? (u.data[r]! * x!.data[i]!) / n[r]! : 0
    }
    return [g]
  },
}

export const cosineSimilarity: Differentiable = {
  f: ([a, b]) => {
    const c = a!.shape[a!.shape.length - 1]!, na = norms(a!), nb = norms(b!)
    const y = zeros64(a!.shape.slice(0, -1))
    for (let r = 0; r < y.data.length; r++) {
      let d = 0
      for (let j = 0; j < c; j++) d += a!.data[r * c + j]! * b!.data[r * c + j]!
      y.data[r] = d / (Math.max(na[r]!, eps) * Math.max(nb[r]!, eps))
    }
    return y
  },
  // cos = d/(Nₐ N_b): ∂cos/∂a = b/(Nₐ N_b) − (d/(Nₐ² N_b))·∂Nₐ/∂a, with ∂Nₐ/∂a = a/‖a‖ when ‖a‖ > ε, else 0
  vjp: ([a, b], u) => {
    const c = a!.shape[a!.shape.length - 1]!, na = norms(a!), nb = norms(b!)
    const cos = cosineSimilarity.f([a!, b!]).data
    const grad = (self: F64, other: F64, ns: number[], no: number[]): F64 => {
      const g = zeros64(self.shape)
      for (let i = 0; i < g.data.length; i++) {
        const r = Math.floor(i / c)
        const Ns = Math.max(ns[r]!, eps), No = Math.max(no[r]!, eps)
        const dN = ns[r]! > eps ? self.data[i]! / ns[r]! : 0
        g.data[i] = u.data[r]! * (other.data[i]! / (Ns * No) - (cos[r]! / Ns) * dN)
      }
      return g
    }
    return [grad(a!, b!, na, nb), grad(b!, a!, nb, na)]
  },
}
