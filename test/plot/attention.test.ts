/** Attention pictures: the renderer puts the heat where the attention is; the model side reads the right weights. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Jimp } from 'jimp'
import * as E from 'fp-ts/lib/Either.js'
import * as Attention from '../../src/plot/attention.ts'
import * as Random from '../../src/random.ts'
import { micro, grid as gridSide, imageTokens } from '../../src/haplovl/config.ts'
import { fromScratch } from '../../src/haplovl/init.ts'
import { assemble } from '../../src/haplovl/sequence.ts'

const luminance = (d: Uint8Array | Buffer, at: number) => 0.2126 * d[at]! + 0.7152 * d[at + 1]! + 0.0722 * d[at + 2]!

describe('attentionPng', () => {
  const size = 16, g = 4
  const gray = new Float32Array(size * size * 3).fill(0.5)
  /** a grid with most weight on one patch and a little on the rest */
  const peakAt = (k: number) => Float32Array.from({ length: g * g }, (_, i) => (i === k ? 0.7 : 0.3 / (g * g - 1)))

  /** mean luminance of each patch block of panel `panel` */
  const blockMeans = (img: { bitmap: { data: Uint8Array | Buffer; width: number } }, l: Attention.Layout, panel: number) => {
    const [x0, y0] = l.corner(panel), side = l.panelSize / g
    return Array.from({ length: g * g }, (_, k) => {
      let s = 0
      for (let y = 0; y < side; y++) for (let x = 0; x < side; x++)
        s += luminance(img.bitmap.data, 4 * ((y0 + Math.floor(k / g) * side + y) * img.bitmap.width + x0 + (k % g) * side + x))
      return s / side ** 2
    })
  }

  it('is brightest over the patch that received the most attention, in every panel', async () => {
    const picture: Attention.Picture = { image: { size, pixels: gray }, title: 'where?', panels: [{ caption: '"red"', grid: peakAt(6) }, { caption: '"corner"', grid: peakAt(15) }] }
    const img = await Jimp.fromBuffer(await Attention.attentionPng(picture))
    const l = Attention.layout(picture)
    assert.deepEqual([img.bitmap.width, img.bitmap.height], [l.width, l.height])
    for (const [panel, peak] of [[1, 6], [2, 15]] as const) {
      const means = blockMeans(img, l, panel)
      const best = means.indexOf(Math.max(...means))
      assert.equal(best, peak, `panel ${panel}: ${means.map((m) => m.toFixed(0)).join(' ')}`)
      // every other patch shows the same (low) colour: the picture does not invent structure
      const others = means.filter((_, k) => k !== peak)
      assert.ok(Math.max(...others) - Math.min(...others) < 1)
    }
    // the first panel is the image alone: uniform gray
    const plain = blockMeans(img, l, 0)
    assert.ok(plain.every((m) => Math.abs(m - 128) < 1.5), plain.join(' '))
  })

  it('the colour map gets brighter as attention grows', () => {
    const lum = (v: number) => { const [r, g2, b] = Attention.heat(v); return 0.2126 * r + 0.7152 * g2 + 0.0722 * b }
    for (let v = 0; v < 1; v += 0.05) assert.ok(lum(v + 0.05) > lum(v), `at ${v}`)
  })

  it('rejects a grid that does not fit the image', async () => {
    await assert.rejects(Attention.attentionPng({ image: { size, pixels: gray }, panels: [{ caption: 'x', grid: new Float32Array(5) }] }), /square grid/)
    await assert.rejects(Attention.attentionPng({ image: { size, pixels: new Float32Array(3) }, panels: [] }), /expected 16×16×3/)
  })
})

describe('patchAttention', () => {
  const c = micro
  const params = fromScratch(Random.key(5), c)
  const pixels = Float32Array.from(Random.uniforms(Random.key(6), c.vision.imageSize ** 2 * 3))
  // tokens 4, 5 | image | tokens 6, 7, 8
  const batch = assemble([[{ kind: 'text', ids: [4, 5], loss: false }, { kind: 'image', pixels }, { kind: 'text', ids: [6, 7, 8], loss: false }]], c, { image: 1, pad: 0 })
  assert.ok(E.isRight(batch))
  const after = 2 + imageTokens(c)

  it('gives a grid per token over the patches, summing to 1, with the share that fell on the image', () => {
    const out = Attention.patchAttention(params, c, batch.right, { positions: [after, after + 2], layers: [0, 1] })
    assert.equal(out.length, 2)
    for (const a of out) {
      assert.equal(a.grid.length, gridSide(c) ** 2)
      assert.ok(Math.abs(a.grid.reduce((s, v) => s + v, 0) - 1) < 1e-5)
      assert.ok(a.onImage > 0 && a.onImage < 1, `${a.onImage}`)
    }
  })

  it('a token before the image cannot see it (causal across segments)', () => {
    const [a] = Attention.patchAttention(params, c, batch.right, { positions: [1] })
    assert.equal(a!.onImage, 0)
    assert.ok(a!.grid.every((v) => v === 0))
  })

  it('averaging two layers averages their attention on the image', () => {
    const one = (l: number) => Attention.patchAttention(params, c, batch.right, { positions: [after], layers: [l] })[0]!.onImage
    const both = Attention.patchAttention(params, c, batch.right, { positions: [after], layers: [0, 1] })[0]!.onImage
    assert.ok(Math.abs(both - (one(0) + one(1)) / 2) < 1e-6)
  })

  it('refuses a layer or position outside the model', () => {
    assert.throws(() => Attention.patchAttention(params, c, batch.right, { positions: [after], layers: [2] }), /layer 2/)
    assert.throws(() => Attention.patchAttention(params, c, batch.right, { positions: [99] }), /position 99/)
  })
})
