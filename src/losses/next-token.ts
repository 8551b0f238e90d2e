/**
 * Next-token prediction (eq. 1) on the answer tokens only: logits (B, T, V); targets (B·T) with −1 wherever
 * no loss is taken (prompts, images, padding). Mean over the kept targets.
 */
import { ops, type Tensor } from '../../autograd/index.ts'

export function nextToken(logits: Tensor, targets: readonly number[]): Tensor {
  const v = logits.shape[logits.rank - 1]!
  return ops.crossEntropy(ops.reshape(logits, [-1, v]), targets)
}
