/**
 * Pointwise activations and their derivatives: GELU (erf and tanh forms), QuickGELU, SiLU, exp, log, clamp.
 *
 * Every function here must stay finite where its value is (|x| up to 1e4 and beyond), on every backend:
 * GL's Math.tanh(50) is NaN and exp(89) is Infinity, so nothing calls Math.tanh or exponentiates a positive
 * argument that grows with |x|. The numerics rest on two stable forms:
 *
 *   σ(a) = 1 / (1 + e^{−a}) = (a ≥ 0 ? 1 : e) / (1 + e)   from e = e^{−|a|} ∈ [0, 1]
 *   Φ(x) = ½ (1 + erf(x/√2))                              the standard normal CDF, from erf or erfc
 *
 * The tanh form of GELU uses ½(1 + tanh u) = σ(2u): this is tanh(u) = sign(u)(1 − e^{−2|u|})/(1 + e^{−2|u|})
 * with the cancellation of 1 + tanh(u) for u ≪ 0 removed. Derivatives use σ(a)·σ(−a) = e/(1 + e)², from the
 * same e, instead of 1 − σ(a). NaN inputs give NaN (every comparison with NaN is false, which selects a
 * branch that evaluates e^{NaN}).
 *
 * The exponentials of GELU, QuickGELU and SiLU are the arithmetic exp of ./math.ts written out inline
 * (`POW2` = EXP2_TABLE), one kernel per family and direction (x·σ(a) serves SiLU, QuickGELU and tanh GELU;
 * erf GELU has its own): on webasm Math.exp is a JavaScript call per lane, and a helper function runs as
 * scalar code per lane, while inline arithmetic compiles to f32x4 code (3.5–8× faster per call here). Every
 * exponent is ≤ 0, and ≤ −103 gives exactly 0; x multiplies an exponential only once it is complete, so a
 * product that would overflow meets 0 as 0, not ∞·0. Branches are ternaries: webasm
 * evaluates both sides of a per-lane branch anyway, and a select is cheaper than a masked early return.
 * exp and log, which the models use only on scalars, keep Math.exp and Math.log.
 */
import { kernel, type KernelThis } from './backend.ts'
import { EXP2_TABLE } from './math.ts'

type Exp = KernelThis<{ POW2: Float32Array }>
/** a = A·x·(1 + B·x²) */
type CubicExp = KernelThis<{ A: number; B: number; POW2: Float32Array }>

// -------------------------------------------------------------------------------------------------- x·σ(a)

// x·σ(a) with a = A·x·(1 + B·x²):
//   silu(x) = x·σ(x)                                     A = 1, B = 0
//   quickgelu(x) = x·σ(1.702x)                           A = 1.702, B = 0
//   gelu_tanh(x) = ½x(1 + tanh u) = x·σ(2u),  2u = √(8/π)(x + 0.044715x³)   A = √(8/π), B = 0.044715
// x² is capped at 1e8, where e is 0 already (|x| > 13 for GELU): a stays finite for every finite x, and with
// B = 0 the factor is exactly 1.

function xSigmoid(this: CubicExp, x: Float32Array): number {
  const v = x[this.thread.x]!
  const a = this.constants.A * v * (1 + this.constants.B * Math.min(v * v, 1e8))
  // e = e^{−|a|}
  const xc = Math.min(Math.max(-Math.abs(a), -103), 88.8)
  const n = Math.floor(xc * 1.4426950408889634 + 0.5)
  const r = xc - n * 0.693145751953125 - n * 1.428606765330187e-6
  const e = (1 + r * (1 + r * (0.49999991059303284 + r * (0.16666419804096222 + r * (0.04166822507977486 +
    r * (0.008374815806746483 + r * 0.0013836845755577087)))))) * 2 * this.constants.POW2[n + 149]!
  return (a >= 0 ? v : v * e) / (1 + e)
}

