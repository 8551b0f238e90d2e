/**
 * Matrix product over the last two axes, batched over the leading ones.
 *
 *   C = A·B    (A: …×M×K, B: …×K×N)       dA = dC·Bᵀ,   dB = Aᵀ·dC
 *   C = A·Bᵀ   (transposeB, B: …×N×K)     dA = dC·B,    dB = dCᵀ·A
 *
 * Leading dims must agree, or one side must be a plain matrix shared by the whole batch (a weight).
 * The gradient of a shared matrix sums over the batch, which is one product with the batch folded into
 * the reduction axis: dB = Σ_b A_bᵀ·dC_b = (A as (bM)×K)ᵀ · (dC as (bM)×N).
 */
import * as K from '../../kernels/matmul.ts'
import { unbroadcast } from '../../kernels/elementwise.ts'
import { defineOp, ShapeError } from '../tape.ts'
import { Tensor, shapeText, sizeOf } from '../tensor.ts'

interface Attrs { readonly transposeB: boolean }
interface Plan { readonly batch: number; readonly m: number; readonly k: number; readonly n: number; readonly batchedA: boolean; readonly batchedB: boolean }

function plan(a: Tensor, b: Tensor, { transposeB }: Attrs): { plan: Plan; shape: number[] } {
  const name = transposeB ? 'matmul(a, bᵀ)' : 'matmul'
  if (a.rank < 2) throw new ShapeError(`${name}: input 'a' has shape ${shapeText(a.shape)}, expected at least 2 dims`)
  if (b.rank < 2) throw new ShapeError(`${name}: input 'b' has shape ${shapeText(b.shape)}, expected at least 2 dims`)
  const [m, ka] = a.shape.slice(-2) as [number, number]
  const [kb, n] = (transposeB ? [...b.shape.slice(-2)].reverse() : b.shape.slice(-2)) as [number, number]
  if (ka !== kb)
    throw new ShapeError(`${name}: inner dims differ: 'a' has shape ${shapeText(a.shape)} (K=${ka}), 'b' has shape ${shapeText(b.shape)} (K=${kb})`)
  const lead = (t: Tensor) => t.shape.slice(0, -2)
  const batchedA = a.rank > 2, batchedB = b.rank > 2
  if (batchedA && batchedB && shapeText(lead(a)) !== shapeText(lead(b)))
    throw new ShapeError(`${name}: batch dims differ: 'a' has shape ${shapeText(a.shape)}, 'b' has shape ${shapeText(b.shape)}`)
  const leadDims = batchedA ? lead(a) : lead(b)
  return { plan: { batch: sizeOf(leadDims), m, k: ka, n, batchedA, batchedB }, shape: [...leadDims, m, n] }
}

const op = defineOp<Attrs, Plan>({
  name: 'matmul',
  forward: ([a, b], attrs) => {
    const { plan: p, shape } = plan(a!, b!, attrs)
    const out = K.matmul(a!.data, b!.data, { ...p, transA: false, transB: attrs.transposeB })
    return { out, shape, saved: p }
  },
  backward: (dC, p, [a, b], { transposeB }) => {
    const { batch, m, k, n, batchedA, batchedB } = p
    // dA (…×M×K) = dC (…×M×N) · op(B)ᵀ : B is K×N → read transposed; B stored N×K (transposeB) → read as is.
    const dA0 = K.matmul(dC, b!.data, { batch, m, k: n, n: k, transA: false, transB: !transposeB, batchedA: true, batchedB })
    const dA = batchedA ? dA0 : unbroadcast(dA0, [batch, m * k], [1, m * k])
    // dB: with B = K×N, dB = Aᵀ·dC (K×N); with B stored N×K, dB = dCᵀ·A (N×K).
    // A shared B folds the batch into the reduction axis (see the header).
    const fold = !batchedB
    const bb = fold ? 1 : batch, rows = fold ? batch * m : m
    const dB = transposeB
      ? K.matmul(dC, a!.data, { batch: bb, m: n, k: rows, n: k, transA: true, transB: false, batchedA: true, batchedB: batchedA })
      : K.matmul(a!.data, dC, { batch: bb, m: k, k: rows, n, transA: true, transB: false, batchedA, batchedB: true })
    return [dA, dB]
  },
})

/** a · b over the last two axes; `transposeB` multiplies by bᵀ instead (b stored …×N×K, as linear weights are). */
export const matmul = (a: Tensor, b: Tensor, options: { transposeB?: boolean } = {}): Tensor =>
  op([a, b], { transposeB: options.transposeB ?? false })
