/**
 * A tiny seeded random stream for the synthetic data world.
 *
 * Everything in src/data is a pure function of integer seeds: a function that needs randomness derives a
 * 32-bit seed with `hash`, opens a `stream` on it, consumes it locally and drops it. A stream is never stored
 * in a value, so same seed in, same value out.
 *
 * Generator: splitmix32 (a 32-bit Weyl sequence, 0x9e3779b9 per step, through an avalanching mix). Small,
 * fast and good enough for sampling scenes; not for cryptography.
 */

// -------------------------------------------------------------------------------------------------------------
// hashing
// -------------------------------------------------------------------------------------------------------------

/** The murmur3 32-bit finaliser: every input bit flips about half of the output bits. */
const mix = (h: number): number => {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/**
 * Combines integers into one unsigned 32-bit seed; order matters.
 *
 * @example
 * hash(1, 2) !== hash(2, 1) // true
 */
export const hash = (...parts: readonly number[]): number => {
  let h = 0x2545f491
  for (const p of parts) h = mix((h ^ mix((p | 0) + 0x9e3779b9)) + Math.imul(h, 31))
  return h
}

/** FNV-1a over the UTF-16 code units of a string, then mixed: a 32-bit content fingerprint. */
export const hashString = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return mix(h)
}

// -------------------------------------------------------------------------------------------------------------
// streams
// -------------------------------------------------------------------------------------------------------------

/** A random stream. Consume it inside the function that opened it. */
export interface Stream {
  /** Uniform unsigned 32-bit integer. */
  readonly u32: () => number
  /** Uniform in [0, 1). */
  readonly float: () => number
  /** Uniform in [lo, hi). */
  readonly uniform: (lo: number, hi: number) => number
  /** Uniform integer in [lo, hi], both included. */
  readonly int: (lo: number, hi: number) => number
  /** True with probability p. */
  readonly chance: (p: number) => boolean
  /** One element, uniformly; the array must be non-empty. */
  readonly pick: <A>(xs: readonly A[]) => A
  /** A shuffled copy (Fisher–Yates). */
  readonly shuffle: <A>(xs: readonly A[]) => A[]
}

/** Opens a stream on a 32-bit seed. */
export const stream = (seed: number): Stream => {
  let state = seed >>> 0
  const u32 = (): number => {
    state = (state + 0x9e3779b9) >>> 0
    return mix(state)
  }
  const float = (): number => u32() / 4294967296
  // Multiply-shift into [0, n): the bias is at most n / 2³², negligible for the small n used here.
  const below = (n: number): number => Math.floor(float() * n)
  return {
    u32,
    float,
    uniform: (lo, hi) => lo + (hi - lo) * float(),
    int: (lo, hi) => lo + below(hi - lo + 1),
    chance: (p) => float() < p,
    pick: (xs) => {
      if (xs.length === 0) throw new Error('random.pick: empty array')
      return xs[below(xs.length)]
    },
    shuffle: (xs) => {
      const out = xs.slice()
      for (let i = out.length - 1; i > 0; i--) {
        const j = below(i + 1)
        const t = out[i]
        out[i] = out[j]
        out[j] = t
      }
      return out
    },
  }
}
