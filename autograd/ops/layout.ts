/**
 * Layout ops: reshape, transpose, slice and concat. None changes a value, so each backward routes dy back
 * to where the value came from: reshape back, inverse permutation, pad with zeros, split.
 * Slices and concatenations work on contiguous (outer, n, inner) blocks around the axis.
 */
import { permute } from '../../kernels/layout.ts'
import { defineOp, ShapeError } from '../tape.ts'
import { Tensor, shapeText, sizeOf } from '../tensor.ts'

const reshapeOp = defineOp<readonly number[], undefined>({
  name: 'reshape',
  forward: ([x], shape) => {
    const infer = shape.indexOf(-1)
    const known = sizeOf(shape.filter((d) => d !== -1))
    const full = infer >= 0 ? shape.map((d) => (d === -1 ? x!.size / known : d)) : shape
    if (sizeOf(full) !== x!.size || !full.every((d) => Number.isInteger(d) && d >= 0) || shape.filter((d) => d === -1).length > 1)
      throw new ShapeError(`reshape: input 'x' has shape ${shapeText(x!.shape)} (${x!.size} values), cannot become ${shapeText(shape)}`)
    return { out: x!.data, shape: full, saved: undefined }
  },
  backward: (dy) => [dy],
})

/** Same values, new shape (one dim may be −1: inferred). Shares memory with x. */
export const reshape = (x: Tensor, shape: readonly number[]): Tensor => reshapeOp([x], shape)

const transposeOp = defineOp<readonly number[], undefined>({
  name: 'transpose',
  forward: ([x], perm) => {
    const ok = perm.length === x!.rank && [...perm].sort().every((p, i) => p === i)
    if (!ok) throw new ShapeError(`transpose: permutation [${perm.join(', ')}] does not fit input 'x' of shape ${shapeText(x!.shape)}`)
    if (x!.rank > 4) throw new ShapeError(`transpose: input 'x' has shape ${shapeText(x!.shape)}, rank > 4 is not supported`)
    return { out: permute(x!.data, x!.shape, perm), shape: perm.map((p) => x!.shape[p]!), saved: undefined }
  },
  backward: (dy, _, [x], perm, y) => {
    const inverse = perm.map((_, i) => perm.indexOf(i))
    return [permute(dy, y.shape, inverse)]
  },
})

/** Permute axes: output axis d is input axis perm[d]. Default: swap the last two. */
export const transpose = (x: Tensor, perm?: readonly number[]): Tensor =>
  transposeOp([x], perm ?? x.shape.map((_, i) => (i < x.rank - 2 ? i : 2 * x.rank - 3 - i)))

function normAxis(op: string, shape: readonly number[], axis: number): number {
  const a = axis < 0 ? axis + shape.length : axis
  if (!Number.isInteger(a) || a < 0 || a >= shape.length) throw new ShapeError(`${op}: axis ${axis} is out of range for shape ${shapeText(shape)}`)
  return a
}

/** Copy blocks: for each outer index o, `count` values from src at o·srcRow + srcOff to dst at o·dstRow + dstOff. */
function copyBlocks(src: Float32Array, dst: Float32Array, outer: number, count: number, srcRow: number, srcOff: number, dstRow: number, dstOff: number): void {
  for (let o = 0; o < outer; o++) dst.set(src.subarray(o * srcRow + srcOff, o * srcRow + srcOff + count), o * dstRow + dstOff)
}

interface SliceAttrs { readonly axis: number; readonly start: number; readonly end: number }

const sliceOp = defineOp<SliceAttrs, { a: number; outer: number; inner: number }>({
  name: 'slice',
  forward: ([x], { axis, start, end }) => {
    const a = normAxis('slice', x!.shape, axis)
    const n = x!.shape[a]!
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= n))
      throw new ShapeError(`slice: range [${start}, ${end}) is outside axis ${a} of input 'x' with shape ${shapeText(x!.shape)}`)
    const outer = sizeOf(x!.shape.slice(0, a)), inner = sizeOf(x!.shape.slice(a + 1))
    const out = new Float32Array(outer * (end - start) * inner)
    copyBlocks(x!.data, out, outer, (end - start) * inner, n * inner, start * inner, (end - start) * inner, 0)
    const shape = x!.shape.map((d, i) => (i === a ? end - start : d))
    return { out, shape, saved: { a, outer, inner } }
  },
  backward: (dy, { a, outer, inner }, [x], { start, end }) => {
    const n = x!.shape[a]!
    const dx = new Float32Array(x!.size)
    copyBlocks(dy, dx, outer, (end - start) * inner, (end - start) * inner, 0, n * inner, start * inner)
    return [dx]
  },
})

/** x restricted to indices [start, end) along `axis`. */
export const slice = (x: Tensor, axis: number, start: number, end: number): Tensor => sliceOp([x], { axis, start, end })

const concatOp = defineOp<number, { a: number; outer: number; inner: number }>({
  name: 'concat',
  forward: (xs, axis) => {
    if (xs.length === 0) throw new ShapeError('concat: no inputs')
    const first = xs[0]!
    const a = normAxis('concat', first.shape, axis)
    xs.forEach((x, i) => {
      if (x.rank !== first.rank || x.shape.some((d, j) => j !== a && d !== first.shape[j]))
        throw new ShapeError(`concat: input ${i} has shape ${shapeText(x.shape)}, expected ${shapeText(first.shape.map((d, j) => (j === a ? '*' : d)) as never)} along axis ${a}`)
    })
    const outer = sizeOf(first.shape.slice(0, a)), inner = sizeOf(first.shape.slice(a + 1))
    const total = xs.reduce((s, x) => s + x.shape[a]!, 0)
    const out = new Float32Array(outer * total * inner)
    let offset = 0
    for (const x of xs) {
      copyBlocks(x.data, out, outer, x.shape[a]! * inner, x.shape[a]! * inner, 0, total * inner, offset * inner)
      offset += x.shape[a]!
    }
    return { out, shape: first.shape.map((d, j) => (j === a ? total : d)), saved: { a, outer, inner } }
  },
  backward: (dy, { a, outer, inner }, xs) => {
    const total = xs.reduce((s, x) => s + x.shape[a]!, 0)
    let offset = 0
    return xs.map((x) => {
      const n = x.shape[a]!
      const dx = new Float32Array(x.size)
      copyBlocks(dy, dx, outer, n * inner, total * inner, offset * inner, n * inner, 0)
      offset += n
      return dx
    })
  },
})

/** Join tensors along `axis`; all other dims must agree. */
export const concat = (xs: readonly Tensor[], axis = 0): Tensor => concatOp(xs, axis)
