/**
 * Elementwise arithmetic with broadcasting. The backward of a broadcast input sums dy over the
 * dimensions it was broadcast along (`unbroadcast`).
 *
 *   z = x + y:  dx = dy,        dy_ = dy
 *   z = x − y:  dx = dy,        dy_ = −dy
 *   z = x · y:  dx = dy · y,    dy_ = dy · x
 *   z = x / y:  dx = dy / y,    dy_ = −dy · x / y²  = −dy · z / y
 *   z = α·x + β: dx = α·dy
 */
import * as K from '../../kernels/elementwise.ts'
import { defineOp, ShapeError } from '../tape.ts'
import { Tensor, shapeText } from '../tensor.ts'

/** NumPy broadcasting of two shapes, or a ShapeError naming the op. */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length)
  const out: number[] = []
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1
    const db = b[b.length - rank + i] ?? 1
    if (da !== db && da !== 1 && db !== 1)
      throw new ShapeError(`${op}: shapes ${shapeText(a)} (input 'a') and ${shapeText(b)} (input 'b') do not broadcast`)
    out.push(da === 1 ? db : da)
  }
  if (rank > 4) throw new ShapeError(`${op}: rank ${rank} > 4 is not supported (shapes ${shapeText(a)} and ${shapeText(b)})`)
  return out
}

const binaryOp = (name: K.BinaryOp) =>
  defineOp<undefined, undefined>({
    name,
    forward: ([a, b]) => {
      const shape = broadcastShapes(name, a!.shape, b!.shape)
      return { out: K.binary(name, a!.data, a!.shape, b!.data, b!.shape, shape), shape, saved: undefined }
    },
    backward: (dy, _, [a, b], __, z) => {
      const sh = z.shape
      const da = name === 'add' || name === 'sub' ? dy
        : name === 'mul' ? K.binary('mul', dy, sh, b!.data, b!.shape, sh)
        : K.binary('div', dy, sh, b!.data, b!.shape, sh)
      const db = name === 'add' ? dy
        : name === 'sub' ? K.affine(dy, -1)
        : name === 'mul' ? K.binary('mul', dy, sh, a!.data, a!.shape, sh)
        : K.affine(K.binary('div', K.binary('mul', dy, sh, z.data, sh, sh), sh, b!.data, b!.shape, sh), -1)
      return [K.unbroadcast(da, sh, a!.shape), K.unbroadcast(db, sh, b!.shape)]
    },
  })

const addOp = binaryOp('add'), subOp = binaryOp('sub'), mulOp = binaryOp('mul'), divOp = binaryOp('div')

export const add = (a: Tensor, b: Tensor): Tensor => addOp([a, b], undefined)
export const sub = (a: Tensor, b: Tensor): Tensor => subOp([a, b], undefined)
export const mul = (a: Tensor, b: Tensor): Tensor => mulOp([a, b], undefined)
export const div = (a: Tensor, b: Tensor): Tensor => divOp([a, b], undefined)

const affineOp = defineOp<{ alpha: number; beta: number }, undefined>({
  name: 'scale',
  forward: ([x], { alpha, beta }) => ({ out: K.affine(x!.data, alpha, beta), shape: x!.shape, saved: undefined }),
  backward: (dy, _, __, { alpha }) => [K.affine(dy, alpha)],
})

/** α·x + β for plain numbers α, β. */
export const scale = (x: Tensor, alpha: number, beta = 0): Tensor => affineOp([x], { alpha, beta })
export const neg = (x: Tensor): Tensor => scale(x, -1)
