/**
 * Images from users: any PNG, JPEG, BMP, GIF (first frame) or TIFF file becomes the model's square RGB input.
 *
 * As LLaVA does for non-square images, the picture is kept whole: it is scaled so its longer side equals the
 * input size, then centred on a square filled with the CLIP mean colour (which normalises to exactly zero).
 * Alpha is dropped, as PIL's convert('RGB') does. The result is a Float32Array of shape (H, W, 3), row-major,
 * values in [0, 1]; `patchify` (src/parents/patches.ts) applies the CLIP mean/std when the model reads it.
 *
 * Every failure (missing file, not an image, truncated data) is a Left with one line that names the file.
 */
import { Jimp, type JimpInstance } from 'jimp'
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { pipe } from 'fp-ts/lib/function.js'
import { readFile } from 'node:fs/promises'
import { clipMean } from '../parents/patches.ts'

export interface Image {
  readonly height: number
  readonly width: number
  /** (height, width, 3) row-major: pixel (i, j) channel c is at (i · width + j) · 3 + c. */
  readonly data: Float32Array
}

const oneLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0].trim()

const fail = (path: string, why: string): string => `cannot read image "${path}": ${why}`

/** Why jimp could not decode, in a user's words. */
const decodeError = (e: unknown): string => {
  const m = oneLine(e)
  if (/Could not find MIME|does not support decoding|Unsupported MIME/i.test(m)) return 'not a PNG, JPEG, BMP, GIF or TIFF file'
  if (/read requests wait|unexpected end|premature end/i.test(m)) return 'the file is corrupt or truncated (unexpected end of data)'
  return `the file is corrupt or truncated (${m || 'decoder error'})`
}

/** The CLIP mean as 0xRRGGBBAA, rounded down as LLaVA does (int(x · 255)). */
const PAD_RGBA = ((Math.floor(clipMean[0] * 255) << 24) | (Math.floor(clipMean[1] * 255) << 16) | (Math.floor(clipMean[2] * 255) << 8) | 0xff) >>> 0

/**
 * Scales a decoded image so its longer side is `size` and centres it on a `size`×`size` square of the pad
 * colour; the offset along the shorter side is ⌊(size − scaled) / 2⌋.
 */
export const toSquare = (image: JimpInstance, size: number, padRgba = PAD_RGBA): JimpInstance => {
  const { width: w, height: h } = image.bitmap
  const s = size / Math.max(w, h)
  const sw = Math.max(1, Math.round(w * s)), sh = Math.max(1, Math.round(h * s))
  const scaled = image.clone().resize({ w: sw, h: sh }) as JimpInstance
  // Opaque copy: the square shows RGB only, so transparent pixels keep their stored colour (PIL convert('RGB')).
  const d = scaled.bitmap.data
  for (let k = 3; k < d.length; k += 4) d[k] = 255
  const square = new Jimp({ width: size, height: size, color: padRgba })
  return square.composite(scaled, Math.floor((size - sw) / 2), Math.floor((size - sh) / 2)) as JimpInstance
}

/** RGBA bytes of a `size`×`size` image → (size, size, 3) floats in [0, 1]. */
const toFloat = (image: JimpInstance): Image => {
  const { width, height, data } = image.bitmap
  const out = new Float32Array(width * height * 3)
  for (let k = 0; k < width * height; k++) {
    out[3 * k] = data[4 * k] / 255
    out[3 * k + 1] = data[4 * k + 1] / 255
    out[3 * k + 2] = data[4 * k + 2] / 255
  }
  return { width, height, data: out }
}

const checkSize = (size: number): void => {
  if (!Number.isInteger(size) || size < 1 || size > 4096) throw new RangeError(`image size must be an integer in [1, 4096], got ${size}`)
}

/** Decodes image bytes; `name` is used in messages. */
export const fromBuffer = (buffer: Buffer, size = 32, name = '<buffer>'): TE.TaskEither<string, Image> => {
  checkSize(size)
  return pipe(
    TE.tryCatch(
      async () => (await Jimp.fromBuffer(buffer)) as JimpInstance,
      (e) => fail(name, decodeError(e)),
    ),
    TE.chainEitherK((image): E.Either<string, Image> => {
      if (image.bitmap.width < 1 || image.bitmap.height < 1) return E.left(fail(name, 'the image has no pixels'))
      try {
        return E.right(toFloat(toSquare(image, size)))
      } catch (e) {
        return E.left(fail(name, decodeError(e)))
      }
    }),
  )
}

/**
 * Reads an image file and returns the model's square input (size × size × 3, in [0, 1]).
 *
 * @example
 * const r = await loadImage('cat.jpg', 32)()
 * if (E.isLeft(r)) console.error(r.left) // cannot read image "cat.jpg": no such file
 */
export const loadImage = (path: string, size = 32): TE.TaskEither<string, Image> =>
  pipe(
    TE.tryCatch(
      () => readFile(path),
      (e) => {
        const code = (e as NodeJS.ErrnoException).code
        return fail(path, code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : oneLine(e))
      },
    ),
    TE.chain((buffer) => (buffer.length === 0 ? TE.left(fail(path, 'the file is empty')) : fromBuffer(buffer, size, path))),
  )
