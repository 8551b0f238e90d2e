/**
 * Batched matrix products C[b] = op(A[b]) · op(B[b]) with op ∈ {identity, transpose}.
 *
 * Layouts (row-major, per batch entry):  A is M×K (or K×M when `transA`),  B is K×N (or N×K when `transB`),
 * C is M×N. A side that is not batched (a weight matrix) is shared by every batch entry: its batch stride is 0.
 *
 * How it runs (the reasons are measurements on webasm, see BENCHMARKS.md):
 * - One kernel for every layout. The host first packs A into row blocks, Ap[block][k][r] = A[4·block + r][k]
 *   (rows past M are zero), and brings B to N×K (a transpose when B is K×N), so both operands are read along
 *   k, contiguously. A transpose costs O(K·N), the product O(M·K·N).
 * - Register blocking: each thread computes a column of 4 rows of C and returns them as an Array(4). On webasm
 *   the vectorised body runs 4 consecutive threads (columns) per step: the 4 reads of Ap are the same for all
 *   4 lanes (one scalar load each, broadcast), and B's read is one 4-lane gather, so every k step does
 *   8 loads for 16 multiply-adds instead of 2 loads per multiply-add.
 * - Operands are passed as 2-D/3-D arrays (`shaped`): webasm computes each axis's index in integers and
 *   converts the float loop counter once per step, where a flat index `base + i` would be float arithmetic
 *   converted once per read.
 * - The thread grid is [N, ⌈M/4⌉, batch] = (column, row block, batch entry), read directly from
 *   `this.thread.*` in the loop (copies in locals would be floats).
 * - A product runs as kernel calls of at most 32k cells (whole batch entries, else row blocks), and large
 *   products spread those calls over worker threads (./threads.ts).
 */
import { getBackend, type KernelThis } from './backend.ts'
import { threadCount, fanOut, runHere, type Call } from './threads.ts'

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

interface BlockConstants {
  /** reduction length */
  K: number
  /** row blocks per batch entry of packed A, or 0 when A is shared */
  BA: number
  /** rows (= N) per batch entry of B, or 0 when B is shared */
  NB: number
}

/**
 * Thread (x, y, z) = (column n, row block, batch entry): C[z][4y + r][x] = Σ_i Ap[z·BA + y][i][r] · Bt[z·NB + x][i].
 * Both reads of every step index k along the fastest axis.
 */
function matmulRows4(this: KernelThis<BlockConstants>, a: number[][][], b: number[][]): number[] {
  let c0 = 0, c1 = 0, c2 = 0, c3 = 0
  for (let i = 0; i < this.constants.K; i++) {
    const bv = b[this.thread.x + this.thread.z * this.constants.NB]![i]!
    c0 += a[this.thread.y + this.thread.z * this.constants.BA]![i]![0]! * bv
    c1 += a[this.thread.y + this.thread.z * this.constants.BA]![i]![1]! * bv
    c2 += a[this.thread.y + this.thread.z * this.constants.BA]![i]![2]! * bv
    c3 += a[this.thread.y + this.thread.z * this.constants.BA]![i]![3]! * bv
  }
  return [c0, c1, c2, c3]
}

/** A part of the output: batch entries [z0, z1) × row blocks [y0, y1). */
interface Part { readonly z0: number; readonly z1: number; readonly y0: number; readonly y1: number }

/** Packs rows [4·y0, 4·y1) of A for batch entries [z0, z1) (one copy when A is shared) into Ap[block][k][r]. */
function packA(a: Float32Array, d: MatmulDims, p: Part): Float32Array {
  const { m, k, transA } = d
  const entries = d.batchedA ? p.z1 - p.z0 : 1
  const blocks = p.y1 - p.y0
  const out = new Float32Array(entries * blocks * k * 4)
  for (let e = 0; e < entries; e++) {
    const src = d.batchedA ? (p.z0 + e) * m * k : 0
    for (let yb = 0; yb < blocks; yb++) {
      const dst = (e * blocks + yb) * k * 4
      const row0 = (p.y0 + yb) * 4
      const rows = Math.min(4, m - row0)
      if (transA) {
        // A is K×M: the 4 rows of a block are 4 adjacent values of each A row
        for (let i = 0; i < k; i++) {
          const from = src + i * m + row0, to = dst + i * 4
          for (let r = 0; r < rows; r++) out[to + r] = a[from + r]!
        }
      } else {
        for (let r = 0; r < rows; r++) {
          const from = src + (row0 + r) * k
          for (let i = 0; i < k; i++) out[dst + i * 4 + r] = a[from + i]!
        }
      }
    }
  }
  return out
}

/** B for batch entries [z0, z1) (one matrix when B is shared) as N×K per entry. */
function rowsAlongK(b: Float32Array, d: MatmulDims, p: Part): Float32Array {
  const { k, n } = d
  const z0 = d.batchedB ? p.z0 : 0, z1 = d.batchedB ? p.z1 : 1
  if (d.transB) return b.subarray(z0 * n * k, z1 * n * k)
  const out = new Float32Array((z1 - z0) * n * k)
  const T = 32 // transpose in T×T tiles so that reads and writes both stay in cache
  for (let z = z0; z < z1; z++) {
    const src = z * k * n, dst = (z - z0) * n * k
    for (let i0 = 0; i0 < k; i0 += T)
      for (let j0 = 0; j0 < n; j0 += T) {
        const i1 = Math.min(i0 + T, k), j1 = Math.min(j0 + T, n)
        for (let i = i0; i < i1; i++)
          for (let j = j0; j < j1; j++) out[dst + j * k + i] = b[src + i * n + j]!
      }
  }
  return out
}

