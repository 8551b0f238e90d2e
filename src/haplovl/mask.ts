/**
 * HaploVL's attention mask (MODEL_SPEC §1.5), the same in every layer of both decoders.
 *
 * Each key position j gets a block start: start[j] = j for text, and the first position of its image for
 * every token of an image (its patches and newline tokens). Query i may attend key j iff start[j] ≤ i and j
 * is not padding. Hence: text is causal; an image's tokens see each other in both directions; images see
 * earlier text and images but never later ones; text after an image sees all of it.
 */
import { Tensor } from '../../autograd/index.ts'

/** start[j] for one sequence; `imageOf[j]` is the image a position belongs to, or −1. */
export function blockStarts(imageOf: ArrayLike<number>): Int32Array {
  const start = new Int32Array(imageOf.length)
  for (let j = 0; j < imageOf.length; j++)
    start[j] = imageOf[j]! >= 0 && j > 0 && imageOf[j - 1] === imageOf[j] ? start[j - 1]! : j
  return start
}

/** The additive (T, T) mask of one sequence: 0 where allowed, −∞ elsewhere. */
export function mixedMask(imageOf: ArrayLike<number>, isPad: ArrayLike<boolean>): Float32Array {
  const t = imageOf.length, start = blockStarts(imageOf)
  const m = new Float32Array(t * t)
  // a padding query attends only itself, so its softmax row is never empty (its output is never used)
  for (let i = 0; i < t; i++)
    for (let j = 0; j < t; j++) {
      const allowed = isPad[i] ? i === j : !isPad[j] && start[j]! <= i
      if (!allowed) m[i * t + j] = -Infinity
    }
  return m
}

/**
 * Masks of a batch: (B, T, T). 'causal' (the LLaVA / SOLO / HoVLE mask) is the same rule with every position
 * treated as text (start[j] = j): query i attends keys j ≤ i, image tokens included, padding never.
 */
export function batchMask(imageOf: Int32Array, isPad: readonly boolean[], b: number, t: number, kind: 'mixed' | 'causal' = 'mixed'): Tensor {
  const out = new Float32Array(b * t * t)
  const text = new Int32Array(t).fill(-1)
  for (let s = 0; s < b; s++)
    out.set(mixedMask(kind === 'causal' ? text : imageOf.subarray(s * t, (s + 1) * t), isPad.slice(s * t, (s + 1) * t)), s * t * t)
  return new Tensor(out, [b, t, t])
}
