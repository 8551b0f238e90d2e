/**
 * Images to patch rows. An image is (H, W, 3) float pixels, row-major; a k×k patch is flattened channel-major,
 * (c, y, x), as a Conv2d weight [out, c, kh, kw] expects, so a linear layer on these rows equals the
 * stride-k convolution of CLIP / HaploVL. Patches are ordered row by row over the (H/k)×(W/k) grid.
 */
import ndarray from 'ndarray'
import { Tensor } from '../../autograd/index.ts'

/** Normalisation constants of OpenAI CLIP (per channel, applied to pixels in [0, 1]). */
export const clipMean = [0.48145466, 0.4578275, 0.40821073] as const
export const clipStd = [0.26862954, 0.26130258, 0.27577711] as const

/** images: N pixel arrays of (size, size, 3) in [0, 1] → (N, P, 3·k·k), CLIP-normalised. */
export function patchify(images: readonly Float32Array[], size: number, k: number): Tensor {
  if (size % k !== 0) throw new Error(`patchify: image size ${size} is not a multiple of the patch size ${k}`)
  const g = size / k, row = 3 * k * k
  const out = new Float32Array(images.length * g * g * row)
  images.forEach((pixels, n) => {
    if (pixels.length !== size * size * 3) throw new Error(`patchify: image ${n} has ${pixels.length} values, expected ${size}×${size}×3`)
    const img = ndarray(pixels, [size, size, 3])
    for (let gy = 0; gy < g; gy++)
      for (let gx = 0; gx < g; gx++) {
        const base = ((n * g + gy) * g + gx) * row
        for (let c = 0; c < 3; c++)
          for (let y = 0; y < k; y++)
            for (let x = 0; x < k; x++)
              out[base + (c * k + y) * k + x] = (img.get(gy * k + y, gx * k + x, c) - clipMean[c]!) / clipStd[c]!
      }
  })
  return new Tensor(out, [images.length, g * g, row])
}
