/**
 * Where text looks in the image: the paper's Figure 5. After the pre-decoder, the attention weights of a text
 * token over the image's patch positions show which regions the token draws on.
 *
 *   patchAttention: model + batch ─► for each chosen token, a g×g grid (mean over heads and chosen layers,
 *                   renormalised over the patches) and the share of the token's attention that fell on the image
 *   attentionPng:   image pixels + grids ─► PNG: the image alone, then one heat-map panel per token, captioned
 *
 * The second is a pure function of its inputs, so it can be tested without a model.
 */
import { noGrad } from '../../autograd/index.ts'
import { type Config, grid as gridSide } from '../haplovl/config.ts'
import { type Params, forward } from '../haplovl/model.ts'
import { type Batch, Kind } from '../haplovl/sequence.ts'
import * as Canvas from './canvas.ts'

// ---------------------------------------------------------------------------------------------------------------
// from the model
// ---------------------------------------------------------------------------------------------------------------

export interface Query {
  /** pre-decoder layers to average (0-based; default the last) */
  readonly layers?: readonly number[]
  /** flat positions (in sample 0 of the batch) of the text tokens to look from */
  readonly positions: readonly number[]
  /** which image of the batch (default 0) */
  readonly image?: number
}

export interface TokenAttention {
  readonly position: number
  /** (g·g) row-major over the patch grid, summing to 1 (all zeros if the token cannot see the image) */
  readonly grid: Float32Array
  /** the part of the token's attention (mean over heads and layers) that fell on this image's patches */
  readonly onImage: number
}

/**
 * The attention of each query position over one image's patches, from sample 0 of the batch.
 * Weights of layer l come as (B, H, T, T): entry (0, h, q, k) is at (h·T + q)·T + k.
 */
export function patchAttention(p: Params, c: Config, batch: Batch, q: Query): TokenAttention[] {
  const depth = c.vision.layers
  const layers = q.layers ?? [depth - 1]
  for (const l of layers) if (!Number.isInteger(l) || l < 0 || l >= depth) throw new RangeError(`layer ${l} is outside the pre-decoder's 0..${depth - 1}`)
  const image = q.image ?? 0, t = batch.t, g = gridSide(c)
  const patches: [position: number, patch: number][] = []
  for (let i = 0; i < t; i++) if (batch.kind[i] === Kind.patch && batch.imageOf[i] === image) patches.push([i, batch.patchOf[i]!])
  if (patches.length !== g * g) throw new RangeError(`image ${image} of sample 0 has ${patches.length} patch positions, expected ${g * g}`)
  for (const pos of q.positions) if (!Number.isInteger(pos) || pos < 0 || pos >= t) throw new RangeError(`position ${pos} is outside 0..${t - 1}`)

  const weights = noGrad(() => forward(p, c, batch, { withAttention: true, preDecoderOnly: true }).attention!)
  const heads = c.vision.heads
  return q.positions.map((position) => {
    const grid = new Float32Array(g * g)
    for (const l of layers) {
      const a = weights[l]!.data
      for (let h = 0; h < heads; h++) {
        const row = (h * t + position) * t
        for (const [k, patch] of patches) grid[patch] += a[row + k]! / (heads * layers.length)
      }
    }
    const onImage = grid.reduce((s, v) => s + v, 0)
    if (onImage > 0) for (let k = 0; k < grid.length; k++) grid[k] /= onImage
    return { position, grid, onImage }
  })
}

// ---------------------------------------------------------------------------------------------------------------
// the picture
// ---------------------------------------------------------------------------------------------------------------

export interface Panel {
  readonly caption: string
  /** (g·g) non-negative weights over the patch grid, row-major */
  readonly grid: ArrayLike<number>
}

export interface Picture {
  /** the model's input: (size, size, 3) in [0, 1] */
  readonly image: { readonly size: number; readonly pixels: Float32Array }
  readonly panels: readonly Panel[]
  readonly title?: string
  /** caption of the image panel (default "image") */
  readonly imageCaption?: string
  /** side of a panel in pixels (default: the largest multiple of the image size ≤ 192) */
  readonly panelSize?: number
  /** panels per row (default 6) */
  readonly columns?: number
}

/** Points of the colour map (dark violet → red → orange → pale yellow), evenly spaced on [0, 1]. */
const HEAT: readonly Canvas.Rgb[] = [[0, 0, 4], [66, 10, 104], [147, 38, 103], [221, 81, 58], [252, 165, 10], [252, 255, 164]]

/** The colour of v ∈ [0, 1], linear between the map's points. */
export function heat(v: number): Canvas.Rgb {
  const x = Math.min(1, Math.max(0, v)) * (HEAT.length - 1)
  const k = Math.min(HEAT.length - 2, Math.floor(x)), f = x - k
  const [a, b] = [HEAT[k]!, HEAT[k + 1]!]
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f]
}

/** Opacity of the heat over the image. */
export const OVERLAY = 0.65

