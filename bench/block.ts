/**
 * One pre-LN transformer block, forward and backward, written twice with the same parameters:
 * from haplovl's `ops.*` and from TensorFlow.js ops.
 *
 *   h = LN₁(x);  q, k, v = h·Wqᵀ + bq, …            (B, T, C) → (B, H, T, D)
 *   a = softmax(q·kᵀ/√D)·v                           (B, H, T, D) → (B, T, C)
 *   x₁ = x + a·Woᵀ + bo
 *   x₂ = x₁ + gelu(LN₂(x₁)·W₁ᵀ + b₁)·W₂ᵀ + b₂         GELU in its exact erf form
 *   loss = Σ x₂ ⊙ u                                   u fixed, so every output carries gradient
 *
 * Gradients are taken with respect to every parameter and x.
 */
import { ops, tensor, valueAndGrad, type Tensor } from '../src/index.ts'
import type { Tf } from './tfjs.ts'

export interface BlockConfig {
  readonly batch: number
  readonly tokens: number
  readonly width: number
  readonly heads: number
  readonly hidden: number
}

type Names = 'x' | 'u' | 'ln1w' | 'ln1b' | 'wq' | 'bq' | 'wk' | 'bk' | 'wv' | 'bv' | 'wo' | 'bo' | 'ln2w' | 'ln2b' | 'w1' | 'b1' | 'w2' | 'b2'
export type BlockData = Record<Names, { readonly data: Float32Array; readonly shape: number[] }>

/** Parameters and inputs from a fixed-seed generator (weights ~ U(−1, 1)/√fan-in). */
export function blockData(c: BlockConfig, seed = 1): BlockData {
  let s = seed >>> 0
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1
  const t = (shape: number[], scale: number, offset = 0) => ({
    data: Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => offset + rand() * scale),
    shape,
  })
  const { batch: B, tokens: T, width: C, hidden: F } = c
  return {
    x: t([B, T, C], 1), u: t([B, T, C], 1),
    ln1w: t([C], 0.1, 1), ln1b: t([C], 0.1), ln2w: t([C], 0.1, 1), ln2b: t([C], 0.1),
    wq: t([C, C], 1 / Math.sqrt(C)), bq: t([C], 0.1), wk: t([C, C], 1 / Math.sqrt(C)), bk: t([C], 0.1),
    wv: t([C, C], 1 / Math.sqrt(C)), bv: t([C], 0.1), wo: t([C, C], 1 / Math.sqrt(C)), bo: t([C], 0.1),
    w1: t([F, C], 1 / Math.sqrt(C)), b1: t([F], 0.1), w2: t([C, F], 1 / Math.sqrt(F)), b2: t([C], 0.1),
  }
}

type Params = Record<Exclude<Names, 'u'>, Tensor>

/** A function that runs forward + backward once and returns the loss. */
export function haplovlBlock(c: BlockConfig, d: BlockData): () => number {
  const { batch: B, tokens: T, width: C, heads: H } = c
  const D = C / H
  const { u: uData, ...rest } = d
  const params = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, tensor(v.data, v.shape)])) as Params
  const u = tensor(uData.data, uData.shape)
  const linear = (x: Tensor, w: Tensor, b: Tensor) => ops.add(ops.matmul(x, w, { transposeB: true }), b)
  const heads = (x: Tensor) => ops.transpose(ops.reshape(x, [B, T, H, D]), [0, 2, 1, 3]) // (B, H, T, D)
  const loss = (p: Params) => {
    const h = ops.layerNorm(p.x, p.ln1w, p.ln1b)
    const q = heads(linear(h, p.wq, p.bq)), k = heads(linear(h, p.wk, p.bk)), v = heads(linear(h, p.wv, p.bv))
    const att = ops.softmax(ops.scale(ops.matmul(q, k, { transposeB: true }), 1 / Math.sqrt(D))) // (B, H, T, T)
    const a = ops.reshape(ops.transpose(ops.matmul(att, v), [0, 2, 1, 3]), [B, T, C])
    const x1 = ops.add(p.x, linear(a, p.wo, p.bo))
    const m = ops.gelu(linear(ops.layerNorm(x1, p.ln2w, p.ln2b), p.w1, p.b1))
    const x2 = ops.add(x1, linear(m, p.w2, p.b2))
    return ops.sum(ops.mul(x2, u))
  }
  const step = valueAndGrad(loss)
  return () => step(params).value
}

/** The same block in TensorFlow.js; forward + backward with tf.valueAndGrads, gradients read back. */
export function tfjsBlock(tf: Tf, c: BlockConfig, d: BlockData): { run: () => number; dispose: () => void } {
  const { batch: B, tokens: T, width: C, heads: H } = c
  const D = C / H
  const names = ['x', 'ln1w', 'ln1b', 'wq', 'bq', 'wk', 'bk', 'wv', 'bv', 'wo', 'bo', 'ln2w', 'ln2b', 'w1', 'b1', 'w2', 'b2'] as const
  const inputs = names.map((n) => tf.tensor(d[n].data, d[n].shape))
  const u = tf.tensor(d.u.data, d.u.shape)
  type T = ReturnType<typeof tf.tensor>
  const layerNorm = (x: T, w: T, b: T) => {
    const { mean, variance } = tf.moments(x, -1, true)
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), w), b)
  }
  const linear = (x: T, w: T, b: T) => tf.add(tf.matMul(tf.reshape(x, [-1, x.shape[x.rank - 1]!]), w, false, true), b)
  const heads = (x: T) => tf.transpose(tf.reshape(x, [B, T, H, D]), [0, 2, 1, 3])
  const gelu = (x: T) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1))
  const f = (...p: T[]): T => {
    const [x, ln1w, ln1b, wq, bq, wk, bk, wv, bv, wo, bo, ln2w, ln2b, w1, b1, w2, b2] = p as [T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T]
    const h = layerNorm(x, ln1w, ln1b)
    const q = heads(linear(h, wq, bq)), k = heads(linear(h, wk, bk)), v = heads(linear(h, wv, bv))
    const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(D)))
    const a = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [B, T, C])
    const x1 = tf.add(x, tf.reshape(linear(a, wo, bo), [B, T, C]))
    const m = gelu(linear(layerNorm(x1, ln2w, ln2b), w1, b1))
    const x2 = tf.add(x1, tf.reshape(linear(m, w2, b2), [B, T, C]))
    return tf.sum(tf.mul(x2, u))
  }
  const step = tf.valueAndGrads(f)
  return {
    run: () => {
      let value = 0
      tf.tidy(() => {
        const { value: v, grads } = step(inputs)
        for (const g of grads) g.dataSync()
        value = (v.dataSync() as Float32Array)[0]!
      })
      return value
    },
    dispose: () => tf.dispose([...inputs, u]),
  }
}
