/**
 * Loss curves from JSON-lines training logs: one panel per stage, the loss and each of its terms over steps,
 * smoothed by an exponential moving average with the raw curve drawn faint behind it.
 *
 *   parseLog(text) ─► records ─► series per stage ─► curvesPng ─► PNG bytes
 *
 * A resumed stage appends to its log, so a step may appear twice: the later record wins.
 */
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { pipe } from 'fp-ts/lib/function.js'
import { readFile } from 'node:fs/promises'
import type { JimpInstance } from 'jimp'
import type { StepRecord } from '../train/loop.ts'
import * as Canvas from './canvas.ts'

// ---------------------------------------------------------------------------------------------------------------
// logs
// ---------------------------------------------------------------------------------------------------------------

export type LogRecord = StepRecord<unknown>

const isObject = (v: unknown): v is { readonly [k: string]: unknown } => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * The records of a JSON-lines log. Blank lines are skipped; so is a last line cut short (a run killed while
 * writing it). Anything else that is not a step record is an error naming the line.
 */
export function parseLog(text: string, source = 'log'): E.Either<string, LogRecord[]> {
  const lines = text.split('\n')
  const out: LogRecord[] = []
  for (const [k, line] of lines.entries()) {
    if (line.trim() === '') continue
    let v: unknown
    try {
      v = JSON.parse(line)
    } catch {
      if (k === lines.length - 1) break // unterminated last line
      return E.left(`${source}:${k + 1}: not JSON`)
    }
    if (!isObject(v) || typeof v.stage !== 'string' || typeof v.step !== 'number' || typeof v.loss !== 'number')
      return E.left(`${source}:${k + 1}: expected a step record with "stage", "step" and "loss"`)
    out.push(v as unknown as LogRecord)
  }
  return E.right(out)
}

export const readLog = (path: string): TE.TaskEither<string, LogRecord[]> =>
  pipe(
    TE.tryCatch(
      () => readFile(path, 'utf8'),
      (e) => `cannot read log "${path}": ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(e)}`,
    ),
    TE.chainEitherK((text) => parseLog(text, path)),
  )

/** One named curve: steps and values, in step order. */
export interface Series {
  readonly name: string
  readonly steps: readonly number[]
  readonly values: readonly number[]
}

export interface Panel {
  readonly stage: string
  /** the loss first, then each term */
  readonly series: readonly Series[]
}

/** Numeric leaves of a record's terms, with dotted names for nested objects. */
const termsOf = (terms: unknown, prefix = ''): [string, number][] =>
  isObject(terms)
    ? Object.entries(terms).flatMap(([k, v]) => (typeof v === 'number' ? [[prefix + k, v] as [string, number]] : termsOf(v, `${prefix}${k}.`)))
    : []

/** Records grouped by stage (in order of first appearance), one series for the loss and one per term. */
export function panelsOf(records: readonly LogRecord[]): Panel[] {
  const byStage = new Map<string, Map<number, LogRecord>>()
  for (const r of records) {
    const steps = byStage.get(r.stage) ?? new Map<number, LogRecord>()
    steps.set(r.step, r) // a later record of the same step replaces the earlier one
    byStage.set(r.stage, steps)
  }
  return [...byStage].map(([stage, steps]) => {
    const rs = [...steps.values()].sort((a, b) => a.step - b.step)
    const names = [...new Set(rs.flatMap((r) => termsOf(r.terms).map(([n]) => n)))]
    const series = (name: string, value: (r: LogRecord) => number | undefined): Series => {
      const kept = rs.flatMap((r) => { const v = value(r); return v !== undefined && Number.isFinite(v) ? [[r.step, v] as const] : [] })
      return { name, steps: kept.map(([s]) => s), values: kept.map(([, v]) => v) }
    }
    return {
      stage,
      series: [series('loss', (r) => r.loss), ...names.map((n) => series(n, (r) => termsOf(r.terms).find(([m]) => m === n)?.[1]))],
    }
  })
}

/**
 * Exponential moving average with TensorBoard's debiasing: m_k = β m_{k−1} + (1 − β) x_k, shown as m_k / (1 − β^k),
 * so the first values are not pulled towards zero. β = 0 returns the input.
 */
export function ema(values: readonly number[], beta: number): number[] {
  let m = 0
  return values.map((x, k) => {
    m = beta * m + (1 - beta) * x
    return beta === 0 ? x : m / (1 - beta ** (k + 1))
  })
}

// ---------------------------------------------------------------------------------------------------------------
// axes
// ---------------------------------------------------------------------------------------------------------------

