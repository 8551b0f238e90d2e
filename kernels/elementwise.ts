/**
 * Elementwise binary arithmetic with NumPy broadcasting, its reverse (sum a gradient back to a broadcast
 * input's shape), and scaling.
 *
 * Shapes are right-aligned and padded to rank 4: an output index i is decomposed into (i0, i1, i2, i3)
 * and each input is read at Σ_d i_d · stride_d, where a broadcast dimension has stride 0.
 */
import { kernel, type KernelThis } from './backend.ts'

export const binaryOps = { add: 0, sub: 1, mul: 2, div: 3 } as const
export type BinaryOp = keyof typeof binaryOps

/** Right-align `shape` into rank 4 (leading 1s). Ranks above 4 are refused. */
export function pad4(shape: readonly number[]): [number, number, number, number] {
  if (shape.length > 4) throw new Error(`rank ${shape.length} > 4 is not supported by elementwise kernels`)
  const p = [1, 1, 1, 1]
  for (let i = 0; i < shape.length; i++) p[4 - shape.length + i] = shape[i]!
  return p as [number, number, number, number]
}

/** Row-major strides of a padded rank-4 shape, with 0 where the input is broadcast against `out`. */
function broadcastStrides(s: readonly number[], out: readonly number[]): number[] {
  const strides = [0, 0, 0, 0]
  let acc = 1
  for (let d = 3; d >= 0; d--) {
    strides[d] = s[d] === 1 && out[d] !== 1 ? 0 : acc
    acc *= s[d]!
  }
  return strides
}

interface BinaryConstants {
  op: number
  o1: number; o2: number; o3: number
  a0: number; a1: number; a2: number; a3: number
  b0: number; b1: number; b2: number; b3: number
}

function binaryBroadcast(this: KernelThis<BinaryConstants>, a: Float32Array, b: Float32Array): number {
  // i = ((i0·o1 + i1)·o2 + i2)·o3 + i3  (gpu.js needs `this.constants.*` spelled out: no aliasing)
  const i3 = this.thread.x % this.constants.o3
  const r2 = Math.floor(this.thread.x / this.constants.o3)
  const i2 = r2 % this.constants.o2
  const r1 = Math.floor(r2 / this.constants.o2)
  const i1 = r1 % this.constants.o1
  const i0 = Math.floor(r1 / this.constants.o1)
  const x = a[i0 * this.constants.a0 + i1 * this.constants.a1 + i2 * this.constants.a2 + i3 * this.constants.a3]!
  const y = b[i0 * this.constants.b0 + i1 * this.constants.b1 + i2 * this.constants.b2 + i3 * this.constants.b3]!
  if (this.constants.op === 0) return x + y
  if (this.constants.op === 1) return x - y
  if (this.constants.op === 2) return x * y
  return x / y
}

function binarySame(this: KernelThis<{ op: number }>, a: Float32Array, b: Float32Array): number {
  const x = a[this.thread.x]!
  const y = b[this.thread.x]!
  if (this.constants.op === 0) return x + y
  if (this.constants.op === 1) return x - y
  if (this.constants.op === 2) return x * y
  return x / y
}

/** a ∘ b for ∘ ∈ {+, −, ×, ÷}; `outShape` is the broadcast shape of the two. */
export function binary(
  op: BinaryOp,
  a: Float32Array, aShape: readonly number[],
  b: Float32Array, bShape: readonly number[],
  outShape: readonly number[],
): Float32Array {
  const n = outShape.reduce((p, d) => p * d, 1)
  if (n === 0) return new Float32Array(0)
  if (a.length === n && b.length === n)
    return kernel('binarySame', [op, n], binarySame, { output: [n], constants: { op: binaryOps[op] } })(a, b)
  const o = pad4(outShape), sa = broadcastStrides(pad4(aShape), o), sb = broadcastStrides(pad4(bShape), o)
  const constants: BinaryConstants = {
    op: binaryOps[op], o1: o[1], o2: o[2], o3: o[3],
    a0: sa[0]!, a1: sa[1]!, a2: sa[2]!, a3: sa[3]!, b0: sb[0]!, b1: sb[1]!, b2: sb[2]!, b3: sb[3]!,
  }
  return kernel('binaryBroadcast', [op, ...o, ...sa, ...sb], binaryBroadcast, { output: [n], constants })(a, b)
}

interface UnbroadcastConstants {
  s1: number; s2: number; s3: number
  r0: number; r1: number; r2: number; r3: number
  t0: number; t1: number; t2: number; t3: number
}

function unbroadcastKernel(this: KernelThis<UnbroadcastConstants>, dy: Float32Array): number {
  const i3 = this.thread.x % this.constants.s3
  const q2 = Math.floor(this.thread.x / this.constants.s3)
  const i2 = q2 % this.constants.s2
  const q1 = Math.floor(q2 / this.constants.s2)
  const i1 = q1 % this.constants.s1
  const i0 = Math.floor(q1 / this.constants.s1)
  // A broadcast dimension d has r_d = out_d copies to sum (and the input index i_d is 0);
  // a kept dimension has r_d = 1 and contributes i_d.
  let acc = 0
  for (let j0 = 0; j0 < this.constants.r0; j0++)
    for (let j1 = 0; j1 < this.constants.r1; j1++)
      for (let j2 = 0; j2 < this.constants.r2; j2++)
        for (let j3 = 0; j3 < this.constants.r3; j3++)
          acc += dy[(i0 + j0) * this.constants.t0 + (i1 + j1) * this.constants.t1 + (i2 + j2) * this.constants.t2 + (i3 + j3) * this.constants.t3]!
  return acc
}

/** Sum `dy` (of shape `outShape`) over the dimensions along which an input of shape `inShape` was broadcast. */
export function unbroadcast(dy: Float32Array, outShape: readonly number[], inShape: readonly number[]): Float32Array {
  const n = inShape.reduce((p, d) => p * d, 1)
  if (n === dy.length) return dy
  const o = pad4(outShape), s = pad4(inShape)
  const r = o.map((od, d) => (s[d] === 1 ? od : 1))
  const t = [o[1] * o[2] * o[3], o[2] * o[3], o[3], 1]
  const constants: UnbroadcastConstants = {
    s1: s[1], s2: s[2], s3: s[3], r0: r[0]!, r1: r[1]!, r2: r[2]!, r3: r[3]!, t0: t[0]!, t1: t[1]!, t2: t[2]!, t3: t[3]!,
  }
  return kernel('unbroadcast', [...o, ...s], unbroadcastKernel, { output: [n], constants })(dy)
}

function affineKernel(this: KernelThis, x: Float32Array, alpha: number, beta: number): number {
  return x[this.thread.x]! * alpha + beta
}

/** α·x + β. */
export function affine(x: Float32Array, alpha: number, beta = 0): Float32Array {
  if (x.length === 0) return new Float32Array(0)
  return kernel('affine', [x.length], affineKernel, { output: [x.length] })(x, alpha, beta)
}
