/**
 * Drawing on a jimp bitmap: alpha-blended pixels, rectangles, anti-aliased polylines, text in any colour.
 *
 * Lines are drawn by coverage: a pixel's share of a stroke of width w is clamp(w/2 + ½ − d, 0, 1), where d is
 * the distance from the pixel's centre to the segment. A polyline first collects the largest coverage of each
 * pixel over all its segments, then blends once, so joints and overlapping segments of a faint curve do not
 * darken where they overlap.
 *
 * Text uses jimp's bundled bitmap fonts (Open Sans, black), loaded from node_modules without network; other
 * colours are made by printing into a transparent layer and recolouring it.
 */
import { Jimp, loadFont, measureText, type JimpInstance } from 'jimp'
import { SANS_12_BLACK, SANS_14_BLACK, SANS_16_BLACK } from 'jimp/fonts'

export type Rgb = readonly [number, number, number]
export type Font = Awaited<ReturnType<typeof loadFont>>

export const WHITE: Rgb = [255, 255, 255]
export const BLACK: Rgb = [0, 0, 0]

/** A w×h image filled with one colour. */
export const blank = (width: number, height: number, rgb: Rgb = WHITE): JimpInstance =>
  new Jimp({ width, height, color: ((rgb[0] << 24) | (rgb[1] << 16) | (rgb[2] << 8) | 0xff) >>> 0 }) as JimpInstance

/** Mix `rgb` into pixel (x, y) with weight alpha ∈ [0, 1]; outside the image nothing happens. */
export function blend(img: JimpInstance, x: number, y: number, rgb: Rgb, alpha = 1): void {
  const { width, height, data } = img.bitmap
  if (x < 0 || y < 0 || x >= width || y >= height || alpha <= 0) return
  const a = Math.min(1, alpha), at = 4 * (y * width + x)
  for (let c = 0; c < 3; c++) data[at + c] = Math.round(data[at + c]! * (1 - a) + rgb[c]! * a)
  data[at + 3] = 255
}

export function fillRect(img: JimpInstance, x: number, y: number, w: number, h: number, rgb: Rgb, alpha = 1): void {
  for (let j = Math.max(0, Math.floor(y)); j < Math.min(img.bitmap.height, Math.ceil(y + h)); j++)
    for (let i = Math.max(0, Math.floor(x)); i < Math.min(img.bitmap.width, Math.ceil(x + w)); i++) blend(img, i, j, rgb, alpha)
}

/** A one-pixel rectangle outline. */
export function strokeRect(img: JimpInstance, x: number, y: number, w: number, h: number, rgb: Rgb, alpha = 1): void {
  fillRect(img, x, y, w, 1, rgb, alpha), fillRect(img, x, y + h - 1, w, 1, rgb, alpha)
  fillRect(img, x, y + 1, 1, h - 2, rgb, alpha), fillRect(img, x + w - 1, y + 1, 1, h - 2, rgb, alpha)
}

export interface Stroke {
  readonly rgb: Rgb
  /** line width in pixels (default 1.5) */
  readonly width?: number
  /** opacity (default 1) */
  readonly alpha?: number
  /** draw only inside this rectangle [x, y, w, h] */
  readonly clip?: readonly [number, number, number, number]
}

/** Distance from (px, py) to the segment (x0, y0)–(x1, y1). */
const segmentDistance = (px: number, py: number, x0: number, y0: number, x1: number, y1: number): number => {
  const dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - x0) * dx + (py - y0) * dy) / len2))
  return Math.hypot(px - (x0 + t * dx), py - (y0 + t * dy))
}