const PAD = 12, CAPTION = 40, TITLE = 48, LEGEND = 30, MIN_WIDTH = 640

export interface Layout {
  readonly width: number
  readonly height: number
  readonly panelSize: number
  /** top-left corner of panel k (0: the image alone, k ≥ 1: panels[k − 1]) */
  readonly corner: (k: number) => readonly [number, number]
}

export function layout(p: Picture): Layout {
  const n = p.panels.length + 1
  const panelSize = p.panelSize ?? Math.max(1, Math.floor(192 / p.image.size)) * p.image.size
  const columns = Math.max(1, Math.min(p.columns ?? 6, n)), rows = Math.ceil(n / columns)
  const cell = panelSize + PAD
  const top = p.title ? TITLE : PAD
  const width = Math.max(MIN_WIDTH, columns * cell + PAD), left = PAD + Math.floor((width - columns * cell - PAD) / 2) // panels centred
  return {
    width,
    height: top + rows * (panelSize + CAPTION) + LEGEND,
    panelSize,
    corner: (k) => [left + (k % columns) * cell, top + Math.floor(k / columns) * (panelSize + CAPTION)],
  }
}

/** The image scaled up (nearest neighbour) into panel k, under the heat of `heatGrid` when given. */
function drawImage(img: ReturnType<typeof Canvas.blank>, p: Picture, l: Layout, k: number, heatGrid?: ArrayLike<number>): void {
  const [x0, y0] = l.corner(k)
  const { size, pixels } = p.image
  const s = l.panelSize
  const g = heatGrid ? Math.round(Math.sqrt(heatGrid.length)) : 0
  let max = 0
  if (heatGrid) for (let i = 0; i < heatGrid.length; i++) max = Math.max(max, heatGrid[i]!)
  const data = img.bitmap.data, width = img.bitmap.width
  for (let y = 0; y < s; y++)
    for (let x = 0; x < s; x++) {
      const src = (Math.floor((y * size) / s) * size + Math.floor((x * size) / s)) * 3
      let rgb: [number, number, number] = [pixels[src]! * 255, pixels[src + 1]! * 255, pixels[src + 2]! * 255]
      if (heatGrid) {
        // each patch is a block of the panel: its share relative to the panel's largest patch picks the colour
        const v = max > 0 ? heatGrid[Math.floor((y * g) / s) * g + Math.floor((x * g) / s)]! / max : 0
        const h = heat(v)
        rgb = [0, 1, 2].map((c) => rgb[c]! * (1 - OVERLAY) + h[c]! * OVERLAY) as [number, number, number]
      }
      const at = 4 * ((y0 + y) * width + x0 + x)
      data[at] = Math.round(rgb[0]), data[at + 1] = Math.round(rgb[1]), data[at + 2] = Math.round(rgb[2]), data[at + 3] = 255
    }
  Canvas.strokeRect(img, x0 - 1, y0 - 1, s + 2, s + 2, [160, 160, 160])
}

/** The PNG: a title, the image, then one captioned heat-map panel per token, and a colour legend. */
export async function attentionPng(p: Picture): Promise<Buffer> {
  const { size, pixels } = p.image
  if (pixels.length !== size * size * 3) throw new RangeError(`the image holds ${pixels.length} values, expected ${size}×${size}×3`)
  for (const panel of p.panels) {
    const g = Math.round(Math.sqrt(panel.grid.length))
    if (g * g !== panel.grid.length || size % g !== 0) throw new RangeError(`an attention grid of ${panel.grid.length} values is not a square grid dividing a ${size}-pixel image`)
  }
  const f = await Canvas.fonts()
  const l = layout(p)
  const img = Canvas.blank(l.width, l.height)
  if (p.title) Canvas.wrap(f.title, p.title, l.width - 2 * PAD).slice(0, 2).forEach((line, k) => Canvas.text(img, f.title, l.width / 2, 4 + 20 * k, line, { align: 'center' }))
  const caption = (k: number, s: string) => {
    const [x, y] = l.corner(k)
    Canvas.wrap(f.normal, s, l.panelSize).slice(0, 2).forEach((line, i) => Canvas.text(img, f.normal, x + l.panelSize / 2, y + l.panelSize + 4 + i * 17, line, { align: 'center' }))
  }
  drawImage(img, p, l, 0)
  caption(0, p.imageCaption ?? 'image')
  p.panels.forEach((panel, k) => {
    drawImage(img, p, l, k + 1, panel.grid)
    caption(k + 1, panel.caption)
  })
  // legend: the colour ramp, relative to each panel's strongest patch
  const ly = l.height - LEGEND + 8, lx = PAD
  for (let x = 0; x < 120; x++) Canvas.fillRect(img, lx + x, ly, 1, 12, heat(x / 119))
  Canvas.text(img, f.small, lx + 128, ly - 2, 'attention per patch, from 0 to the panel\'s largest', { rgb: [90, 90, 90] })
  return Canvas.toPng(img)
}
