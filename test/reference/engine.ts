/**
 * The Float64 reference path: every engine op's numerics replaced, by name, with its Float64 reference
 * (forward and VJP), for `withSubstitutes`. The model code and the tape stay the same; tensors then carry
 * Float64Arrays, so a whole training run can be compared with the float32 kernels (the golden runs).
 */
import type { OpSpec } from '../../autograd/tape.ts'
import { Tensor } from '../../src/index.ts'
import { type F64, f64 } from './array.ts'
import type { Differentiable } from '../helpers/gradcheck.ts'
import * as B from './basic.ts'
import * as A from './activations.ts'
import * as N from './norms.ts'
import { rope } from './rope.ts'
import { gatherRows } from './gather.ts'
import { crossEntropy } from './loss.ts'
import * as S from './similarity.ts'

const asF64 = (t: Tensor): F64 => ({ data: t.data instanceof Float64Array ? t.data : Float64Array.from(t.data), shape: t.shape })

/** An op spec computing with the reference `choose(attrs, inputs)`; `shape` may override the output shape. */
function substitute<A>(name: string, choose: (attrs: A, inputs: readonly Tensor[]) => Differentiable, shape?: (attrs: A, inputs: readonly Tensor[], y: F64) => readonly number[]): [string, OpSpec<never, unknown>] {
  const spec: OpSpec<A, { d: Differentiable; xs: F64[]; y: F64 }> = {
    name,
    forward: (inputs, attrs) => {
      const d = choose(attrs, inputs), xs = inputs.map(asF64), y = d.f(xs)
      return { out: y.data as unknown as Float32Array, shape: shape?.(attrs, inputs, y) ?? y.shape, saved: { d, xs, y } }
    },
    backward: (dy, { d, xs, y }) => d.vjp(xs, f64(dy, y.shape)).map((g) => (g ? (g.data as unknown as Float32Array) : null)),
  }
  return [name, spec as unknown as OpSpec<never, unknown>]
}

const reshape: Differentiable = { f: ([x]) => x!, vjp: (_, u) => [u] }

export const referenceOps: ReadonlyMap<string, OpSpec<never, unknown>> = new Map([
  substitute('add', () => B.add), substitute('sub', () => B.sub), substitute('mul', () => B.mul), substitute('div', () => B.div),
  substitute<{ alpha: number; beta: number }>('scale', ({ alpha, beta }) => B.scale(alpha, beta)),
  substitute<{ transposeB: boolean }>('matmul', ({ transposeB }) => B.matmul(transposeB)),
  substitute('softmax', () => B.softmax),
  substitute<{ axis: number | null; mean: boolean; keepDims: boolean }>(
    'sum',
    ({ axis, mean }, [x]) => B.sumAxis(axis === null ? null : axis < 0 ? axis + x!.rank : axis, mean),
    ({ axis, keepDims }, [x], y) => (keepDims ? x!.shape.map((d, i) => (axis === null || i === (axis < 0 ? axis + x!.rank : axis) ? 1 : d)) : y.shape),
  ),
  substitute<readonly number[]>('reshape', () => reshape, (shape, [x]) => {
    const known = shape.filter((d) => d !== -1).reduce((p, d) => p * d, 1)
    return shape.map((d) => (d === -1 ? x!.size / known : d))
  }),
  substitute<readonly number[]>('transpose', (perm) => B.transpose(perm)),
  substitute<{ axis: number; start: number; end: number }>('slice', ({ axis, start, end }, [x]) => B.slice(axis < 0 ? axis + x!.rank : axis, start, end)),
  substitute<number>('concat', (axis, xs) => B.concat(axis < 0 ? axis + xs[0]!.rank : axis)),
  substitute('gelu', () => A.gelu), substitute('gelu(tanh)', () => A.geluTanh), substitute('quickGelu', () => A.quickGelu),
  substitute('silu', () => A.silu), substitute('exp', () => A.exp), substitute('log', () => A.log),
  substitute<{ lo: number; hi: number }>('clamp', ({ lo, hi }) => A.clamp(lo, hi)),
  substitute<number>('layerNorm', (eps) => N.layerNorm(eps)), substitute<number>('rmsNorm', (eps) => N.rmsNorm(eps)),
  substitute<{ positions: readonly number[]; theta: number }>('rope', ({ positions, theta }) => rope(positions, theta)),
  substitute<readonly number[]>('gatherRows', (ids) => gatherRows(Array.from(ids))),
  substitute<readonly number[]>('crossEntropy', (targets) => crossEntropy(targets)),
  substitute('l2Norm', () => S.l2Norm), substitute('cosineSimilarity', () => S.cosineSimilarity),
])

/** A copy of a tensor (tree leaf) holding Float64 values, for the reference path. */
export const toFloat64 = (t: Tensor): Tensor => new Tensor(Float64Array.from(t.data) as unknown as Float32Array, t.shape)
