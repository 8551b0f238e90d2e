/**
 * Gather rows of a table (embedding lookup): table V×C, N integer ids → N×C.
 *   y[n] = table[ids[n]]          dtable[v] = Σ_{n : ids[n] = v} dy[n]   (a scatter-add; zero for unused rows)
 * The ids are data, not a tensor: they take no gradient.
 */
import * as K from '../../kernels/gather.ts'
import { defineOp, ShapeError } from '../tape.ts'
import { Tensor, shapeText } from '../tensor.ts'

type Ids = readonly number[] | Int32Array

const op = defineOp<Ids, Float32Array>({
  name: 'gatherRows',
  forward: ([table], ids) => {
    if (table!.rank !== 2) throw new ShapeError(`gatherRows: input 'table' has shape ${shapeText(table!.shape)}, expected (V, C)`)
    const [v, c] = table!.shape as [number, number]
    if (table!.size > K.maxIndexable || ids.length * c > K.maxIndexable)
      throw new RangeError(`gatherRows: table ${shapeText(table!.shape)} with ${ids.length} ids exceeds 2^24 elements, the limit of exact float32 indexing in kernels`)
    for (let n = 0; n < ids.length; n++)
      if (!(Number.isInteger(ids[n]) && ids[n]! >= 0 && ids[n]! < v))
        throw new RangeError(`gatherRows: id ${ids[n]} at position ${n} is out of range for input 'table' of shape ${shapeText(table!.shape)} (ids must be integers in [0, ${v}))`)
    const f32 = Float32Array.from(ids) // exact: every id is below V ≤ 2^24
    return { out: K.gatherRows(table!.data, f32, c), shape: [ids.length, c], saved: f32 }
  },
  backward: (dy, f32, [table]) => [K.scatterAddRows(dy, f32, table!.shape[0]!, table!.shape[1]!)],
})

/** Rows `ids` of `table` (V, C) → (N, C). Ids must be integers in [0, V). */
export const gatherRows = (table: Tensor, ids: Ids): Tensor => op([table], ids)
