/**
 * Sums over one axis. A tensor is viewed as (outer, n, inner) around the reduced axis:
 *   out[o, i] = Σ_j x[o, j, i]                  (sumAxis)
 *   dx[o, j, i] = dy[o, i]                      (its backward: repeat along the axis)
 */
import { kernel, type KernelThis } from './backend.ts'

function sumAxisKernel(this: KernelThis<{ N: number; I: number }>, x: Float32Array): number {
  const o = Math.floor(this.thread.x / this.constants.I)
  const i = this.thread.x - o * this.constants.I
  let acc = 0
  for (let j = 0; j < this.constants.N; j++) acc += x[(o * this.constants.N + j) * this.constants.I + i]!
  return acc
}

function repeatAxisKernel(this: KernelThis<{ N: number; I: number }>, dy: Float32Array): number {
  const i = this.thread.x % this.constants.I
  const o = Math.floor(this.thread.x / (this.constants.N * this.constants.I))
  return dy[o * this.constants.I + i]!
}

export function sumAxis(x: Float32Array, outer: number, n: number, inner: number): Float32Array {
  if (outer * inner === 0 || n === 0) return new Float32Array(outer * inner) // an empty sum is 0
  return kernel('sumAxis', [outer, n, inner], sumAxisKernel, { output: [outer * inner], constants: { N: n, I: inner } })(x)
}

export function repeatAxis(dy: Float32Array, outer: number, n: number, inner: number): Float32Array {
  if (outer * n * inner === 0) return new Float32Array(0)
  return kernel('repeatAxis', [outer, n, inner], repeatAxisKernel, { output: [outer * n * inner], constants: { N: n, I: inner } })(dy)
}
