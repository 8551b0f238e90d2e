/**
 * Float64 references for LayerNorm and RMSNorm over the last axis: forward and VJP.
 * Inputs: [x, weight] (RMSNorm) or [x, weight, bias] (LayerNorm); each row of x is normalised on its own.
 */
import { zeros64 } from './array.ts'
import type { Differentiable } from '../helpers/gradcheck.ts'

/** Centre μ and inverse scale s of each row: s = 1/√(mean((x − μ)²) + eps), μ = mean(x) or 0. */
function stats(x: Float64Array, c: number, r: number, eps: number, centred: boolean): { mu: number; s: number } {
  let mu = 0
  if (centred) for (let j = 0; j < c; j++) mu += x[r * c + j]! / c
  let v = 0
  for (let j = 0; j < c; j++) v += (x[r * c + j]! - mu) ** 2 / c
  return { mu, s: 1 / Math.sqrt(v + eps) }
}

const norm = (eps: number, centred: boolean): Differentiable => ({
  f: ([x, w, b]) => {
    const c = x!.shape[x!.shape.length - 1]!
    const y = zeros64(x!.shape)
    for (let r = 0; r < x!.data.length / c; r++) {
      const { mu, s } = stats(x!.data, c, r, eps, centred)
      for (let j = 0; j < c; j++) y.data[r * c + j] = (x!.data[r * c + j]! - mu) * s * w!.data[j]! + (b ? b.data[j]! : 0)
    }
    return y
  },
  // With x̂ = (x − μ)s and g = u ⊙ w:  ∂/∂x_k of Σ_j g_j x̂_j = s·(g_k − [centred]·mean(g) − x̂_k·mean(g ⊙ x̂)),
  // because ∂x̂_j/∂x_k = s(δ_jk − [centred]/C) − x̂_j x̂_k s / C.
  vjp: ([x, w, b], u) => {
    const c = x!.shape[x!.shape.length - 1]!
    const gx = zeros64(x!.shape), gw = zeros64(w!.shape), gb = b ? zeros64(b.shape) : null
    for (let r = 0; r < x!.data.length / c; r++) {
      const { mu, s } = stats(x!.data, c, r, eps, centred)
      const xhat = Array.from({ length: c }, (_, j) => (x!.data[r * c + j]! - mu) * s)
      const g = Array.from({ length: c }, (_, j) => u.data[r * c + j]! * w!.data[j]!)
      const meanG = g.reduce((p, v) => p + v, 0) / c
      const meanGX = g.reduce((p, v, j) => p + v * xhat[j]!, 0) / c
      for (let j = 0; j < c; j++) {
        gx.data[r * c + j] = s * (g[j]! - (centred ? meanG : 0) - xhat[j]! * meanGX)
        gw.data[j]! += u.data[r * c + j]! * xhat[j]!
        if (gb) gb.data[j]! += u.data[r * c + j]!
      }
    }
    return gb ? [gx, gw, gb] : [gx, gw]
  },
})

export const layerNorm = (eps: number): Differentiable => norm(eps, true)
export const rmsNorm = (eps: number): Differentiable => norm(eps, false)
