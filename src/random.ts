/**
 * Pure, splittable random keys (as JAX's PRNG keys): a key is a 32-bit seed; `split` derives independent
 * child keys from it, and every sampler is a pure function of its key. Same key, same bytes.
 * The stream comes from pure-rand's xoroshiro128+.
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus'
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64'
import { uniformInt } from 'pure-rand/distribution/uniformInt'
import { Tensor, sizeOf } from '../autograd/index.ts'

export type Key = number & { readonly __key: unique symbol }

export const key = (seed: number): Key => (seed >>> 0) as Key

/** A generator for a key; the key is hashed first (murmur3's finaliser) so that nearby keys give unrelated streams. */
function generator(k: Key) {
  let h = (k + 0x9e3779b9) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  const rng = xoroshiro128plus((h ^ (h >>> 16)) >>> 0)
  rng.next(), rng.next() // the first outputs of a fresh xoroshiro state are weakly mixed
  return rng
}

/** n independent child keys. */
export function split(k: Key, n = 2): Key[] {
  const rng = generator(k)
  return Array.from({ length: n }, () => (rng.next() >>> 0) as Key)
}

/** A child key for a named or numbered purpose (a deterministic function of both). */
export function fold(k: Key, data: number | string): Key {
  const n = typeof data === 'number' ? data : [...data].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, 2166136261)
  return split((k ^ Math.imul(n + 1, 0x9e3779b1)) as Key, 1)[0]!
}

/** n uniform floats in [0, 1). */
export function uniforms(k: Key, n: number): Float64Array {
  const rng = generator(k)
  return Float64Array.from({ length: n }, () => uniformFloat64(rng))
}

/** A uniform integer in [from, to] (both included). */
export function integer(k: Key, from: number, to: number): number {
  return uniformInt(generator(k), from, to)
}

/** Standard normal draws by the Box–Muller transform, scaled by std. */
export function normal(k: Key, shape: readonly number[], std = 1): Tensor {
  const n = sizeOf(shape)
  const u = uniforms(k, n + (n % 2))
  const out = new Float32Array(n)
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u[i]!)) * std, angle = 2 * Math.PI * u[i + 1]!
    out[i] = r * Math.cos(angle)
    if (i + 1 < n) out[i + 1] = r * Math.sin(angle)
  }
  return new Tensor(out, shape)
}

/** Uniform draws in [lo, hi). */
export function uniform(k: Key, shape: readonly number[], lo: number, hi: number): Tensor {
  return new Tensor(Float32Array.from(uniforms(k, sizeOf(shape)), (u) => lo + (hi - lo) * u), shape)
}

/** A permutation of 0..n−1 (Fisher–Yates). */
export function permutation(k: Key, n: number): number[] {
  const u = uniforms(k, n), p = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u[i]! * (i + 1))
    ;[p[i], p[j]] = [p[j]!, p[i]!]
  }
  return p
}
