/**
 * Pointwise activations and their derivatives: GELU (erf and tanh forms), QuickGELU, SiLU, exp, log, clamp.
 *
 * Every function here must stay finite where its value is (|x| up to 1e4 and beyond), on every backend:
 * GL's Math.tanh(50) is NaN and exp(89) is Infinity, so nothing calls Math.tanh or exponentiates a positive
 * argument that grows with |x|. Two stable helpers carry the numerics:
 *
 *   σ(z) = 1 / (1 + e^{−z})          evaluated from e = e^{−|z|} ∈ (0, 1]:  z ≥ 0 ? 1/(1+e) : e/(1+e)
 *   Φ(x) = ½ (1 + erf(x/√2))         the standard normal CDF, from erf for small |x| and erfc otherwise
 *
 * The tanh form of GELU uses ½(1 + tanh u) = σ(2u): this is tanh(u) = sign(u)(1 − e^{−2|u|})/(1 + e^{−2|u|})
 * with the cancellation of 1 + tanh(u) for u ≪ 0 removed. NaN inputs give NaN (no branch swallows them:
 * every comparison with NaN is false, which selects a branch that evaluates e^{NaN}).
 */
import { kernel, type KernelThis } from './backend.ts'

export const activations = { geluErf: 0, geluTanh: 1, quickGelu: 2, silu: 3, exp: 4, log: 5 } as const
export type Activation = keyof typeof activations

// -------------------------------------------------------------------------------------------------- helpers

/** σ(z) without overflow: e^{−|z|} never exceeds 1. */
function sigmoid(z: number): number {
  const e = Math.exp(-Math.abs(z))
  if (z >= 0) return 1 / (1 + e)
  return e / (1 + e)
}

/**
 * Φ(x) = ½(1 + erf(z)), z = |x|/√2, accurate to about 1e-7 absolute:
 * - z < 0.5: the Maclaurin series erf(z) = (2/√π) Σ_n (−1)^n z^{2n+1} / (n!(2n+1)) to n = 6
 *   (truncation below 5e-10 at z = 0.5);
 * - z ≥ 0.5: erfc(z) = t·exp(−z² + P(t)), t = 1/(1 + z/2), the Chebyshev fit of Press et al., Numerical
 *   Recipes §6.2 (relative error < 1.2e-7 for every z ≥ 0); Φ(−|x|) = ½ erfc(z) keeps the lower tail's
 *   relative accuracy instead of computing 1 − (1 − tiny).
 * Both halves come from the same erf/erfc value, so Φ(x) + Φ(−x) = 1 up to one rounding.
 */
function normalCdf(x: number): number {
  const z = Math.abs(x) * 0.7071067811865476
  if (z < 0.5) {
    const w = z * z
    const erf = z * (1.1283791670955126 + w * (-0.37612638903183754 + w * (0.11283791670955126 + w * (-0.026866170645131252 +
      w * (0.005223977625442188 + w * (-0.0008548327023450852 + w * 0.00012055332981789664))))))
    if (x >= 0) return 0.5 + 0.5 * erf
    return 0.5 - 0.5 * erf
  }
  const t = 1 / (1 + 0.5 * z)
  const erfc = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
  if (x >= 0) return 1 - 0.5 * erfc
  return 0.5 * erfc
}

// -------------------------------------------------------------------------------------------------- kernels

// kind: 0 geluErf, 1 geluTanh, 2 quickGelu, 3 silu, 4 exp, 5 log (see `activations`)

function activationKernel(this: KernelThis<{ kind: number }>, x: Float32Array): number {
  const v = x[this.thread.x]!
  // gelu(x) = x·Φ(x)
  if (this.constants.kind === 0) return v * normalCdf(v)
  // gelu_tanh(x) = ½x(1 + tanh u) = x·σ(2u),  u = √(2/π)(x + 0.044715x³)
  if (this.constants.kind === 1) return v * sigmoid(1.5957691216057308 * (v + 0.044715 * v * v * v))
  // quickgelu(x) = x·σ(1.702x)
  if (this.constants.kind === 2) return v * sigmoid(1.702 * v)
  // silu(x) = x·σ(x)
  if (this.constants.kind === 3) return v * sigmoid(v)
  if (this.constants.kind === 4) return Math.exp(v)
  return Math.log(v)
}

