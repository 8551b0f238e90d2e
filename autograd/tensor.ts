/**
 * An immutable n-dimensional array of float32 values, row-major.
 *
 * Nothing in the engine writes into a Tensor's data after construction; `toFloat32Array` hands out a copy.
 * `view()` gives an ndarray over the same memory for host-side layout work (images, patchifying); treat it
 * as read-only.
 */
import ndarray, { type NdArray } from 'ndarray'

let live = 0
let created = 0

export class Tensor {
  readonly shape: readonly number[]
  readonly size: number
  #data: Float32Array | null

  constructor(data: Float32Array, shape: readonly number[]) {
    const size = shape.reduce((p, d) => p * d, 1)
    if (!shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new Error(`tensor: shape [${shape.join(', ')}] must hold non-negative integers`)
    if (data.length !== size)
      throw new Error(`tensor: ${data.length} values do not fill shape [${shape.join(', ')}] (${size} needed)`)
    this.shape = Object.freeze([...shape])
    this.size = size
    this.#data = data
    live++
    created++
  }

  /** The backing array. Engine-internal: never write to it. */
  get data(): Float32Array {
    if (this.#data === null) throw new Error(`tensor [${this.shape.join(', ')}] was disposed (by tidy or dispose)`)
    return this.#data
  }

  get rank(): number {
    return this.shape.length
  }

  get disposed(): boolean {
    return this.#data === null
  }

  /** A copy of the values. */
  toFloat32Array(): Float32Array {
    return this.data.slice()
  }

  /** Nested JavaScript arrays (for printing and small tests). */
  toArray(): unknown {
    const nest = (offset: number, dim: number): unknown => {
      if (dim === this.shape.length) return this.data[offset]
      const stride = this.shape.slice(dim + 1).reduce((p, d) => p * d, 1)
      return Array.from({ length: this.shape[dim]! }, (_, i) => nest(offset + i * stride, dim + 1))
    }
    return nest(0, 0)
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item: tensor has shape [${this.shape.join(', ')}], not one element`)
    return this.data[0]!
  }

  /** A read-only ndarray view of the same memory. */
  view(): NdArray<Float32Array> {
    return ndarray(this.data, [...this.shape])
  }

  /** Release the data; later reads throw. Idempotent. */
  dispose(): void {
    if (this.#data !== null) live--
    this.#data = null
  }

  toString(): string {
    return `Tensor[${this.shape.join(', ')}]`
  }
}

/** Tensors alive now, and created so far (for memory tests of training loops). */
export function memory(): { readonly live: number; readonly created: number } {
  return { live, created }
}

/** A tensor from any array-like of numbers (values are rounded to float32). */
export function tensor(data: ArrayLike<number>, shape: readonly number[]): Tensor {
  return new Tensor(Float32Array.from(data), shape)
}

export function zeros(shape: readonly number[]): Tensor {
  return new Tensor(new Float32Array(shape.reduce((p, d) => p * d, 1)), shape)
}

export function full(shape: readonly number[], value: number): Tensor {
  return new Tensor(new Float32Array(shape.reduce((p, d) => p * d, 1)).fill(value), shape)
}

export function scalar(value: number): Tensor {
  return new Tensor(Float32Array.of(value), [])
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1)

export const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`
