/**
 * CLIP's symmetric contrastive loss (InfoNCE both ways) with a learnable temperature.
 *
 *   u_i = f_i / ‖f_i‖,  v_j = g_j / ‖g_j‖                 image and text embeddings, unit rows
 *   L_ij = exp(min(s, ln 100)) · ⟨u_i, v_j⟩                the logits (N, N); s starts at ln(1/0.07)
 *   L_i→t = mean_i CE(L_i·, i)      L_t→i = mean_j CE(L_·j, j)      loss = (L_i→t + L_t→i) / 2
 *
 * Pair i is the positive of row i and column i; every other pair is a negative, except pairs whose texts are
 * the same (`groups[i] = groups[j]`, i ≠ j): a duplicate caption is not a wrong answer, so those entries are
 * left out of the softmax (their logit is pushed to −1e9, where exp underflows to exactly 0).
 *
 * Hard negatives (NegCLIP, Yuksekgonul et al., ICLR 2023): M extra texts h_k that match no image, e.g. a
 * caption with one object's shape changed. They join the image→text softmax as M more columns,
 * L_i→t = mean_i CE([L_i· | exp(s)·⟨u_i, h_·⟩], i), so an image must tell its caption from near misses; the
 * text→image direction is unchanged.
 */
import { ops, Tensor } from '../../autograd/index.ts'
import { maxLogitScale } from './distillation.ts'

/** CLIP's initial temperature 0.07, as s = ln(1/0.07). */
export const initialLogitScale = Math.log(1 / 0.07)

/** A logit that drops its entry from a softmax. */
const excluded = -1e9

export type Terms = {
  readonly loss: Tensor
  readonly imageToText: Tensor
  readonly textToImage: Tensor
  /** exp(min(s, ln 100)), the multiplier of the cosines */
  readonly scale: Tensor
}

/** Unit rows: x / ‖x‖ over the last axis of (N, E). */
export const normalize = (x: Tensor): Tensor => ops.div(x, ops.reshape(ops.l2Norm(x), [x.shape[0]!, 1]))

/** 0 where the entry takes part, −1e9 where row i and column j ≠ i hold the same text: (N, N). */
export function duplicateMask(groups: readonly number[]): Tensor | null {
  const n = groups.length
  const m = new Float32Array(n * n)
  let any = false
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      if (i !== j && groups[i] === groups[j]) (m[i * n + j] = excluded), (any = true)
  return any ? new Tensor(m, [n, n]) : null
}

/**
 * image, text: (N, E) embeddings of N matching pairs; logitScale: s, a scalar tensor.
 * groups: an optional text id per pair (equal ids = identical texts, not negatives of each other).
 * negatives: optional (M, E) embeddings of texts that describe none of the images.
 */
export function contrastive(image: Tensor, text: Tensor, logitScale: Tensor, groups?: readonly number[], negatives?: Tensor): Terms {
  const n = image.shape[0]!
  if (text.shape[0] !== n) throw new Error(`contrastive: ${n} images but ${text.shape[0]} texts`)
  if (groups && groups.length !== n) throw new Error(`contrastive: ${groups.length} groups for ${n} pairs`)
  const scale = ops.exp(ops.clamp(logitScale, -Infinity, maxLogitScale)) // scalar
  const u = normalize(image)
  const cosines = ops.matmul(u, normalize(text), { transposeB: true }) // (N, N): row i image, column j text
  const mask = groups ? duplicateMask(groups) : null
  const logits = mask ? ops.add(ops.mul(cosines, scale), mask) : ops.mul(cosines, scale) // (N, N)
  const diagonal = Array.from({ length: n }, (_, i) => i)
  const rows = negatives ? ops.concat([logits, ops.mul(ops.matmul(u, normalize(negatives), { transposeB: true }), scale)], 1) : logits // (N, N + M)
  const imageToText = ops.crossEntropy(rows, diagonal)
  const textToImage = ops.crossEntropy(ops.transpose(logits, [1, 0]), diagonal) // the mask is symmetric
  return { loss: ops.scale(ops.add(imageToText, textToImage), 0.5), imageToText, textToImage, scale }
}

/** A scalar tensor holding CLIP's initial s. */
export const initLogitScale = (): Tensor => new Tensor(Float32Array.of(initialLogitScale), [])
