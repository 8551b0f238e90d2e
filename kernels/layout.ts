/**
 * Axis permutation (rank ≤ 4): out[i0,i1,i2,i3] = x[Σ_d i_d · stride_x(perm[d])].
 */
import { kernel, type KernelThis } from './backend.ts'
import { pad4 } from './elementwise.ts'

interface PermuteConstants { o1: number; o2: number; o3: number; s0: number; s1: number; s2: number; s3: number }

function permuteKernel(this: KernelThis<PermuteConstants>, x: Float32Array): number {
  const i3 = this.thread.x % this.constants.o3
  const r2 = Math.floor(this.thread.x / this.constants.o3)
  const i2 = r2 % this.constants.o2
  const r1 = Math.floor(r2 / this.constants.o2)
  const i1 = r1 % this.constants.o1
  const i0 = Math.floor(r1 / this.constants.o1)
  return x[i0 * this.constants.s0 + i1 * this.constants.s1 + i2 * this.constants.s2 + i3 * this.constants.s3]!
}

/** Permute the axes of x (shape `shape`) so that output axis d is input axis perm[d]. */
export function permute(x: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  if (x.length === 0) return new Float32Array(0)
  const strides = shape.map((_, d) => shape.slice(d + 1).reduce((p, s) => p * s, 1))
  const outShape = pad4(perm.map((p) => shape[p]!))
  const pad = 4 - perm.length
  const s = [0, 0, 0, 0]
  perm.forEach((p, d) => (s[pad + d] = strides[p]!))
  const constants: PermuteConstants = { o1: outShape[1], o2: outShape[2], o3: outShape[3], s0: s[0]!, s1: s[1]!, s2: s[2]!, s3: s[3]! }
  return kernel('permute', [...outShape, ...s], permuteKernel, { output: [x.length], constants })(x)
}
