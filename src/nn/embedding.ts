/** A lookup table: token ids → rows of W (V, C). Initialised N(0, 1) as PyTorch's nn.Embedding. */
import { ops, type Tensor } from '../../autograd/index.ts'
import * as Random from '../random.ts'

export interface Config {
  readonly vocab: number
  readonly width: number
  /** default 1 */
  readonly std?: number
}

export type Params = {
  readonly weight: Tensor // [V, C]
}

export const init = (key: Random.Key, c: Config): Params => ({ weight: Random.normal(key, [c.vocab, c.width], c.std ?? 1) })

/** ids: N token ids → (N, C) */
export const apply = (p: Params, ids: readonly number[]): Tensor => ops.gatherRows(p.weight, ids)
