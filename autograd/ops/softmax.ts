/**
 * Softmax over the last axis, with an optional additive mask (0 where allowed, −∞ where not).
 *   y = exp(x + mask − lse(x + mask))         dx = y ⊙ (dy − Σ_c dy ⊙ y)
 * The mask's shape is the trailing (…, C) part of x's shape or any shape whose row count divides x's:
 * a (T, T) mask serves scores of shape (B, H, T, T).
 */
import * as K from '../../kernels/softmax.ts'
import { defineOp, ShapeError } from '../tape.ts'
import { Tensor, shapeText } from '../tensor.ts'

interface Dims { readonly rows: number; readonly cols: number }

const op = defineOp<undefined, Dims>({
  name: 'softmax',
  forward: ([x, mask]) => {
    if (x!.rank < 1) throw new ShapeError(`softmax: input 'x' has shape ${shapeText(x!.shape)}, expected at least 1 dim`)
    const cols = x!.shape[x!.rank - 1]!
    const rows = x!.size / Math.max(cols, 1)
    let maskRows = 1
    if (mask) {
      maskRows = mask.size / Math.max(cols, 1)
      if (mask.shape[mask.rank - 1] !== cols || !Number.isInteger(maskRows) || rows % maskRows !== 0)
        throw new ShapeError(`softmax: input 'mask' has shape ${shapeText(mask.shape)}, which does not tile input 'x' of shape ${shapeText(x!.shape)}`)
    }
    const out = K.softmaxRows(x!.data, rows, cols, mask?.data, maskRows)
    return { out, shape: x!.shape, saved: { rows, cols } }
  },
  // the mask is a constant: no gradient flows to it
  backward: (dy, { rows, cols }, _, __, y) => [K.softmaxRowsBackward(y.data, dy, rows, cols), null],
})

/** Softmax over the last axis of x, after adding `mask` (broadcast over leading rows) when given. */
export const softmax = (x: Tensor, mask?: Tensor): Tensor => op(mask ? [x, mask] : [x], undefined)
