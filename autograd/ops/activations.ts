/**
 * Pointwise activations. Each backward is dx = dy ⊙ f'(x), with x the saved input:
 *
 *   gelu(x)       = x·Φ(x)                       f' = Φ(x) + x·φ(x)
 *   gelu_tanh(x)  = ½x(1 + tanh u) = x·σ(2u)     f' = σ(2u) + x·σ(2u)·σ(−2u)·2u',  u = √(2/π)(x + 0.044715x³)
 *   quickgelu(x)  = x·σ(1.702x)                  f' = σ(1.702x) + 1.702·x·σ(1.702x)·σ(−1.702x)
 *   silu(x)       = x·σ(x)                       f' = σ(x) + x·σ(x)·σ(−x)
 *   exp(x)                                       f' = exp(x)
 *   log(x)                                       f' = 1/x
 *   clamp(x, lo, hi) = min(max(x, lo), hi)       f' = 1 where lo ≤ x ≤ hi, else 0
 *
 * Φ and φ are the standard normal CDF and density; the stable forms live in kernels/activations.ts.
 */
import * as K from '../../kernels/activations.ts'
import { defineOp } from '../tape.ts'
import { Tensor } from '../tensor.ts'

const pointwise = (kind: K.Activation, name: string) =>
  defineOp<undefined, undefined>({
    name,
    forward: ([x]) => ({ out: K.activation(kind, x!.data), shape: x!.shape, saved: undefined }),
    backward: (dy, _, [x]) => [K.activationBackward(kind, x!.data, dy)],
  })

const geluErfOp = pointwise('geluErf', 'gelu'), geluTanhOp = pointwise('geluTanh', 'gelu(tanh)')
const quickGeluOp = pointwise('quickGelu', 'quickGelu'), siluOp = pointwise('silu', 'silu')
const expOp = pointwise('exp', 'exp'), logOp = pointwise('log', 'log')

export interface GeluOptions {
  /** 'none' (default): the exact erf form; 'tanh': the tanh approximation (PyTorch's approximate='tanh'). */
  readonly approximate?: 'none' | 'tanh'
}

/** GELU, x·Φ(x), or its tanh approximation. */
export const gelu = (x: Tensor, options: GeluOptions = {}): Tensor =>
  ((options.approximate ?? 'none') === 'tanh' ? geluTanhOp : geluErfOp)([x], undefined)

/** x·σ(1.702x), the GELU approximation of CLIP. */
export const quickGelu = (x: Tensor): Tensor => quickGeluOp([x], undefined)

/** x·σ(x) (also called swish). */
export const silu = (x: Tensor): Tensor => siluOp([x], undefined)

export const exp = (x: Tensor): Tensor => expOp([x], undefined)

/** Natural logarithm (NaN below 0, −∞ at 0). */
export const log = (x: Tensor): Tensor => logOp([x], undefined)

const clampOp = defineOp<{ lo: number; hi: number }, undefined>({
  name: 'clamp',
  forward: ([x], { lo, hi }) => ({ out: K.clamp(x!.data, lo, hi), shape: x!.shape, saved: undefined }),
  backward: (dy, _, [x], { lo, hi }) => [K.clampBackward(x!.data, dy, lo, hi)],
})

/** min(max(x, min), max); either bound may be ±Infinity. */
export const clamp = (x: Tensor, min = -Infinity, max = Infinity): Tensor => {
  if (Number.isNaN(min) || Number.isNaN(max) || min > max) throw new RangeError(`clamp: bounds [${min}, ${max}] are not an interval`)
  return clampOp([x], { lo: min, hi: max })
}
