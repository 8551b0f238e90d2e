/**
 * Float64 arrays with a shape: the currency of the reference implementations.
 * Plain loops, no cleverness: these are the oracles the float32 kernels are checked against.
 */
export interface F64 {
  readonly data: Float64Array
  readonly shape: readonly number[]
}

export const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1)

export const f64 = (data: ArrayLike<number>, shape: readonly number[]): F64 => {
  if (data.length !== size(shape)) throw new Error(`f64: ${data.length} values for shape [${shape}]`)
  return { data: Float64Array.from(data), shape: [...shape] }
}

export const zeros64 = (shape: readonly number[]): F64 => ({ data: new Float64Array(size(shape)), shape: [...shape] })

export const map64 = (x: F64, f: (v: number, i: number) => number): F64 => ({ data: x.data.map(f), shape: x.shape })

export const dot64 = (a: Float64Array | Float32Array, b: Float64Array | Float32Array): number => {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!
  return s
}

/** Row-major strides. */
export const strides = (shape: readonly number[]): number[] => shape.map((_, d) => size(shape.slice(d + 1)))
