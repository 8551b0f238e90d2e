/**
 * Sum and mean, over one axis or over everything.
 *   y = Σ_j x_j       dx_j = dy
 *   y = (1/n) Σ_j x_j dx_j = dy / n
 */
import * as K from '../../kernels/reduce.ts'
import { affine } from '../../kernels/elementwise.ts'
import { defineOp, ShapeError } from '../tape.ts'
import { Tensor, shapeText, sizeOf } from '../tensor.ts'

interface Attrs { readonly axis: number | null; readonly mean: boolean; readonly keepDims: boolean }
interface Split { readonly outer: number; readonly n: number; readonly inner: number }

function split(op: string, x: Tensor, axis: number | null): Split & { axis: number | null } {
  if (axis === null) return { outer: 1, n: x.size, inner: 1, axis }
  const a = axis < 0 ? axis + x.rank : axis
  if (!Number.isInteger(a) || a < 0 || a >= x.rank) throw new ShapeError(`${op}: axis ${axis} is out of range for input 'x' of shape ${shapeText(x.shape)}`)
  return { outer: sizeOf(x.shape.slice(0, a)), n: x.shape[a]!, inner: sizeOf(x.shape.slice(a + 1)), axis: a }
}

const op = defineOp<Attrs, Split>({
  name: 'sum',
  forward: ([x], { axis, mean, keepDims }) => {
    const s = split(mean ? 'mean' : 'sum', x!, axis)
    const total = K.sumAxis(x!.data, s.outer, s.n, s.inner)
    const out = mean ? affine(total, 1 / s.n) : total
    const shape = s.axis === null
      ? (keepDims ? x!.shape.map(() => 1) : [])
      : x!.shape.flatMap((d, i) => (i === s.axis ? (keepDims ? [1] : []) : [d]))
    return { out, shape, saved: s }
  },
  backward: (dy, s, _, { mean }) => [K.repeatAxis(mean ? affine(dy, 1 / s.n) : dy, s.outer, s.n, s.inner)],
})

export interface ReduceOptions { readonly keepDims?: boolean }

/** Σ over `axis` (negative counts from the end), or over every element when no axis is given. */
export const sum = (x: Tensor, axis: number | null = null, options: ReduceOptions = {}): Tensor =>
  op([x], { axis, mean: false, keepDims: options.keepDims ?? false })

/** Mean over `axis`, or over every element when no axis is given. */
export const mean = (x: Tensor, axis: number | null = null, options: ReduceOptions = {}): Tensor =>
  op([x], { axis, mean: true, keepDims: options.keepDims ?? false })
