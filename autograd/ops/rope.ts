/**
 * Rotary position embedding on x of shape (B, H, T, D), rotate-half convention: channel pairs (i, i + D/2)
 * are rotated by p_t·θ^{−2i/D}, p_t the (arbitrary integer) position of token t.
 *   y = R(p) x           dx = R(p)ᵀ dy = R(−p) dy      (each R is a block of 2×2 rotations)
 */
import * as K from '../../kernels/rope.ts'
import { defineOp, ShapeError } from '../tape.ts'
import { Tensor, shapeText } from '../tensor.ts'

interface Attrs { readonly positions: readonly number[]; readonly theta: number }

const op = defineOp<Attrs, K.RopeTables>({
  name: 'rope',
  forward: ([x], { positions, theta }) => {
    if (x!.rank !== 4 || x!.shape[3]! % 2 !== 0)
      throw new ShapeError(`rope: input 'x' has shape ${shapeText(x!.shape)}, expected (B, H, T, D) with D even`)
    const [, , t, d] = x!.shape as [number, number, number, number]
    if (positions.length !== t)
      throw new ShapeError(`rope: ${positions.length} positions for input 'x' of shape ${shapeText(x!.shape)}, expected T = ${t}`)
    const bad = positions.findIndex((p) => !Number.isSafeInteger(p))
    if (bad >= 0) throw new RangeError(`rope: position ${positions[bad]} at index ${bad} is not an integer`)
    if (!(theta > 0) || !Number.isFinite(theta)) throw new RangeError(`rope: theta ${theta} must be a positive number`)
    const table = K.ropeTables(positions, d, theta)
    return { out: K.rope(x!.data, t, d, table), shape: x!.shape, saved: table }
  },
  backward: (dy, table, [x]) => [K.rope(dy, x!.shape[2]!, x!.shape[3]!, table, true)],
})

/** Rotate q or k, shape (B, H, T, D), by the positions of its T tokens (θ = 10000 by default). */
export const rope = (x: Tensor, positions: readonly number[], theta = 10000): Tensor => op([x], { positions, theta })
