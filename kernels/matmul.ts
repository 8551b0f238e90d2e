/**
 * Batched matrix products C[b] = op(A[b]) · op(B[b]) with op ∈ {identity, transpose}.
 *
 * Layouts (row-major, per batch entry):  A is M×K (or K×M when `transA`),  B is K×N (or N×K when `transB`),
 * C is M×N. A side that is not batched (a weight matrix) is shared by every batch entry: its batch stride is 0.
 * The output is a 2-D grid [N, batch·M]: thread (x, y) computes C[y / M][y mod M][x].
 */
import { kernel, type KernelThis } from './backend.ts'

export interface MatmulDims {
  readonly batch: number
  readonly m: number
  readonly k: number
  readonly n: number
  readonly transA: boolean
  readonly transB: boolean
  /** false when A (resp. B) is one matrix shared across the batch */
  readonly batchedA: boolean
  readonly batchedB: boolean
}

interface MatmulConstants {
  M: number; K: number; N: number
  strideA: number; strideB: number
  // element steps along (row or column of C, reduction index) for each operand
  aRow: number; aK: number; bK: number; bCol: number
}

function matmulKernel(this: KernelThis<MatmulConstants>, a: Float32Array, b: Float32Array): number {
  const batch = Math.floor(this.thread.y / this.constants.M)
  const row = this.thread.y - batch * this.constants.M
  const aBase = batch * this.constants.strideA + row * this.constants.aRow
  const bBase = batch * this.constants.strideB + this.thread.x * this.constants.bCol
  let acc = 0
  for (let i = 0; i < this.constants.K; i++)
    acc += a[aBase + i * this.constants.aK]! * b[bBase + i * this.constants.bK]!
  return acc
}

export function matmul(a: Float32Array, b: Float32Array, d: MatmulDims): Float32Array {
  const { batch, m, k, n } = d
  if (batch * m * n === 0) return new Float32Array(batch * m * n)
  const constants: MatmulConstants = {
    M: m, K: k, N: n,
    strideA: d.batchedA ? m * k : 0,
    strideB: d.batchedB ? k * n : 0,
    aRow: d.transA ? 1 : k, aK: d.transA ? m : 1,
    bK: d.transB ? 1 : n, bCol: d.transB ? k : 1,
  }
  const key = [batch, m, k, n, d.transA, d.transB, d.batchedA, d.batchedB]
  return kernel('matmul', key, matmulKernel, { output: [n, batch * m], constants })(a, b)
}
