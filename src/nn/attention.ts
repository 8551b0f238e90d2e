/**
 * Multi-head scaled dot-product attention with an additive mask, optional RoPE on q and k,
 * optional grouped-query heads (kvHeads < heads) and a KV cache for decoding.
 *
 * Internally heads lead the layout: q is (H, B, T, D), so the (H·B·T) rows of the score matrix tile a mask
 * of shape (T, Tk) (shared by the batch) or (B, T, Tk) (one per sample: padding differs): row (h·B + b)·T + t
 * reads mask row (b·T + t) = row mod (B·T).
 *   scores = q·kᵀ / √D + mask        (H, B, T, Tk)
 *   out    = softmax(scores) · v       (H, B, T, D) → (B, T, H·D) → output projection
 */
import { ops, type Tensor } from '../../autograd/index.ts'
import * as Linear from './linear.ts'
import * as Random from '../random.ts'

export interface Config {
  readonly width: number
  readonly heads: number
  /** key/value heads (grouped-query attention); default = heads */
  readonly kvHeads?: number
  readonly bias: boolean
  /** RoPE base θ on q and k, or null for none */
  readonly ropeTheta: number | null
}

export type Params = {
  readonly q: Linear.Params // [H·D, C]
  readonly k: Linear.Params // [Hkv·D, C]
  readonly v: Linear.Params // [Hkv·D, C]
  readonly o: Linear.Params // [C, H·D]
}

/** Keys and values of the positions seen so far, after RoPE, before head grouping: (Hkv, B, Tpast, D). */
export interface Cache {
  readonly k: Tensor
  readonly v: Tensor
}

export interface Context {
  /** additive: 0 where query t may attend key j, −∞ where not; (T, Tk) or (B, T, Tk) */
  readonly mask: Tensor
  /** the global position of each of the T new tokens (for RoPE) */
  readonly positions: readonly number[]
  readonly cache?: Cache
  /** also return the attention weights (B, H, T, Tk) */
  readonly withWeights?: boolean
}

export interface Output {
  readonly out: Tensor // (B, T, C)
  readonly cache: Cache
  readonly weights?: Tensor // (B, H, T, Tk)
}

export const headDim = (c: Config): number => c.width / c.heads
const kvHeads = (c: Config): number => c.kvHeads ?? c.heads

export function validate(c: Config): string | null {
  if (c.width % c.heads !== 0) return `width ${c.width} is not divisible by heads ${c.heads}`
  if (c.heads % kvHeads(c) !== 0) return `heads ${c.heads} is not divisible by kvHeads ${kvHeads(c)}`
  if (c.ropeTheta !== null && headDim(c) % 2 !== 0) return `RoPE needs an even head dim, got ${headDim(c)}`
  return null
}

export function init(key: Random.Key, c: Config): Params {
  const [kq, kk, kv, ko] = Random.split(key, 4)
  const d = headDim(c), kvWidth = kvHeads(c) * d
  return {
    q: Linear.init(kq!, { inFeatures: c.width, outFeatures: c.width, bias: c.bias }),
    k: Linear.init(kk!, { inFeatures: c.width, outFeatures: kvWidth, bias: c.bias }),
    v: Linear.init(kv!, { inFeatures: c.width, outFeatures: kvWidth, bias: c.bias }),
    o: Linear.init(ko!, { inFeatures: c.width, outFeatures: c.width, bias: c.bias }),
  }
}

/** (B, T, n·D) → (n, B, T, D) */
function splitHeads(x: Tensor, n: number): Tensor {
  const [b, t, w] = x.shape as [number, number, number]
  return ops.transpose(ops.reshape(x, [b, t, n, w / n]), [2, 0, 1, 3])
}

/** (Hkv, B, T, D) → (H, B, T, D): query head h reads key/value head ⌊h / (H/Hkv)⌋. */
function repeatHeads(x: Tensor, heads: number): Tensor {
  const [hkv, ...rest] = x.shape as [number, number, number, number]
  if (hkv === heads) return x
  const group = heads / hkv
  const rows = ops.gatherRows(ops.reshape(x, [hkv, -1]), Array.from({ length: heads }, (_, h) => Math.floor(h / group)))
  return ops.reshape(rows, [heads, ...rest])
}

export function apply(p: Params, c: Config, x: Tensor, ctx: Context): Output {
  const [b, t] = x.shape as [number, number, number]
  const d = headDim(c)
  const rope = (h: Tensor) => (c.ropeTheta === null ? h : ops.rope(h, ctx.positions, c.ropeTheta))
  const q = rope(splitHeads(Linear.apply(p.q, x), c.heads)) // (H, B, T, D)
  const kNew = rope(splitHeads(Linear.apply(p.k, x), kvHeads(c))) // (Hkv, B, T, D)
  const vNew = splitHeads(Linear.apply(p.v, x), kvHeads(c))
  const cache: Cache = ctx.cache
    ? { k: ops.concat([ctx.cache.k, kNew], 2), v: ops.concat([ctx.cache.v, vNew], 2) } // (Hkv, B, Tk, D)
    : { k: kNew, v: vNew }
  const scores = ops.scale(ops.matmul(q, repeatHeads(cache.k, c.heads), { transposeB: true }), 1 / Math.sqrt(d)) // (H, B, T, Tk)
  const weights = ops.softmax(scores, ctx.mask)
  const y = ops.matmul(weights, repeatHeads(cache.v, c.heads)) // (H, B, T, D)
  const merged = ops.reshape(ops.transpose(y, [1, 2, 0, 3]), [b, t, c.heads * d]) // (B, T, H·D)
  const out = Linear.apply(p.o, merged)
  return ctx.withWeights ? { out, cache, weights: ops.transpose(weights, [1, 0, 2, 3]) } : { out, cache }
}
