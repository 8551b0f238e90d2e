/**
 * Row gather from a V×C table and its backward, a scatter-add written as a gather.
 *
 *   y[n, c]  = table[ids[n], c]                                  (N×C)
 *   dT[v, c] = Σ_{n : ids[n] = v} dy[n, c]                       (V×C; repeated ids accumulate)
 *
 * A kernel thread cannot add into another thread's output, so the backward runs one thread per (v, c) and
 * reads the rows that point to v. Scanning all N ids per thread would cost O(V·N·C); instead the host builds
 * the inverse map in CSR form (the positions n with ids[n] = v are positions[offsets[v] .. offsets[v+1]))
 * and each thread loops over its own list only. The loop bound must be a constant: it is the longest list
 * rounded up to a power of two (so the compiled kernel is reused across batches), and a thread leaves the
 * loop once past its own count.
 *
 * Ids and offsets travel as float32: exact for integers below 2^24, as every index in these kernels must be
 * (the webasm backend computes array indices in f32).
 */
import { kernel, type KernelThis } from './backend.ts'

/** Largest element count for which f32 index arithmetic stays exact. */
export const maxIndexable = 2 ** 24

function gatherKernel(this: KernelThis<{ C: number }>, table: Float32Array, ids: Float32Array): number {
  const n = Math.floor(this.thread.x / this.constants.C)
  const c = this.thread.x - n * this.constants.C
  return table[ids[n]! * this.constants.C + c]!
}

function scatterAddKernel(this: KernelThis<{ C: number; L: number }>, dy: Float32Array, offsets: Float32Array, positions: Float32Array): number {
  const v = Math.floor(this.thread.x / this.constants.C)
  const c = this.thread.x - v * this.constants.C
  const start = offsets[v]!
  const count = offsets[v + 1]! - start
  let acc = 0
  for (let j = 0; j < this.constants.L; j++) {
    if (j >= count) break
    acc += dy[positions[start + j]! * this.constants.C + c]!
  }
  return acc
}

/** Rows `ids` (float32 integers, already checked to lie in [0, V)) of the V×C table: N×C. */
export function gatherRows(table: Float32Array, ids: Float32Array, cols: number): Float32Array {
  const n = ids.length * cols
  if (n === 0) return new Float32Array(0)
  return kernel('gatherRows', [table.length / cols, cols, ids.length], gatherKernel, { output: [n], constants: { C: cols } })(table, ids)
}

/** The CSR inverse of ids: for each row v, the positions n (ascending) with ids[n] = v. */
export function invertIds(ids: Float32Array, rows: number): { offsets: Float32Array; positions: Float32Array; longest: number } {
  const offsets = new Float32Array(rows + 1)
  for (const id of ids) offsets[id + 1]!++
  let longest = 0
  for (let v = 0; v < rows; v++) {
    longest = Math.max(longest, offsets[v + 1]!)
    offsets[v + 1]! += offsets[v]!
  }
  const fill = offsets.slice(0, rows)
  const positions = new Float32Array(ids.length)
  ids.forEach((id, n) => (positions[fill[id]!++] = n))
  return { offsets, positions, longest }
}

/** dT (V×C): each table row sums the rows of dy (N×C) that were gathered from it. */
export function scatterAddRows(dy: Float32Array, ids: Float32Array, rows: number, cols: number): Float32Array {
  if (rows * cols === 0) return new Float32Array(0)
  if (ids.length === 0) return new Float32Array(rows * cols)
  const { offsets, positions, longest } = invertIds(ids, rows)
  const bound = 2 ** Math.ceil(Math.log2(longest))
  return kernel('scatterAddRows', [rows, cols, ids.length, bound], scatterAddKernel, { output: [rows * cols], constants: { C: cols, L: bound } })(
    dy, offsets, positions)
}
