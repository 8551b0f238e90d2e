/**
 * y = x·Wᵀ + b, with W stored [out, in] as PyTorch stores it (so checkpoints map one to one).
 * Initialisation as PyTorch's nn.Linear: U(−1/√in, 1/√in) for W and b.
 */
import { ops, type Tensor } from '../../autograd/index.ts'
import * as Random from '../random.ts'

export interface Config {
  readonly inFeatures: number
  readonly outFeatures: number
  /** default true */
  readonly bias?: boolean
}

export type Params = {
  readonly weight: Tensor // [out, in]
  readonly bias?: Tensor // [out]
}

export function init(key: Random.Key, c: Config): Params {
  const [kw, kb] = Random.split(key)
  const bound = 1 / Math.sqrt(c.inFeatures)
  const weight = Random.uniform(kw!, [c.outFeatures, c.inFeatures], -bound, bound)
  return c.bias === false ? { weight } : { weight, bias: Random.uniform(kb!, [c.outFeatures], -bound, bound) }
}

/** x: (…, in) → (…, out). Leading dims are folded into one: a single (N, in)·(in, out) product. */
export function apply(p: Params, x: Tensor): Tensor {
  const rows = ops.reshape(x, [-1, x.shape[x.rank - 1]!]) // (N, in)
  const y = ops.matmul(rows, p.weight, { transposeB: true }) // (N, out)
  const out = p.bias ? ops.add(y, p.bias) : y
  return ops.reshape(out, [...x.shape.slice(0, -1), p.weight.shape[0]!])
}
