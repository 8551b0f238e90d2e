/**
 * exp(x) in kernel arithmetic, for kernels whose cost is dominated by exponentials (softmax, log-sum-exp).
 *
 * Why: on webasm, `Math.exp` is an imported JavaScript function, called once per lane of every vector step
 * (≈ 35 ms per million values here); the arithmetic below compiles to f32x4 instructions (≈ 5 ms per million,
 * most of which is the cost of any kernel call on a million values).
 *
 * Why it is written out inline in each kernel instead of shared as a gpu.js helper (`functions` setting):
 * webasm calls a helper once per lane with scalar code, which measured 2× slower than the inline vector code.
 * So this file holds the recipe, its table and one elementwise kernel that carries it (and is tested);
 * kernels that need exp copy these lines verbatim, with `EXP2_TABLE` passed as the constant `POW2`:
 *
 *   const xc = Math.min(Math.max(X, -103), 88.8)
 *   const n = Math.floor(xc * 1.4426950408889634 + 0.5)
 *   const r = xc - n * 0.693145751953125 - n * 1.428606765330187e-6
 *   const e = (1 + r * (1 + r * (0.49999991059303284 + r * (0.16666419804096222 + r * (0.04166822507977486 +
 *     r * (0.008374815806746483 + r * 0.0013836845755577087)))))) * 2 * this.constants.POW2[n + 149]
 *
 * - Range reduction: x = n·ln2 + r with n the nearest integer to x/ln2, so |r| ≤ ln2/2. ln2 is split
 *   Cody–Waite style into a head with 16 significant bits (n · head is exact for |n| ≤ 150) and a tail.
 * - exp(r) on [−ln2/2, ln2/2]: a degree-6 polynomial fitted for relative error (1.9e-9 before rounding,
 *   1.7e-8 with its coefficients rounded to f32), evaluated by Horner's rule.
 * - 2^n: f32 has no bit reinterpretation in gpu.js, so 2^n comes from a table of powers of two;
 *   e·2·2^(n−1) keeps 2^(n−1) finite up to n = 128, so results up to f32's maximum are reachable.
 * - Clamping x to [−103, 88.8] makes −∞ and large negative inputs give exactly 0 (2^−150 rounds to 0),
 *   x ≥ 88.8 give +∞, and NaN stays NaN. Measured on webasm: relative error ≤ 1.1e-7 (0.9 ulp) for
 *   every result in the normal f32 range; results below 2^−126 (x < −87.3) may lose precision or flush to 0.
 */
import { kernel, type KernelThis } from './backend.ts'

/** EXP2_TABLE[i] = 2^(i − 150) in f32, i = 0 … 277 (the first entry rounds to 0). */
export const EXP2_TABLE: Float32Array = Float32Array.from({ length: 278 }, (_, i) => 2 ** (i - 150))

function expElementwise(this: KernelThis<{ POW2: Float32Array }>, x: Float32Array): number {
  const xc = Math.min(Math.max(x[this.thread.x]!, -103), 88.8)
  const n = Math.floor(xc * 1.4426950408889634 + 0.5)
  const r = xc - n * 0.693145751953125 - n * 1.428606765330187e-6
  return (1 + r * (1 + r * (0.49999991059303284 + r * (0.16666419804096222 + r * (0.04166822507977486 +
    r * (0.008374815806746483 + r * 0.0013836845755577087)))))) * 2 * this.constants.POW2[n + 149]!
}

/** e^x for every element, with the arithmetic exp above. */
export function exp(x: Float32Array): Float32Array {
  if (x.length === 0) return new Float32Array(0)
  return kernel('expArithmetic', [x.length], expElementwise, { output: [x.length], constants: { POW2: EXP2_TABLE } })(x)
}
