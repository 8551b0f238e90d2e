/**
 * Float64 references for arithmetic, products, softmax, reductions and layout ops: forward and VJP.
 * Each VJP is the textbook derivative written as loops; `gradcheck` tests it against the forward.
 */
import { type F64, size, strides, zeros64 } from './array.ts'
import type { Differentiable } from '../helpers/gradcheck.ts'

// ------------------------------------------------------------------------------------------------- broadcasting

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length)
  return Array.from({ length: r }, (_, i) => {
    const da = a[a.length - r + i] ?? 1, db = b[b.length - r + i] ?? 1
    if (da !== db && da !== 1 && db !== 1) throw new Error('no broadcast')
    return Math.max(da, db)
  })
}

/** Flat index into `shape` (right-aligned, broadcast) for the multi-index `idx` of the output. */
function broadcastIndex(idx: readonly number[], shape: readonly number[]): number {
  const st = strides(shape), off = idx.length - shape.length
  let k = 0
  shape.forEach((d, j) => (k += (d === 1 ? 0 : idx[off + j]!) * st[j]!))
  return k
}

function unravel(i: number, shape: readonly number[]): number[] {
  const st = strides(shape)
  return shape.map((d, j) => Math.floor(i / st[j]!) % d)
}

const binary = (fn: (x: number, y: number) => number, dfx: (x: number, y: number) => number, dfy: (x: number, y: number) => number): Differentiable => ({
  f: ([a, b]) => {
    const shape = broadcastShape(a!.shape, b!.shape)
    const out = zeros64(shape)
    for (let i = 0; i < out.data.length; i++) {
      const idx = unravel(i, shape)
      out.data[i] = fn(a!.data[broadcastIndex(idx, a!.shape)]!, b!.data[broadcastIndex(idx, b!.shape)]!)
    }
    return out
  },
  vjp: ([a, b], u) => {
    const ga = zeros64(a!.shape), gb = zeros64(b!.shape)
    for (let i = 0; i < u.data.length; i++) {
      const idx = unravel(i, u.shape)
      const ia = broadcastIndex(idx, a!.shape), ib = broadcastIndex(idx, b!.shape)
      ga.data[ia]! += u.data[i]! * dfx(a!.data[ia]!, b!.data[ib]!)
      gb.data[ib]! += u.data[i]! * dfy(a!.data[ia]!, b!.data[ib]!)
    }
    return [ga, gb]
  },
})

export const add = binary((x, y) => x + y, () => 1, () => 1)
export const sub = binary((x, y) => x - y, () => 1, () => -1)
export const mul = binary((x, y) => x * y, (_, y) => y, (x) => x)
export const div = binary((x, y) => x / y, (_, y) => 1 / y, (x, y) => -x / (y * y))

export const scale = (alpha: number, beta: number): Differentiable => ({
  f: ([x]) => ({ data: x!.data.map((v) => alpha * v + beta), shape: x!.shape }),
  vjp: (_, u) => [{ data: u.data.map((v) => alpha * v), shape: u.shape }],
})

// ------------------------------------------------------------------------------------------------- matmul

/** C = A·B or A·Bᵀ over the last two axes; leading dims equal, or one side is a plain matrix. */
export const matmul = (transposeB: boolean): Differentiable => {
  const dims = (a: F64, b: F64) => {
    const [m, k] = a.shape.slice(-2) as [number, number]
    const n = transposeB ? b.shape[b.shape.length - 2]! : b.shape[b.shape.length - 1]!
    const lead = a.shape.length > 2 ? a.shape.slice(0, -2) : b.shape.slice(0, -2)
    return { m, k, n, lead, batch: size(lead), sa: a.shape.length > 2 ? m * k : 0, sb: b.shape.length > 2 ? k * n : 0 }
  }
  const bAt = (b: F64, base: number, i: number, j: number, k: number, n: number) =>
    transposeB ? b.data[base + j * k + i]! : b.data[base + i * n + j]! // B(i, j) as a K×N matrix
  const bIndex = (base: number, i: number, j: number, k: number, n: number) => (transposeB ? base + j * k + i : base + i * n + j)
  return {
    f: ([a, b]) => {
      const { m, k, n, lead, batch, sa, sb } = dims(a!, b!)
      const out = zeros64([...lead, m, n])
      for (let t = 0; t < batch; t++)
        for (let r = 0; r < m; r++)
          for (let c = 0; c < n; c++) {
            let s = 0
            for (let i = 0; i < k; i++) s += a!.data[t * sa + r * k + i]! * bAt(b!, t * sb, i, c, k, n)
            out.data[(t * m + r) * n + c] = s
          }
      return out
    },
    vjp: ([a, b], u) => {
      const { m, k, n, batch, sa, sb } = dims(a!, b!)
      const ga = zeros64(a!.shape), gb = zeros64(b!.shape)
      for (let t = 0; t < batch; t++)
        for (let r = 0; r < m; r++)
          for (let c = 0; c < n; c++) {
            const g = u.data[(t * m + r) * n + c]!
            for (let i = 0; i < k; i++) {
              ga.data[t * sa + r * k + i]! += g * bAt(b!, t * sb, i, c, k, n)
              gb.data[bIndex(t * sb, i, c, k, n)]! += g * a!.data[t * sa + r * k + i]!
            }
          }
      return [ga, gb]
    },
  }
}

// ------------------------------------------------------------------------------------------------- softmax

