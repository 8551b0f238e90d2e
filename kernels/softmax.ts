/**
 * Row softmax over the last axis with an optional additive mask, and its backward.
 *
 * x is R×C. The mask is Rm×C and is shared by row blocks: row r reads mask row (r mod Rm), so one (T×T)
 * attention mask serves every (batch, head) of a (B·H·T)×T score matrix. Masked entries are −∞ (or very
 * negative); a row whose every entry is masked yields zeros rather than NaN.
 *
 * Two passes, each O(R·C): (1) per row, the log-sum-exp  lse_r = m_r + log Σ_c exp(x_rc + mask − m_r);
 * (2) per element, y = exp(x + mask − lse).
 *
 * Large forward passes are split by rows over worker threads (./threads.ts).
 *
 * exp is the arithmetic one of ./math.ts, written out inline (Math.exp is a JavaScript call per lane on
 * webasm). Arrays are read 2-D/3-D (`shaped`), so indices are integer arithmetic per axis; in the elementwise
 * kernels the row is `this.thread.y/z`, the same for the 4 lanes of a vector step, so its per-row values
 * (lse, the mask row) are one scalar load. Without a mask the mask reads are skipped (`MASKED` is 0).
 */
import { type KernelThis } from './backend.ts'
import { splitRows, type Call } from './threads.ts'
import { EXP2_TABLE } from './math.ts'

interface RowConstants { C: number; MASKED: number; POW2: Float32Array }

/*
 * Rows are tiled W at a time, W = the mask's row count Rm when it has several rows: x is read as
 * [R/W][W][C], the mask as [W][C], and row (t·W + w) uses mask row w, with no modulo in the kernel.
 * A single-row mask (or none) is repeated to W = 4 rows (2 or 1 when R is not a multiple), so the vector
 * steps still have 4 rows (lse) or 4 columns (exp) to work on.
 */

/** Thread (w, t) = row t·W + w. */
function rowLogSumExp(this: KernelThis<RowConstants>, x: number[][][], mask: number[][]): number {
  let m = -3.4028234663852886e38
  for (let c = 0; c < this.constants.C; c++) {
    let v = x[this.thread.y]![this.thread.x]![c]!
    if (this.constants.MASKED === 1) v = v + mask[this.thread.x]![c]!
    m = Math.max(m, v)
  }
  // m is finite even for a fully masked row: every exp below is then exp(−∞) = 0 and the result −∞
  let s = 0
  for (let c = 0; c < this.constants.C; c++) {
    let v = x[this.thread.y]![this.thread.x]![c]!
    if (this.constants.MASKED === 1) v = v + mask[this.thread.x]![c]!
    const xc = Math.min(Math.max(v - m, -103), 88.8)
    const n = Math.floor(xc * 1.4426950408889634 + 0.5)
    const r = xc - n * 0.693145751953125 - n * 1.428606765330187e-6
    s += (1 + r * (1 + r * (0.49999991059303284 + r * (0.16666419804096222 + r * (0.04166822507977486 +
      r * (0.008374815806746483 + r * 0.0013836845755577087)))))) * 2 * this.constants.POW2[n + 149]!
  }
  return m + Math.log(s)
}

/** Thread (c, w, t) = element c of row t·W + w. */
function expMinus(this: KernelThis<RowConstants>, x: number[][][], mask: number[][], lse: number[][]): number {
  const l = lse[this.thread.z]![this.thread.y]!
  if (l === -Infinity) return 0
  let v = x[this.thread.z]![this.thread.y]![this.thread.x]!
  if (this.constants.MASKED === 1) v = v + mask[this.thread.y]![this.thread.x]!
  const xc = Math.min(Math.max(v - l, -103), 88.8)
  const n = Math.floor(xc * 1.4426950408889634 + 0.5)
  const r = xc - n * 0.693145751953125 - n * 1.428606765330187e-6
  return (1 + r * (1 + r * (0.49999991059303284 + r * (0.16666419804096222 + r * (0.04166822507977486 +
    r * (0.008374815806746483 + r * 0.0013836845755577087)))))) * 2 * this.constants.POW2[n + 149]!
}

const zeroMasks = new Map<number, Float32Array>()
/** A 1×C mask of zeros (cached: it is never written). */
export function noMask(cols: number): Float32Array {
  let z = zeroMasks.get(cols)
  if (!z) zeroMasks.set(cols, (z = new Float32Array(cols)))
  return z
}

/** The row tile: W, whether the mask is read at all, and the mask as W rows. */
function tiling(mask: Float32Array, rows: number, cols: number, maskRows: number) {
  const masked = mask !== zeroMasks.get(cols)
  if (masked && maskRows > 1) return { W: maskRows, masked, tile: mask }
  const W = rows % 4 === 0 ? 4 : rows % 2 === 0 ? 2 : 1
  const tile = new Float32Array(W * cols)
  if (masked) for (let w = 0; w < W; w++) tile.set(mask.subarray(0, cols), w * cols)
  return { W, masked, tile }
}

