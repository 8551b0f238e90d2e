/**
 * The two feed-forward forms:
 *   GELU MLP (ViT):   y = fc2(act(fc1 x)),                act ∈ {gelu (erf), gelu-tanh, quick-gelu}
 *   SwiGLU (Llama):   y = down(silu(gate x) ⊙ up x),       no biases
 */
import { ops, type Tensor } from '../../autograd/index.ts'
import * as Linear from './linear.ts'
import * as Random from '../random.ts'

export type Activation = 'gelu' | 'gelu-tanh' | 'quick-gelu'

export interface GeluConfig {
  readonly width: number
  readonly hidden: number
  readonly activation: Activation
}

export type GeluParams = {
  readonly fc1: Linear.Params
  readonly fc2: Linear.Params
}

export function initGelu(key: Random.Key, c: GeluConfig): GeluParams {
  const [k1, k2] = Random.split(key)
  return {
    fc1: Linear.init(k1!, { inFeatures: c.width, outFeatures: c.hidden }),
    fc2: Linear.init(k2!, { inFeatures: c.hidden, outFeatures: c.width }),
  }
}

export function activate(x: Tensor, activation: Activation): Tensor {
  if (activation === 'quick-gelu') return ops.quickGelu(x)
  return ops.gelu(x, { approximate: activation === 'gelu-tanh' ? 'tanh' : 'none' })
}

export const applyGelu = (p: GeluParams, c: GeluConfig, x: Tensor): Tensor =>
  Linear.apply(p.fc2, activate(Linear.apply(p.fc1, x), c.activation))

export interface SwigluConfig {
  readonly width: number
  readonly hidden: number
}

export type SwigluParams = {
  readonly gate: Linear.Params
  readonly up: Linear.Params
  readonly down: Linear.Params
}

export function initSwiglu(key: Random.Key, c: SwigluConfig): SwigluParams {
  const [kg, ku, kd] = Random.split(key, 3)
  return {
    gate: Linear.init(kg!, { inFeatures: c.width, outFeatures: c.hidden, bias: false }),
    up: Linear.init(ku!, { inFeatures: c.width, outFeatures: c.hidden, bias: false }),
    down: Linear.init(kd!, { inFeatures: c.hidden, outFeatures: c.width, bias: false }),
  }
}

export const applySwiglu = (p: SwigluParams, x: Tensor): Tensor =>
  Linear.apply(p.down, ops.mul(ops.silu(Linear.apply(p.gate, x)), Linear.apply(p.up, x)))
