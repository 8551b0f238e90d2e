/**
 * Cross-entropy of logits (N, V) against N integer targets, averaged over the targets ≥ 0; a negative
 * target masks its row out (that is how loss masks are expressed).
 *   loss = mean_{kept n} (logsumexp(x_n) − x[n, t_n])
 *   dx[n] = dy · (softmax(x_n) − onehot(t_n)) / #kept   on kept rows, 0 on masked rows
 * No kept row: the loss is 0 and so is the gradient. Targets are data: they take no gradient.
 */
import * as K from '../../kernels/loss.ts'
import { defineOp, ShapeError } from '../tape.ts'
import { Tensor, shapeText } from '../tensor.ts'

interface Saved { readonly targets: Float32Array; readonly lse: Float32Array }

const op = defineOp<readonly number[], Saved>({
  name: 'crossEntropy',
  forward: ([logits], targets) => {
    if (logits!.rank !== 2) throw new ShapeError(`crossEntropy: input 'logits' has shape ${shapeText(logits!.shape)}, expected (N, V)`)
    const [n, v] = logits!.shape as [number, number]
    if (targets.length !== n)
      throw new ShapeError(`crossEntropy: ${targets.length} targets for input 'logits' of shape ${shapeText(logits!.shape)}, expected N = ${n}`)
    targets.forEach((t, i) => {
      if (!Number.isInteger(t) || t >= v)
        throw new RangeError(`crossEntropy: target ${t} at row ${i} is not a class of input 'logits' of shape ${shapeText(logits!.shape)} (integers below ${v}; negative to ignore the row)`)
    })
    const f32 = Float32Array.from(targets, (t) => (t < 0 ? -1 : t))
    const { loss, lse } = K.crossEntropy(logits!.data, f32, n, v)
    return { out: loss, shape: [], saved: { targets: f32, lse } }
  },
  backward: (dy, { targets, lse }, [logits]) =>
    [K.crossEntropyBackward(logits!.data, lse, targets, dy, logits!.shape[0]!, logits!.shape[1]!)],
})

/** Mean −log softmax(logits)[target] over the rows whose target is ≥ 0; a scalar. */
export const crossEntropy = (logits: Tensor, targets: readonly number[]): Tensor => op([logits], targets)