/**
 * Forward passes over at least this many elements are split by rows over the worker threads (./threads.ts).
 * The backward is not split: at ~6 ns per element it costs about what moving its rows to a worker does.
 */
const THREADED_MIN_ELEMENTS = 1 << 17

/** lse for rows [r0, r1), then (with `exp`) softmax for the same rows. */
function forwardCalls(x: Float32Array, cols: number, t: ReturnType<typeof tiling>, r0: number, r1: number, exp: boolean): Call[] {
  const rows = r1 - r0, W = t.W
  const constants = { C: cols, MASKED: t.masked ? 1 : 0, POW2: EXP2_TABLE }
  const xs = { data: x.subarray(r0 * cols, r1 * cols), dims: [cols, W, rows / W] }
  const mask = { data: t.tile, dims: [cols, W] }
  const lse: Call = {
    name: 'rowLogSumExp', key: [rows, cols, W, t.masked], source: rowLogSumExp,
    settings: { output: [W, rows / W], constants }, args: [xs, mask],
  }
  if (!exp) return [lse]
  return [lse, {
    name: 'softmaxExp', key: [rows, cols, W, t.masked], source: expMinus,
    settings: { output: [cols, W, rows / W], constants }, args: [xs, mask, { from: 0, dims: [W, rows / W] }],
  }]
}

/** log Σ_c exp(x_rc + mask_rc) for each row (−∞ for a fully masked row). */
export function logSumExpRows(x: Float32Array, mask: Float32Array, rows: number, cols: number, maskRows: number): Float32Array {
  if (rows === 0) return new Float32Array(0)
  const t = tiling(mask, rows, cols, maskRows)
  return splitRows(rows, t.W, rows * cols, THREADED_MIN_ELEMENTS, (r0, r1) => forwardCalls(x, cols, t, r0, r1, false), 0)
}

export function softmaxRows(x: Float32Array, rows: number, cols: number, mask = noMask(cols), maskRows = 1): Float32Array {
  if (rows * cols === 0) return new Float32Array(0)
  const t = tiling(mask, rows, cols, maskRows)
  return splitRows(rows, t.W, rows * cols, THREADED_MIN_ELEMENTS, (r0, r1) => forwardCalls(x, cols, t, r0, r1, true), 1)
}

function rowDot(this: KernelThis<{ C: number }>, a: number[][], b: number[][]): number {
  let s = 0
  for (let c = 0; c < this.constants.C; c++) s += a[this.thread.x]![c]! * b[this.thread.x]![c]!
  return s
}

function softmaxGrad(this: KernelThis<{ C: number }>, y: number[][], dy: number[][], dots: Float32Array): number {
  return y[this.thread.y]![this.thread.x]! * (dy[this.thread.y]![this.thread.x]! - dots[this.thread.y]!)
}

/** Σ_c a_rc · b_rc for rows [r0, r1), then (with `grad`) the softmax gradient of the same rows. */
function backwardCalls(y: Float32Array, dy: Float32Array, cols: number, r0: number, r1: number, grad: boolean): Call[] {
  const rows = r1 - r0
  const ys = { data: y.subarray(r0 * cols, r1 * cols), dims: [cols, rows] }
  const dys = { data: dy.subarray(r0 * cols, r1 * cols), dims: [cols, rows] }
  const dot: Call = { name: 'rowDot', key: [rows, cols], source: rowDot, settings: { output: [rows], constants: { C: cols } }, args: [dys, ys] }
  if (!grad) return [dot]
  return [dot, {
    name: 'softmaxGrad', key: [rows, cols], source: softmaxGrad,
    settings: { output: [cols, rows], constants: { C: cols } }, args: [ys, dys, { from: 0, dims: null }],
  }]
}

/** Σ_c a_rc · b_rc for each row. */
export function dotRows(a: Float32Array, b: Float32Array, rows: number, cols: number): Float32Array {
  if (rows === 0) return new Float32Array(0)
  return splitRows(rows, 1, rows * cols, Infinity, (r0, r1) => backwardCalls(b, a, cols, r0, r1, false), 0)
}

/** dx = y ⊙ (dy − Σ_c dy ⊙ y), row by row. */
export function softmaxRowsBackward(y: Float32Array, dy: Float32Array, rows: number, cols: number): Float32Array {
  if (rows * cols === 0) return new Float32Array(0)
  return splitRows(rows, 1, rows * cols, Infinity, (r0, r1) => backwardCalls(y, dy, cols, r0, r1, true), 1)
}