// d/dx x·σ(a) = σ(a) + x·σ(a)·σ(−a)·a',  a' = A(1 + 3B·x²)
function xSigmoidGrad(this: CubicExp, x: Float32Array, dy: Float32Array): number {
  const v = x[this.thread.x]!
  const v2 = Math.min(v * v, 1e8)
  const a = this.constants.A * v * (1 + this.constants.B * v2)
  const xc = Math.min(Math.max(-Math.abs(a), -103), 88.8)
  const n = Math.floor(xc * 1.4426950408889634 + 0.5)
  const r = xc - n * 0.693145751953125 - n * 1.428606765330187e-6
  const e = (1 + r * (1 + r * (0.49999991059303284 + r * (0.16666419804096222 + r * (0.04166822507977486 +
    r * (0.008374815806746483 + r * 0.0013836845755577087)))))) * 2 * this.constants.POW2[n + 149]!
  const d = 1 + e
  const s = (a >= 0 ? 1 : e) / d
  // e/d² before v: it is 0 wherever v is large enough to overflow a product
  return dy[this.thread.x]! * (s + v * (e / (d * d)) * this.constants.A * (1 + 3 * this.constants.B * v2))
}

// -------------------------------------------------------------------------------------------------- erf GELU

/*
 * gelu(x) = x·Φ(x), with Φ(x) = ½(1 + erf(z)), z = |x|/√2, accurate to about 1e-7 absolute:
 * - z < 0.5: the Maclaurin series erf(z) = (2/√π) Σ_n (−1)^n z^{2n+1} / (n!(2n+1)) to n = 6
 *   (truncation below 5e-10 at z = 0.5);
 * - z ≥ 0.5: erfc(z) = t·exp(−z² + P(t)), t = 1/(1 + z/2), the Chebyshev fit of Press et al., Numerical
 *   Recipes §6.2 (relative error < 1.2e-7 for every z ≥ 0); Φ(−|x|) = ½ erfc(z) keeps the lower tail's
 *   relative accuracy instead of computing 1 − (1 − tiny).
 * Both halves come from the same erf/erfc value, so Φ(x) + Φ(−x) = 1 up to one rounding.
 * The derivative is Φ(x) + x·φ(x), φ(x) = e^{−x²/2}/√(2π).
 */

function geluErf(this: Exp, x: Float32Array): number {
  const v = x[this.thread.x]!
  const z = Math.abs(v) * 0.7071067811865476
  const w = z * z
  const erf = z * (1.1283791670955126 + w * (-0.37612638903183754 + w * (0.11283791670955126 + w * (-0.026866170645131252 +
    w * (0.005223977625442188 + w * (-0.0008548327023450852 + w * 0.00012055332981789664))))))
  const t = 1 / (1 + 0.5 * z)
  // erfc = t·e^{−z² + P(t)}
  const xc = Math.min(Math.max(-w - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))), -103), 88.8)
  const n = Math.floor(xc * 1.4426950408889634 + 0.5)
  const r = xc - n * 0.693145751953125 - n * 1.428606765330187e-6
  const erfc = t * (1 + r * (1 + r * (0.49999991059303284 + r * (0.16666419804096222 + r * (0.04166822507977486 +
    r * (0.008374815806746483 + r * 0.0013836845755577087)))))) * 2 * this.constants.POW2[n + 149]!
  // Φ(|x|) and Φ(−|x|)
  const upper = z < 0.5 ? 0.5 + 0.5 * erf : 1 - 0.5 * erfc
  const lower = z < 0.5 ? 0.5 - 0.5 * erf : 0.5 * erfc
  return v * (v >= 0 ? upper : lower)
}