/** The kernel call for one part: packs its operands, and runs on this thread or on a worker. */
function partCall(a: Float32Array, b: Float32Array, d: MatmulDims, p: Part): Call {
  const { k, n } = d
  const entries = p.z1 - p.z0, blocks = p.y1 - p.y0
  const ap = packA(a, d, p)
  const bt = rowsAlongK(b, d, p)
  const constants: BlockConstants = { K: k, BA: d.batchedA ? blocks : 0, NB: d.batchedB ? n : 0 }
  return {
    name: 'matmul',
    key: [entries, blocks, k, n, constants.BA, constants.NB],
    source: matmulRows4,
    settings: { output: [n, blocks, entries], constants, returnType: 'Array(4)', strictIntegers: true },
    args: [
      { data: ap, dims: [4, k, ap.length / (4 * k)] },
      { data: bt, dims: [k, bt.length / k] },
    ],
  }
}

/** Writes a part's kernel output ([entry][block][n][r], r innermost) into C (row-major, batch-major). */
function unpack(out: Float32Array, flat: Float32Array, d: MatmulDims, p: Part): void {
  const m = d.m, n = d.n, blocks = p.y1 - p.y0
  for (let z = p.z0; z < p.z1; z++)
    for (let yb = 0; yb < blocks; yb++) {
      const src = ((z - p.z0) * blocks + yb) * n * 4
      const row0 = (p.y0 + yb) * 4
      if (row0 + 4 <= m) {
        // a full block: read the cells in order, write 4 rows
        const d0 = (z * m + row0) * n, d1 = d0 + n, d2 = d1 + n, d3 = d2 + n
        for (let x = 0, s = src; x < n; x++, s += 4)
          (out[d0 + x] = flat[s]!), (out[d1 + x] = flat[s + 1]!), (out[d2 + x] = flat[s + 2]!), (out[d3 + x] = flat[s + 3]!)
      } else {
        for (let r = 0; row0 + r < m; r++) {
          const dst = (z * m + row0 + r) * n
          for (let x = 0, s = src + r; x < n; x++, s += 4) out[dst + x] = flat[s]!
        }
      }
    }
}

/** Products smaller than this many multiply-adds stay on the calling thread (a worker round trip costs ~0.1 ms). */
const THREADED_MIN_MACS = 1 << 20

/**
 * Output cells (4 values each) per kernel call. The cap was set when gpu.js handed an Array(4) result back
 * as one Float32Array view per cell (~30 ns per cell up to ~64k cells per call, 80-200 ns beyond); webasm
 * outputs now come back flat (./backend.ts). A 1M-cell cap was tried since, and alternating stage-2 runs on
 * 2 cores could not tell it from this one.
 */
const CELLS_PER_CALL = 1 << 15

/**
 * Cuts the output into boxes of at most CELLS_PER_CALL cells, and at least `minBoxes` of them when the output
 * allows (one per thread): whole batch entries when they fit, else row blocks of each entry.
 */
function parts(d: MatmulDims, minBoxes: number): Part[] {
  const blocks = Math.ceil(d.m / 4)
  const cellsPerEntry = blocks * d.n
  const cut = (total: number, count: number) =>
    Array.from({ length: count }, (_, i) => [Math.floor((i * total) / count), Math.floor(((i + 1) * total) / count)] as const)
  const needed = Math.max(Math.ceil(cellsPerEntry / CELLS_PER_CALL), Math.ceil(minBoxes / d.batch))
  // a multiple of the thread count, so that every thread gets as many boxes
  const perEntry = Math.min(blocks, needed > 1 ? Math.ceil(needed / minBoxes) * minBoxes : 1)
  if (perEntry > 1)
    return Array.from({ length: d.batch }, (_, z) => cut(blocks, perEntry).map(([y0, y1]) => ({ z0: z, z1: z + 1, y0, y1 }))).flat()
  const entriesPerBox = Math.max(1, Math.floor(CELLS_PER_CALL / cellsPerEntry))
  const count = Math.max(Math.ceil(d.batch / entriesPerBox), Math.min(d.batch, minBoxes))
  return cut(d.batch, count).map(([z0, z1]) => ({ z0, z1, y0: 0, y1: blocks }))
}

export function matmul(a: Float32Array, b: Float32Array, d: MatmulDims): Float32Array {
  const { batch, m, k, n } = d
  const out = new Float32Array(batch * m * n)
  if (out.length === 0 || k === 0) return out
  const wanted = getBackend() === 'webasm' && batch * m * n * k >= THREADED_MIN_MACS ? threadCount() : 1
  const boxes = parts(d, wanted)
  const threads = Math.min(wanted, boxes.length)
  // thread t takes the t-th contiguous run of boxes; the calling thread computes run 0 while the workers
  // compute the others
  const share = (t: number) => boxes.slice(Math.floor((t * boxes.length) / threads), Math.floor(((t + 1) * boxes.length) / threads))
  const workers = Array.from({ length: threads - 1 }, (_, w) => share(w + 1).map((p) => partCall(a, b, d, p)))
  const { remote } = fanOut(workers, () => {
    for (const p of share(0)) unpack(out, runHere([partCall(a, b, d, p)])[0]!, d, p)
  })
  remote.forEach((results, w) => share(w + 1).forEach((p, i) => unpack(out, results[i]!, d, p)))
  return out
}
