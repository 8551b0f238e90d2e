/**
 * Earlier designs of the matmul kernel, kept so that every step of BENCHMARKS.md's design table is measured
 * in the same run as the rest. Each computes C = A·B for square N×N row-major matrices, on webasm.
 *
 * 1. one output per thread, flat indices (the first version of kernels/matmul.ts)
 * 2. 4 rows of one column per thread (`Array(4)`), flat indices
 * 3. as 2, with A and B read as 2-D arrays, so each axis's index is integer arithmetic
 * (4. and 5. are kernels/matmul.ts itself: packed A, B as N×K, on one thread and on all of them.)
 */
import { kernel, shaped, type KernelThis } from '../kernels/backend.ts'

type C = { N: number }

function oneOutputFlat(this: KernelThis<C>, a: Float32Array, b: Float32Array): number {
  let acc = 0
  for (let i = 0; i < this.constants.N; i++) acc += a[this.thread.y * this.constants.N + i]! * b[i * this.constants.N + this.thread.x]!
  return acc
}

function fourRowsFlat(this: KernelThis<C>, a: Float32Array, b: Float32Array): number[] {
  let c0 = 0, c1 = 0, c2 = 0, c3 = 0
  for (let i = 0; i < this.constants.N; i++) {
    const bv = b[i * this.constants.N + this.thread.x]!
    c0 += a[this.thread.y * 4 * this.constants.N + i]! * bv
    c1 += a[(this.thread.y * 4 + 1) * this.constants.N + i]! * bv
    c2 += a[(this.thread.y * 4 + 2) * this.constants.N + i]! * bv
    c3 += a[(this.thread.y * 4 + 3) * this.constants.N + i]! * bv
  }
  return [c0, c1, c2, c3]
}

function fourRowsShaped(this: KernelThis<C>, a: number[][], b: number[][]): number[] {
  let c0 = 0, c1 = 0, c2 = 0, c3 = 0
  for (let i = 0; i < this.constants.N; i++) {
    const bv = b[i]![this.thread.x]!
    c0 += a[this.thread.y * 4]![i]! * bv
    c1 += a[this.thread.y * 4 + 1]![i]! * bv
    c2 += a[this.thread.y * 4 + 2]![i]! * bv
    c3 += a[this.thread.y * 4 + 3]![i]! * bv
  }
  return [c0, c1, c2, c3]
}

/** [row block][n][r] → row-major C. */
function rowsFromBlocks(flat: Float32Array, n: number): Float32Array {
  const c = new Float32Array(n * n)
  for (let yb = 0; yb < n / 4; yb++)
    for (let x = 0; x < n; x++)
      for (let r = 0; r < 4; r++) c[(yb * 4 + r) * n + x] = flat[(yb * n + x) * 4 + r]!
  return c
}

export const designs = {
  'one output per thread, flat indices': (a: Float32Array, b: Float32Array, n: number) =>
    kernel('design-1', [n], oneOutputFlat, { output: [n, n], constants: { N: n } })(a, b),
  '4 rows per thread (Array(4)), flat indices': (a: Float32Array, b: Float32Array, n: number) =>
    rowsFromBlocks(kernel('design-2', [n], fourRowsFlat, { output: [n, n / 4], constants: { N: n }, returnType: 'Array(4)', strictIntegers: true })(a, b), n),
  '4 rows per thread, 2-D reads': (a: Float32Array, b: Float32Array, n: number) =>
    rowsFromBlocks(kernel('design-3', [n], fourRowsShaped, { output: [n, n / 4], constants: { N: n }, returnType: 'Array(4)', strictIntegers: true })(
      shaped(a, [n, n]), shaped(b, [n, n])), n),
} as const
