/**
 * Compare an engine op, forward and backward, with its Float64 reference on one backend.
 *
 * Inputs are rounded to float32 first and the reference runs on those rounded values, so only the
 * kernels' own error is measured. The backward is exercised through the tape: for a random cotangent u,
 * valueAndGrad of Σ op(x) ⊙ u must equal the reference VJP(u).
 */
import { tensor, ops, valueAndGrad, type Tensor } from '../../src/index.ts'
import { type F64, f64 } from '../reference/array.ts'
import { type Differentiable, seeded } from './gradcheck.ts'
import { assertClose, type Tolerance } from './close.ts'

export interface OpUnderTest {
  readonly name: string
  readonly engine: (xs: readonly Tensor[]) => Tensor
  readonly reference: Differentiable
  /** which inputs receive gradients (default: all) */
  readonly differentiable?: readonly boolean[]
  readonly tolerance: Tolerance
  readonly backwardTolerance?: Tolerance
}

export function checkOp(op: OpUnderTest, inputs: readonly F64[], backend: string, seed = 7): void {
  const ts = inputs.map((x) => tensor(x.data, x.shape))
  const xs32 = ts.map((t) => f64(t.data, t.shape))
  const where = `${op.name} on ${backend}, shapes ${inputs.map((x) => `[${x.shape}]`).join(' ')}`

  const expected = op.reference.f(xs32)
  const y = op.engine(ts)
  if (JSON.stringify(y.shape) !== JSON.stringify(expected.shape))
    throw new Error(`${where}: output shape [${y.shape}], expected [${expected.shape}]`)
  assertClose(y.data, expected.data, op.tolerance, `${where}: forward`)

  const rand = seeded(seed)
  const u = tensor(Array.from({ length: y.size }, () => rand() * 2 - 1), y.shape)
  const expectedGrads = op.reference.vjp(xs32, f64(u.data, u.shape))
  const { grads } = valueAndGrad((params: Tensor[]) => ops.sum(ops.mul(op.engine(params), u)))(ts)
  grads.forEach((g, i) => {
    if (op.differentiable && !op.differentiable[i]) return
    const e = expectedGrads[i]
    if (!e) return
    assertClose(g.data, e.data, op.backwardTolerance ?? op.tolerance, `${where}: gradient of input ${i}`)
  })
}
