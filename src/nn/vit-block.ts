/**
 * A pre-LN transformer block as in CLIP's ViT:  x += Attn(LN₁ x);  x += MLP(LN₂ x).
 * HaploVL's pre-decoder is a stack of these, with RoPE on q/k and its mixed mask (DESIGN §6).
 */
import { ops, type Tensor } from '../../autograd/index.ts'
import * as Attention from './attention.ts'
import * as Mlp from './mlp.ts'
import * as Norm from './norm.ts'
import * as Random from '../random.ts'

export interface Config {
  readonly width: number
  readonly heads: number
  readonly mlpWidth: number
  readonly activation: Mlp.Activation
  readonly ropeTheta: number | null
  readonly eps: number
}

export type Params = {
  readonly ln1: Norm.LayerNormParams
  readonly attn: Attention.Params
  readonly ln2: Norm.LayerNormParams
  readonly mlp: Mlp.GeluParams
}

export const attentionConfig = (c: Config): Attention.Config => ({ width: c.width, heads: c.heads, bias: true, ropeTheta: c.ropeTheta })
const mlpConfig = (c: Config): Mlp.GeluConfig => ({ width: c.width, hidden: c.mlpWidth, activation: c.activation })

export function init(key: Random.Key, c: Config): Params {
  const [ka, km] = Random.split(key)
  return { ln1: Norm.initLayerNorm(c.width), attn: Attention.init(ka!, attentionConfig(c)), ln2: Norm.initLayerNorm(c.width), mlp: Mlp.initGelu(km!, mlpConfig(c)) }
}

export interface Output {
  readonly out: Tensor
  readonly cache: Attention.Cache
  readonly weights?: Tensor
}

/** x: (B, T, C) → (B, T, C) */
export function apply(p: Params, c: Config, x: Tensor, ctx: Attention.Context): Output {
  const a = Attention.apply(p.attn, attentionConfig(c), Norm.layerNorm(p.ln1, x, c.eps), ctx)
  const h = ops.add(x, a.out)
  const out = ops.add(h, Mlp.applyGelu(p.mlp, mlpConfig(c), Norm.layerNorm(p.ln2, h, c.eps)))
  return { ...a, out }
}
