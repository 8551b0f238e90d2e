/**
 * Euclidean norm and cosine similarity over the last axis; the last axis is reduced away.
 *
 *   l2Norm(x) = ‖x‖                                   dx = dy · x/‖x‖       (0 where ‖x‖ = 0)
 *   cos(a, b) = ⟨a, b⟩ / (max(‖a‖, ε)·max(‖b‖, ε))    da = dy · (b/(Nₐ N_b) − cos·a/‖a‖²), ε = 1e-8
 *
 * The cosine clamps each norm separately, as PyTorch's cosine_similarity does (since 1.12), so a zero vector
 * has cosine 0; below ε the clamped norm is constant and the second term of da vanishes. db is symmetric.
 */
import * as K from '../../kernels/similarity.ts'
import { defineOp, ShapeError } from '../tape.ts'
import { Tensor, shapeText } from '../tensor.ts'

interface Rows { readonly rows: number; readonly cols: number }

function rowsOf(op: string, x: Tensor, name: string): Rows {
  if (x.rank < 1) throw new ShapeError(`${op}: input '${name}' has shape ${shapeText(x.shape)}, expected at least 1 dim`)
  const cols = x.shape[x.rank - 1]!
  return { rows: x.shape.slice(0, -1).reduce((p, d) => p * d, 1), cols }
}

const l2NormOp = defineOp<undefined, Rows & { norms: Float32Array }>({
  name: 'l2Norm',
  forward: ([x]) => {
    const { rows, cols } = rowsOf('l2Norm', x!, 'x')
    const norms = K.rowNorms(x!.data, rows, cols)
    return { out: norms, shape: x!.shape.slice(0, -1), saved: { rows, cols, norms } }
  },
  backward: (dy, { rows, cols, norms }, [x]) => [K.rowNormsBackward(x!.data, norms, dy, rows, cols)],
})

interface CosineSaved extends Rows { readonly na: Float32Array; readonly nb: Float32Array }

const cosineOp = defineOp<undefined, CosineSaved>({
  name: 'cosineSimilarity',
  forward: ([a, b]) => {
    const { rows, cols } = rowsOf('cosineSimilarity', a!, 'a')
    if (shapeText(a!.shape) !== shapeText(b!.shape))
      throw new ShapeError(`cosineSimilarity: input 'b' has shape ${shapeText(b!.shape)}, expected the shape of input 'a', ${shapeText(a!.shape)}`)
    const na = K.rowNorms(a!.data, rows, cols), nb = K.rowNorms(b!.data, rows, cols)
    return { out: K.cosineRows(a!.data, b!.data, na, nb, rows, cols), shape: a!.shape.slice(0, -1), saved: { rows, cols, na, nb } }
  },
  backward: (dy, { rows, cols, na, nb }, [a, b], _, cos) => [
    K.cosineRowsBackward(a!.data, b!.data, na, nb, cos.data, dy, rows, cols),
    K.cosineRowsBackward(b!.data, a!.data, nb, na, cos.data, dy, rows, cols),
  ],
})

/** ‖x‖ over the last axis: shape x.shape without its last dim. */
export const l2Norm = (x: Tensor): Tensor => l2NormOp([x], undefined)

/** Cosine of a and b (same shape) over the last axis, each norm clamped at 1e-8: shape without the last dim. */
export const cosineSimilarity = (a: Tensor, b: Tensor): Tensor => cosineOp([a, b], undefined)
