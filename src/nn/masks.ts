/**
 * Additive attention masks: 0 where a query may attend a key, −∞ where it may not.
 * Rows are queries, columns keys. HaploVL's mixed mask lives in src/haplovl/mask.ts.
 */
import { Tensor } from '../../autograd/index.ts'

/** Every query attends every key: (T, T) zeros. */
export const fullAttention = (t: number): Tensor => new Tensor(new Float32Array(t * t), [t, t])

/** Query i attends keys j ≤ i: (T, T). */
export function causal(t: number): Tensor {
  const m = new Float32Array(t * t)
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) m[i * t + j] = -Infinity
  return new Tensor(m, [t, t])
}