function activationGradKernel(this: KernelThis<{ kind: number }>, x: Float32Array, dy: Float32Array): number {
  const v = x[this.thread.x]!
  const g = dy[this.thread.x]!
  // gelu'(x) = Φ(x) + x·φ(x),  φ(x) = e^{−x²/2}/√(2π)
  if (this.constants.kind === 0) return g * (normalCdf(v) + v * 0.3989422804014327 * Math.exp(-0.5 * v * v))
  // d/dx x·σ(a(x)) = σ(a) + x·σ(a)·σ(−a)·a'(x), where 1 − σ(a) = σ(−a) avoids cancellation;
  // tanh form: a = 2u = √(8/π)(x + 0.044715x³), a' = √(8/π)(1 + 3·0.044715x²)
  if (this.constants.kind === 1) {
    const a = 1.5957691216057308 * (v + 0.044715 * v * v * v)
    const s = sigmoid(a)
    return g * (s + v * s * sigmoid(-a) * 1.5957691216057308 * (1 + 0.134145 * v * v))
  }
  if (this.constants.kind === 2) {
    const s = sigmoid(1.702 * v)
    return g * (s + v * s * sigmoid(-1.702 * v) * 1.702)
  }
  if (this.constants.kind === 3) {
    const s = sigmoid(v)
    return g * (s + v * s * sigmoid(-v))
  }
  // (eˣ)' = eˣ,  (log x)' = 1/x
  if (this.constants.kind === 4) return g * Math.exp(v)
  return g / v
}

const helpers = [sigmoid, normalCdf]

/** f(x) elementwise for the activation `kind`. */
export function activation(kind: Activation, x: Float32Array): Float32Array {
  if (x.length === 0) return new Float32Array(0)
  return kernel('activation', [kind, x.length], activationKernel, { output: [x.length], constants: { kind: activations[kind] }, functions: helpers })(x)
}

/** dy ⊙ f'(x) elementwise. */
export function activationBackward(kind: Activation, x: Float32Array, dy: Float32Array): Float32Array {
  if (x.length === 0) return new Float32Array(0)
  return kernel('activationGrad', [kind, x.length], activationGradKernel, { output: [x.length], constants: { kind: activations[kind] }, functions: helpers })(x, dy)
}

// -------------------------------------------------------------------------------------------------- clamp

function clampKernel(this: KernelThis, x: Float32Array, lo: number, hi: number): number {
  // min/max propagate NaN on every backend (JS Math and wasm f32.min/max alike)
  return Math.min(Math.max(x[this.thread.x]!, lo), hi)
}

function clampGradKernel(this: KernelThis, x: Float32Array, dy: Float32Array, lo: number, hi: number): number {
  const v = x[this.thread.x]!
  if (v >= lo && v <= hi) return dy[this.thread.x]!
  return 0
}

/** min(max(x, lo), hi); lo and hi are arguments (±Infinity allowed), so one kernel serves every bound. */
export function clamp(x: Float32Array, lo: number, hi: number): Float32Array {
  if (x.length === 0) return new Float32Array(0)
  return kernel('clamp', [x.length], clampKernel, { output: [x.length] })(x, lo, hi)
}

/** dy where lo ≤ x ≤ hi, else 0 (the bounds themselves pass the gradient, as in PyTorch). */
export function clampBackward(x: Float32Array, dy: Float32Array, lo: number, hi: number): Float32Array {
  if (x.length === 0) return new Float32Array(0)
  return kernel('clampGrad', [x.length], clampGradKernel, { output: [x.length] })(x, dy, lo, hi)
}