/** About `n` round tick values (1, 2 or 5 times a power of ten apart) inside [lo, hi]; whole numbers only if `integer`. */
export function ticks(lo: number, hi: number, n = 5, integer = false): number[] {
  if (!(hi > lo)) return [lo]
  const power = 10 ** Math.floor(Math.log10((hi - lo) / Math.max(1, n - 1)))
  const fits = (step: number) => Math.floor(hi / step + 1e-9) - Math.ceil(lo / step - 1e-9) + 1
  // the candidate spacing whose tick count is closest to n (the wider one on a tie)
  const step = [0.5, 1, 2, 5, 10].map((m) => m * power).filter((s) => !integer || s >= 1)
    .reduce((best, s) => (Math.abs(fits(s) - n) <= Math.abs(fits(best) - n) ? s : best), integer ? Math.max(1, 10 * power) : 10 * power)
  const out: number[] = []
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(k === 0 ? 0 : +(k * step).toPrecision(12))
  return out
}

/** A tick label with as many decimals as the spacing needs. */
export function tickLabel(v: number, spacing: number): string {
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(spacing) + 1e-9)))
  if (Math.abs(v) >= 1e5) return `${+(v / 1000).toFixed(Math.max(0, decimals - 3))}k`
  return v.toFixed(decimals)
}

/** [lo, hi] of the values with a margin of 5% (or ±1 around a constant). */
const range = (values: readonly number[]): [number, number] => {
  const lo = Math.min(...values), hi = Math.max(...values)
  if (!(hi > lo)) return [lo - (Math.abs(lo) || 1) * 0.1, hi + (Math.abs(hi) || 1) * 0.1]
  const pad = (hi - lo) * 0.05
  return [lo - pad, hi + pad]
}

// ---------------------------------------------------------------------------------------------------------------
// drawing
// ---------------------------------------------------------------------------------------------------------------

/** Colours for the loss and its terms (the loss is always the first). */
export const PALETTE: readonly Canvas.Rgb[] = [
  [31, 119, 180], [214, 39, 40], [44, 160, 44], [255, 127, 14], [148, 103, 189], [140, 86, 75], [227, 119, 194], [23, 190, 207],
]

export interface Options {
  /** EMA factor β ∈ [0, 1): 0 draws the raw curves only (default 0.6) */
  readonly smooth?: number
  readonly title?: string
  readonly panelWidth?: number // default 520
  readonly panelHeight?: number // default 320
  /** panels per row (default: up to 3) */
  readonly columns?: number
}

export const TITLE_HEIGHT = 34

/** The picture's size for n panels. */
export function size(n: number, o: Options = {}): { width: number; height: number; columns: number } {
  const columns = Math.max(1, Math.min(o.columns ?? 3, n))
  const rows = Math.max(1, Math.ceil(n / columns))
  return { width: columns * (o.panelWidth ?? 520), height: TITLE_HEIGHT + rows * (o.panelHeight ?? 320), columns }
}

const GRID: Canvas.Rgb = [228, 228, 228]
const AXIS: Canvas.Rgb = [90, 90, 90]

export const LEGEND_ROW = 16

/**
 * The plot area [left, top, right, bottom] of a panel box [x, y, w, h]: room for the title and `legendRows` rows
 * of legend above, tick labels and axis titles left and below.
 */
export const plotArea = ([bx, by, bw, bh]: readonly [number, number, number, number], legendRows = 1): [number, number, number, number] =>
  [bx + 68, by + 30 + legendRows * LEGEND_ROW, bx + bw - 16, by + bh - 46]

/** Legend entries laid out in rows that fit `width`: [row, x offset] of each. */
const legendLayout = (widths: readonly number[], width: number): [number, number][] => {
  let row = 0, x = 0
  return widths.map((w) => {
    if (x > 0 && x + w > width) row++, (x = 0)
    const at: [number, number] = [row, x]
    x += w + 14
    return at
  })
}