/** An anti-aliased polyline through points given in pixel coordinates (pixel (i, j) has its centre at i + ½, j + ½). */
export function polyline(img: JimpInstance, points: readonly (readonly [number, number])[], s: Stroke): void {
  const { width: W, height: H } = img.bitmap
  const [cx, cy, cw, ch] = s.clip ?? [0, 0, W, H]
  const x0 = Math.max(0, Math.floor(cx)), y0 = Math.max(0, Math.floor(cy))
  const x1 = Math.min(W, Math.ceil(cx + cw)), y1 = Math.min(H, Math.ceil(cy + ch))
  if (x1 <= x0 || y1 <= y0 || points.length === 0) return
  const half = (s.width ?? 1.5) / 2, reach = half + 1
  const cover = new Float32Array((x1 - x0) * (y1 - y0))
  // a single point is a segment of length zero: a dot
  const segments = points.length === 1 ? [[points[0]!, points[0]!]] : points.slice(1).map((b, k) => [points[k]!, b])
  for (const [[ax, ay], [bx, by]] of segments) {
    const i0 = Math.max(x0, Math.floor(Math.min(ax, bx) - reach)), i1 = Math.min(x1 - 1, Math.ceil(Math.max(ax, bx) + reach))
    const j0 = Math.max(y0, Math.floor(Math.min(ay, by) - reach)), j1 = Math.min(y1 - 1, Math.ceil(Math.max(ay, by) + reach))
    for (let j = j0; j <= j1; j++)
      for (let i = i0; i <= i1; i++) {
        const c = Math.min(1, Math.max(0, half + 0.5 - segmentDistance(i + 0.5, j + 0.5, ax, ay, bx, by)))
        const at = (j - y0) * (x1 - x0) + (i - x0)
        if (c > cover[at]!) cover[at] = c
      }
  }
  const alpha = s.alpha ?? 1
  for (let j = y0; j < y1; j++) for (let i = x0; i < x1; i++) {
    const c = cover[(j - y0) * (x1 - x0) + (i - x0)]!
    if (c > 0) blend(img, i, j, s.rgb, c * alpha)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// text
// ---------------------------------------------------------------------------------------------------------------

export interface Fonts {
  readonly small: Font // tick labels, legends
  readonly normal: Font // captions
  readonly title: Font
}

let cached: Promise<Fonts> | undefined

/** jimp's bundled Open Sans at 12, 14 and 16 px (loaded once). */
export const fonts = (): Promise<Fonts> =>
  (cached ??= Promise.all([loadFont(SANS_12_BLACK), loadFont(SANS_14_BLACK), loadFont(SANS_16_BLACK)]).then(([small, normal, title]) => ({ small, normal, title })))

/** The fonts hold printable ASCII only: anything else becomes '?'. */
export const printable = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?')

export const textWidth = (font: Font, s: string): number => measureText(font, printable(s))
export const lineHeight = (font: Font): number => font.common.lineHeight

export interface TextOptions {
  readonly rgb?: Rgb
  /** x is the left edge, the centre or the right edge of the text */
  readonly align?: 'left' | 'center' | 'right'
  /** turned 90° counter-clockwise (reads bottom to top), centred on (x, y) */
  readonly vertical?: boolean
}

/** One line of text whose top-left corner (for align 'left') is at (x, y). */
export function text(img: JimpInstance, font: Font, x: number, y: number, s: string, o: TextOptions = {}): void {
  const str = printable(s)
  if (str.trim() === '') return
  const w = textWidth(font, str) + 2, h = lineHeight(font) + 2
  const layer = new Jimp({ width: w, height: h, color: 0x00000000 }) as JimpInstance
  layer.print({ font, x: 0, y: 0, text: str })
  const rgb = o.rgb ?? BLACK
  const d = layer.bitmap.data
  for (let k = 0; k < d.length; k += 4) (d[k] = rgb[0]), (d[k + 1] = rgb[1]), (d[k + 2] = rgb[2])
  if (o.vertical) {
    layer.rotate(90)
    img.composite(layer, Math.round(x - layer.bitmap.width / 2), Math.round(y - layer.bitmap.height / 2))
    return
  }
  const left = o.align === 'center' ? x - w / 2 : o.align === 'right' ? x - w : x
  img.composite(layer, Math.round(left), Math.round(y))
}

/** Greedy word wrap at `maxWidth` pixels. */
export function wrap(font: Font, s: string, maxWidth: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of printable(s).split(/\s+/).filter((w) => w !== '')) {
    const next = line === '' ? word : `${line} ${word}`
    if (line !== '' && textWidth(font, next) > maxWidth) lines.push(line), (line = word)
    else line = next
  }
  if (line !== '') lines.push(line)
  return lines
}

export const toPng = (img: JimpInstance): Promise<Buffer> => img.getBuffer('image/png')
