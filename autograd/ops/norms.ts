/**
 * LayerNorm and RMSNorm over the last axis (x: …×C, weight and bias: C).
 *
 *   layerNorm: x̂ = (x − μ)/√(var + eps),  y = x̂ ⊙ w + b      dx = s·(g − mean(g) − x̂·mean(g ⊙ x̂))
 *   rmsNorm:   x̂ = x/√(mean(x²) + eps),   y = x̂ ⊙ w          dx = s·(g − x̂·mean(g ⊙ x̂))
 *
 * with s = 1/√(…) the per-row inverse scale, g = dy ⊙ w, means over the last axis; dw = Σ_rows dy ⊙ x̂,
 * db = Σ_rows dy. The forward saves the per-row statistics; x̂ is recomputed from x in the backward.
 */
import * as K from '../../kernels/norms.ts'
import { defineOp, ShapeError } from '../tape.ts'
import { Tensor, shapeText } from '../tensor.ts'

interface Saved { readonly stats: K.RowStats; readonly rows: number; readonly cols: number }

function check(op: string, x: Tensor, params: readonly [string, Tensor][]): { rows: number; cols: number } {
  if (x.rank < 1) throw new ShapeError(`${op}: input 'x' has shape ${shapeText(x.shape)}, expected at least 1 dim`)
  const cols = x.shape[x.rank - 1]!
  for (const [name, p] of params)
    if (p.rank !== 1 || p.shape[0] !== cols)
      throw new ShapeError(`${op}: input '${name}' has shape ${shapeText(p.shape)}, expected [${cols}] (the last dim of 'x', shape ${shapeText(x.shape)})`)
  return { rows: cols === 0 ? 0 : x.size / cols, cols }
}

const layerNormOp = defineOp<number, Saved>({
  name: 'layerNorm',
  forward: ([x, w, b], eps) => {
    const { rows, cols } = check('layerNorm', x!, [['weight', w!], ['bias', b!]])
    const stats = K.rowStats(x!.data, rows, cols, eps, true)
    return { out: K.normalizeRows(x!.data, stats, w!.data, b!.data, rows, cols), shape: x!.shape, saved: { stats, rows, cols } }
  },
  backward: (dy, { stats, rows, cols }, [x, w]) => {
    const { dx, dw, db } = K.normalizeRowsBackward(dy, x!.data, w!.data, stats, rows, cols, true)
    return [dx, dw, db]
  },
})

const rmsNormOp = defineOp<number, Saved>({
  name: 'rmsNorm',
  forward: ([x, w], eps) => {
    const { rows, cols } = check('rmsNorm', x!, [['weight', w!]])
    const stats = K.rowStats(x!.data, rows, cols, eps, false)
    return { out: K.normalizeRows(x!.data, stats, w!.data, null, rows, cols), shape: x!.shape, saved: { stats, rows, cols } }
  },
  backward: (dy, { stats, rows, cols }, [x, w]) => {
    const { dx, dw } = K.normalizeRowsBackward(dy, x!.data, w!.data, stats, rows, cols, false)
    return [dx, dw]
  },
})

/** LayerNorm over the last axis with an affine weight and bias (PyTorch's default eps 1e-5). */
export const layerNorm = (x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-5): Tensor => layerNormOp([x, weight, bias], eps)

/** RMSNorm over the last axis: x / √(mean(x²) + eps) ⊙ weight. */
export const rmsNorm = (x: Tensor, weight: Tensor, eps = 1e-6): Tensor => rmsNormOp([x, weight], eps)
