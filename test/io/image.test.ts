import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Jimp } from 'jimp'
import * as E from 'fp-ts/lib/Either.js'
import * as Image from '../../src/io/image.ts'
import { clipMean } from '../../src/parents/patches.ts'

let dir = ''
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haplovl-image-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

const RED = 0xff0000ff, BLUE = 0x0000ffff
const PAD = clipMean.map((m) => Math.floor(m * 255) / 255)

/** A w×h image: red on the left half, blue on the right half. */
const halves = (w: number, h: number) => {
  const img = new Jimp({ width: w, height: h, color: RED })
  for (let y = 0; y < h; y++) for (let x = Math.floor(w / 2); x < w; x++) img.setPixelColor(BLUE, x, y)
  return img
}

const pixel = (im: Image.Image, i: number, j: number) => [0, 1, 2].map((c) => im.data[(i * im.width + j) * 3 + c])
const near = (a: readonly number[], b: readonly number[], tol: number) => a.every((v, c) => Math.abs(v - b[c]) <= tol)

const expectLeft = (r: E.Either<string, unknown>, path: string, why: RegExp) => {
  assert.ok(E.isLeft(r), `expected an error for ${path}`)
  assert.ok(r.left.includes(`"${path}"`), r.left)
  assert.match(r.left, why)
  assert.ok(!r.left.includes('\n') && !/\bat .*:\d+:\d+/.test(r.left), `not one clean line: ${r.left}`)
}

describe('loadImage', () => {
  for (const [ext, tol] of [['png', 0.01], ['jpg', 0.12], ['bmp', 0.01], ['gif', 0.01]] as const) {
    it(`reads a wide ${ext}, keeps its aspect and pads top and bottom with the CLIP mean`, async () => {
      const path = join(dir, `wide.${ext}`)
      await halves(64, 32).write(path as `${string}.png`)
      const r = await Image.loadImage(path, 16)()
      assert.ok(E.isRight(r), E.isLeft(r) ? r.left : '')
      const im = r.right
      assert.deepEqual([im.height, im.width, im.data.length], [16, 16, 16 * 16 * 3])
      // 64×32 → 16×8, centred: rows 0–3 and 12–15 are padding
      for (const i of [0, 3, 12, 15]) for (const j of [0, 8, 15]) assert.ok(near(pixel(im, i, j), PAD, 0.01), `pad at ${i},${j}: ${pixel(im, i, j)}`)
      for (const i of [5, 8, 10]) {
        assert.ok(near(pixel(im, i, 2), [1, 0, 0], tol), `red at ${i},2: ${pixel(im, i, 2)}`)
        assert.ok(near(pixel(im, i, 13), [0, 0, 1], tol), `blue at ${i},13: ${pixel(im, i, 13)}`)
      }
      assert.ok(im.data.every((v) => v >= 0 && v <= 1))
    })
  }

  it('pads a tall image left and right', async () => {
    const path = join(dir, 'tall.png')
    await new Jimp({ width: 10, height: 40, color: RED }).write(path as `${string}.png`)
    const r = await Image.loadImage(path, 16)()
    assert.ok(E.isRight(r))
    // 10×40 → 4×16 at column offset 6
    for (let i = 0; i < 16; i++) {
      assert.ok(near(pixel(r.right, i, 0), PAD, 0.01) && near(pixel(r.right, i, 15), PAD, 0.01))
      assert.ok(near(pixel(r.right, i, 7), [1, 0, 0], 0.01))
    }
  })

  it('reads a square image without padding, and drops alpha', async () => {
    const path = join(dir, 'square.png')
    await new Jimp({ width: 48, height: 48, color: 0x00ff0080 }).write(path as `${string}.png`)
    const r = await Image.loadImage(path, 24)()
    assert.ok(E.isRight(r))
    assert.ok(near(pixel(r.right, 0, 0), [0, 1, 0], 0.01) && near(pixel(r.right, 23, 23), [0, 1, 0], 0.01), String(pixel(r.right, 0, 0)))
  })

  it('fails with one line naming the file: missing, not an image, truncated, empty, a directory', async () => {
    const missing = join(dir, 'missing.png')
    expectLeft(await Image.loadImage(missing)(), missing, /no such file/)

    const text = join(dir, 'notes.png')
    await writeFile(text, 'this is a text file, not a picture\n')
    expectLeft(await Image.loadImage(text)(), text, /not a PNG, JPEG, BMP, GIF or TIFF/)

    const png = await halves(64, 32).getBuffer('image/png')
    for (const cut of [0.5, 0.9]) {
      const truncated = join(dir, `truncated-${cut}.png`)
      await writeFile(truncated, png.subarray(0, Math.floor(png.length * cut)))
      expectLeft(await Image.loadImage(truncated)(), truncated, /corrupt or truncated/)
    }

    const empty = join(dir, 'empty.png')
    await writeFile(empty, '')
    expectLeft(await Image.loadImage(empty)(), empty, /empty/)
    expectLeft(await Image.loadImage(dir)(), dir, /directory/)
  })
})