/** One stage's panel, drawn into the box (x, y, w, h). */
function drawPanel(img: JimpInstance, f: Canvas.Fonts, panel: Panel, box: readonly [number, number, number, number], beta: number): void {
  const [bx, by, bw] = box
  Canvas.text(img, f.title, bx + bw / 2, by + 4, panel.stage, { align: 'center' })
  const drawn = panel.series.filter((s) => s.values.length > 0)
  const smoothed = drawn.map((s) => ema(s.values, beta))
  // legend above the plot, each entry with its last smoothed value
  const entries = drawn.map((s, k) => `${s.name}  ${smoothed[k]!.at(-1)!.toPrecision(4)}`)
  const placed = legendLayout(entries.map((e) => 26 + Canvas.textWidth(f.small, e)), plotArea(box)[2] - plotArea(box)[0])
  const [left, top, right, bottom] = plotArea(box, Math.max(1, ...placed.map(([r]) => r + 1)))
  const pw = right - left, ph = bottom - top
  if (drawn.length === 0) {
    Canvas.text(img, f.normal, bx + bw / 2, top + ph / 2 - 8, 'no finite values', { align: 'center', rgb: AXIS })
    return
  }
  const allSteps = drawn.flatMap((s) => s.steps)
  const [x0, x1] = [Math.min(...allSteps), Math.max(...allSteps)]
  const xr: [number, number] = x1 > x0 ? [x0, x1] : [x0 - 1, x1 + 1]
  const [y0, y1] = range(drawn.flatMap((s) => s.values))
  const px = (step: number) => left + ((step - xr[0]) / (xr[1] - xr[0])) * pw
  const py = (v: number) => bottom - ((v - y0) / (y1 - y0)) * ph

  // grid and tick labels
  const yt = ticks(y0, y1, Math.max(3, Math.round(ph / 50)))
  const ySpacing = yt.length > 1 ? yt[1]! - yt[0]! : Math.abs(y0) || 1
  for (const v of yt) {
    const y = Math.round(py(v))
    Canvas.fillRect(img, left, y, pw, 1, GRID)
    Canvas.text(img, f.small, left - 6, y - 8, tickLabel(v, ySpacing), { align: 'right', rgb: AXIS })
  }
  const xt = ticks(xr[0], xr[1], Math.max(3, Math.round(pw / 90)), true)
  const xSpacing = xt.length > 1 ? xt[1]! - xt[0]! : 1
  for (const v of xt) {
    const x = Math.round(px(v))
    Canvas.fillRect(img, x, top, 1, ph, GRID)
    Canvas.fillRect(img, x, bottom, 1, 4, AXIS)
    Canvas.text(img, f.small, x, bottom + 6, tickLabel(v, xSpacing), { align: 'center', rgb: AXIS })
  }
  Canvas.fillRect(img, left, bottom, pw, 1, AXIS)
  Canvas.fillRect(img, left - 1, top, 1, ph + 1, AXIS)
  Canvas.text(img, f.small, left + pw / 2, bottom + 24, 'step', { align: 'center', rgb: AXIS })
  Canvas.text(img, f.small, bx + 12, top + ph / 2, 'loss', { vertical: true, rgb: AXIS })

  // curves: raw faint underneath, smoothed on top; the loss last so it stays in front
  const clip = [left, top, pw, ph] as const
  const order = drawn.map((_, k) => k).reverse()
  const colour = (k: number) => PALETTE[panel.series.indexOf(drawn[k]!) % PALETTE.length]!
  const points = (s: Series, values: readonly number[]) => s.steps.map((st, i): [number, number] => [px(st), py(values[i]!)])
  if (beta > 0) for (const k of order) Canvas.polyline(img, points(drawn[k]!, drawn[k]!.values), { rgb: colour(k), width: 1, alpha: 0.25, clip })
  for (const k of order) Canvas.polyline(img, points(drawn[k]!, smoothed[k]!), { rgb: colour(k), width: drawn[k]!.values.length === 1 ? 7 : k === 0 ? 2 : 1.6, clip })

  entries.forEach((e, k) => {
    const [row, dx] = placed[k]!, x = left + dx, y = by + 26 + row * LEGEND_ROW
    Canvas.polyline(img, [[x, y + 8], [x + 20, y + 8]], { rgb: colour(k), width: 2.5 })
    Canvas.text(img, f.small, x + 25, y, e, { rgb: [40, 40, 40] })
  })
}

/** The PNG of the panels, laid out in rows. */
export async function curvesPng(panels: readonly Panel[], o: Options = {}): Promise<Buffer> {
  const beta = o.smooth ?? 0.6
  if (!(beta >= 0 && beta < 1)) throw new RangeError(`smoothing must be in [0, 1), got ${beta}`)
  const f = await Canvas.fonts()
  const { width, height, columns } = size(panels.length, o)
  const pw = o.panelWidth ?? 520, ph = o.panelHeight ?? 320
  const img = Canvas.blank(width, height)
  const subtitle = beta > 0 ? `  (EMA ${beta}, raw faint)` : ''
  Canvas.text(img, f.title, width / 2, 8, `${o.title ?? 'loss curves'}${subtitle}`, { align: 'center' })
  panels.forEach((panel, k) => drawPanel(img, f, panel, [(k % columns) * pw, TITLE_HEIGHT + Math.floor(k / columns) * ph, pw, ph], beta))
  return Canvas.toPng(img)
}
