/**
 * A Llama block:  x += Attn(RMSNorm₁ x) with RoPE and optional grouped-query heads;  x += SwiGLU(RMSNorm₂ x).
 * No biases. HaploVL's post-decoder is a stack of these, inherited from the LLM.
 */
import { ops, type Tensor } from '../../autograd/index.ts'
import * as Attention from './attention.ts'
import * as Mlp from './mlp.ts'
import * as Norm from './norm.ts'
import * as Random from '../random.ts'

export interface Config {
  readonly width: number
  readonly heads: number
  readonly kvHeads: number
  readonly mlpWidth: number
  readonly ropeTheta: number
  readonly eps: number
}

export type Params = {
  readonly norm1: Norm.RmsNormParams
  readonly attn: Attention.Params
  readonly norm2: Norm.RmsNormParams
  readonly mlp: Mlp.SwigluParams
}

export const attentionConfig = (c: Config): Attention.Config => ({ width: c.width, heads: c.heads, kvHeads: c.kvHeads, bias: false, ropeTheta: c.ropeTheta })

export function init(key: Random.Key, c: Config): Params {
  const [ka, km] = Random.split(key)
  return {
    norm1: Norm.initRmsNorm(c.width),
    attn: Attention.init(ka!, attentionConfig(c)),
    norm2: Norm.initRmsNorm(c.width),
    mlp: Mlp.initSwiglu(km!, { width: c.width, hidden: c.mlpWidth }),
  }
}

/** x: (B, T, C) → (B, T, C) */
export function apply(p: Params, c: Config, x: Tensor, ctx: Attention.Context): { readonly out: Tensor; readonly cache: Attention.Cache; readonly weights?: Tensor } {
  const a = Attention.apply(p.attn, attentionConfig(c), Norm.rmsNorm(p.norm1, x, c.eps), ctx)
  const h = ops.add(x, a.out)
  return { ...a, out: ops.add(h, Mlp.applySwiglu(p.mlp, Norm.rmsNorm(p.norm2, h, c.eps))) }
}