/** Softmax over the last axis after adding a mask that tiles the rows (mask row = row mod maskRows). */
export const softmax: Differentiable = {
  f: ([x, mask]) => {
    const c = x!.shape[x!.shape.length - 1]!, rows = x!.data.length / c
    const mrows = mask ? mask.data.length / c : 1
    const out = zeros64(x!.shape)
    for (let r = 0; r < rows; r++) {
      const z = Array.from({ length: c }, (_, j) => x!.data[r * c + j]! + (mask ? mask.data[(r % mrows) * c + j]! : 0))
      const m = Math.max(...z)
      if (m === -Infinity) continue
      const e = z.map((v) => Math.exp(v - m)), s = e.reduce((p, v) => p + v, 0)
      e.forEach((v, j) => (out.data[r * c + j] = v / s))
    }
    return out
  },
  vjp: (xs, u) => {
    const y = softmax.f(xs)
    const c = y.shape[y.shape.length - 1]!
    const g = zeros64(y.shape)
    for (let r = 0; r < y.data.length / c; r++) {
      let d = 0
      for (let j = 0; j < c; j++) d += u.data[r * c + j]! * y.data[r * c + j]!
      for (let j = 0; j < c; j++) g.data[r * c + j] = y.data[r * c + j]! * (u.data[r * c + j]! - d)
    }
    return [g, null]
  },
}

// ------------------------------------------------------------------------------------------------- reductions

export const sumAxis = (axis: number | null, mean: boolean): Differentiable => {
  const split = (shape: readonly number[]) =>
    axis === null ? { outer: 1, n: size(shape), inner: 1 } : { outer: size(shape.slice(0, axis)), n: shape[axis]!, inner: size(shape.slice(axis + 1)) }
  return {
    f: ([x]) => {
      const { outer, n, inner } = split(x!.shape)
      const shape = axis === null ? [] : x!.shape.filter((_, i) => i !== axis)
      const out = zeros64(shape)
      for (let o = 0; o < outer; o++)
        for (let j = 0; j < n; j++)
          for (let i = 0; i < inner; i++) out.data[o * inner + i]! += x!.data[(o * n + j) * inner + i]! / (mean ? n : 1)
      return out
    },
    vjp: ([x], u) => {
      const { outer, n, inner } = split(x!.shape)
      const g = zeros64(x!.shape)
      for (let o = 0; o < outer; o++)
        for (let j = 0; j < n; j++)
          for (let i = 0; i < inner; i++) g.data[(o * n + j) * inner + i] = u.data[o * inner + i]! / (mean ? n : 1)
      return [g]
    },
  }
}

// ------------------------------------------------------------------------------------------------- layout

export const transpose = (perm: readonly number[]): Differentiable => {
  const move = (x: F64, p: readonly number[], back: boolean): F64 => {
    // forward: out[idx] = x[idx permuted]; back: scatter the other way
    const outShape = back ? x.shape.map((_, i) => x.shape[p.indexOf(i)]!) : p.map((q) => x.shape[q]!)
    const out = zeros64(outShape)
    const src = back ? outShape : x.shape
    const st = strides(src)
    for (let i = 0; i < x.data.length; i++) {
      if (!back) {
        const idx = unravel(i, outShape)
        let k = 0
        p.forEach((q, d) => (k += idx[d]! * st[q]!))
        out.data[i] = x.data[k]!
      } else {
        const idx = unravel(i, x.shape)
        let k = 0
        p.forEach((q, d) => (k += idx[d]! * st[q]!))
        out.data[k] = x.data[i]!
      }
    }
    return out
  }
  return { f: ([x]) => move(x!, perm, false), vjp: (_, u) => [move(u, perm, true)] }
}

export const slice = (axis: number, start: number, end: number): Differentiable => ({
  f: ([x]) => {
    const shape = x!.shape.map((d, i) => (i === axis ? end - start : d))
    const out = zeros64(shape)
    for (let i = 0; i < out.data.length; i++) {
      const idx = unravel(i, shape)
      idx[axis]! += start
      out.data[i] = x!.data[idx.reduce((k, v, d) => k + v * strides(x!.shape)[d]!, 0)]!
    }
    return out
  },
  vjp: ([x], u) => {
    const g = zeros64(x!.shape)
    for (let i = 0; i < u.data.length; i++) {
      const idx = unravel(i, u.shape)
      idx[axis]! += start
      g.data[idx.reduce((k, v, d) => k + v * strides(x!.shape)[d]!, 0)] = u.data[i]!
    }
    return [g]
  },
})

export const concat = (axis: number): Differentiable => ({
  f: (xs) => {
    const total = xs.reduce((s, x) => s + x.shape[axis]!, 0)
    const shape = xs[0]!.shape.map((d, i) => (i === axis ? total : d))
    const out = zeros64(shape)
    let offset = 0
    for (const x of xs) {
      for (let i = 0; i < x.data.length; i++) {
        const idx = unravel(i, x.shape)
        idx[axis]! += offset
        out.data[idx.reduce((k, v, d) => k + v * strides(shape)[d]!, 0)] = x.data[i]!
      }
      offset += x.shape[axis]!
    }
    return out
  },
  vjp: (xs, u) => {
    let offset = 0
    return xs.map((x) => {
      const g = zeros64(x.shape)
      for (let i = 0; i < x.data.length; i++) {
        const idx = unravel(i, x.shape)
        idx[axis]! += offset
        g.data[i] = u.data[idx.reduce((k, v, d) => k + v * strides(u.shape)[d]!, 0)]!
      }
      offset += x.shape[axis]!
      return g
    })
  },
})