function geluErfGrad(this: Exp, x: Float32Array, dy: Float32Array): number {
  const v = x[this.thread.x]!
  const z = Math.abs(v) * 0.7071067811865476
  const w = z * z
  const erf = z * (1.1283791670955126 + w * (-0.37612638903183754 + w * (0.11283791670955126 + w * (-0.026866170645131252 +
    w * (0.005223977625442188 + w * (-0.0008548327023450852 + w * 0.00012055332981789664))))))
  const t = 1 / (1 + 0.5 * z)
  const xc = Math.min(Math.max(-w - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))), -103), 88.8)
  const n = Math.floor(xc * 1.4426950408889634 + 0.5)
  const r = xc - n * 0.693145751953125 - n * 1.428606765330187e-6
  const erfc = t * (1 + r * (1 + r * (0.49999991059303284 + r * (0.16666419804096222 + r * (0.04166822507977486 +
    r * (0.008374815806746483 + r * 0.0013836845755577087)))))) * 2 * this.constants.POW2[n + 149]!
  const upper = z < 0.5 ? 0.5 + 0.5 * erf : 1 - 0.5 * erfc
  const lower = z < 0.5 ? 0.5 - 0.5 * erf : 0.5 * erfc
  // x·φ(x) = x·g/√(2π), g = e^{−x²/2}: x multiplies g once g is complete (x·polynomial can overflow, and ∞·0 is NaN)
  const yc = Math.min(Math.max(-0.5 * v * v, -103), 88.8)
  const m = Math.floor(yc * 1.4426950408889634 + 0.5)
  const q = yc - m * 0.693145751953125 - m * 1.428606765330187e-6
  const g = (1 + q * (1 + q * (0.49999991059303284 + q * (0.16666419804096222 + q * (0.04166822507977486 +
    q * (0.008374815806746483 + q * 0.0013836845755577087)))))) * 2 * this.constants.POW2[m + 149]!
  return dy[this.thread.x]! * ((v >= 0 ? upper : lower) + v * 0.3989422804014327 * g)
}

// -------------------------------------------------------------------------------------------------- exp, log

function expKernel(this: KernelThis, x: Float32Array): number {
  return Math.exp(x[this.thread.x]!)
}

// (eˣ)' = eˣ
function expGrad(this: KernelThis, x: Float32Array, dy: Float32Array): number {
  return dy[this.thread.x]! * Math.exp(x[this.thread.x]!)
}

function logKernel(this: KernelThis, x: Float32Array): number {
  return Math.log(x[this.thread.x]!)
}

// (log x)' = 1/x
function logGrad(this: KernelThis, x: Float32Array, dy: Float32Array): number {
  return dy[this.thread.x]! / x[this.thread.x]!
}

// -------------------------------------------------------------------------------------------------- dispatch

type Source = Parameters<typeof kernel>[2]
const pow2 = { POW2: EXP2_TABLE }
const kernels = {
  geluErf: { forward: geluErf, backward: geluErfGrad, constants: pow2 },
  geluTanh: { forward: xSigmoid, backward: xSigmoidGrad, constants: { A: 1.5957691216057308, B: 0.044715, POW2: EXP2_TABLE } },
  quickGelu: { forward: xSigmoid, backward: xSigmoidGrad, constants: { A: 1.702, B: 0, POW2: EXP2_TABLE } },
  silu: { forward: xSigmoid, backward: xSigmoidGrad, constants: { A: 1, B: 0, POW2: EXP2_TABLE } },
  exp: { forward: expKernel, backward: expGrad, constants: {} },
  log: { forward: logKernel, backward: logGrad, constants: {} },
}

export type Activation = keyof typeof kernels

/** f(x) elementwise for the activation `kind`. */
export function activation(kind: Activation, x: Float32Array): Float32Array {
  if (x.length === 0) return new Float32Array(0)
  const { forward, constants } = kernels[kind]
  return kernel('activation', [kind, x.length], forward as Source, { output: [x.length], constants })(x)
}

/** dy ⊙ f'(x) elementwise. */
export function activationBackward(kind: Activation, x: Float32Array, dy: Float32Array): Float32Array {
  if (x.length === 0) return new Float32Array(0)
  const { backward, constants } = kernels[kind]
  return kernel('activationGrad', [kind, x.length], backward as Source, { output: [x.length], constants })(x, dy)
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
