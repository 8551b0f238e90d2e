/**
 * Scenes of the synthetic world: a few coloured shapes on a dark, lightly textured background.
 *
 * A scene is a plain value fully determined by its seed. Geometry is resolution-free: an object's centre (x, y)
 * and its half-extent `half` are fractions of the image side, x to the right and y downwards, so (0, 0) is the
 * top left corner. The object's bounding box is [x − half, x + half] × [y − half, y + half] and always lies
 * inside the image. Bounding boxes lie on a GRID × GRID lattice of cells, the tiny model's patch grid (4 px at
 * 32): a small object covers 2×2 cells (8 px), a large one 3×3 (12 px). A ViT with 4-px patches learns shape
 * from scratch within the pipeline's budget only when a shape's pixels fall the same way into patches each
 * time: with free sub-patch placement, a supervised tiny ViT stayed at chance on five shapes after 300 × 16
 * examples (it learnt colour in 50 steps); on the lattice it reaches 99% in 200 steps.
 *
 * Seeds encode the split (`seed mod 4`), so training and held-out scenes never share a seed; on top of that a
 * scene's content fingerprint decides which side may use it (even: train, odd: held out), so no held-out
 * scene is identical to a training scene either.
 */
import { Jimp, type JimpInstance } from 'jimp'
import * as TE from 'fp-ts/lib/TaskEither.js'
import * as Random from './random.ts'

// -------------------------------------------------------------------------------------------------------------
// vocabulary
// -------------------------------------------------------------------------------------------------------------

export const SHAPES = ['circle', 'square', 'triangle', 'star', 'cross'] as const
export type Shape = (typeof SHAPES)[number]

export const COLORS = ['red', 'orange', 'yellow', 'green', 'blue', 'purple', 'white', 'gray'] as const
export type Color = (typeof COLORS)[number]

export const SIZES = ['small', 'large'] as const
export type Size = (typeof SIZES)[number]

/** Object colours in linear [0, 1] RGB, chosen to stay apart from each other and from every background. */
export const PALETTE: Readonly<Record<Color, readonly [number, number, number]>> = {
  red: [0.88, 0.12, 0.12],
  orange: [1.0, 0.56, 0.05],
  yellow: [0.96, 0.9, 0.16],
  green: [0.16, 0.74, 0.24],
  blue: [0.2, 0.4, 1.0],
  purple: [0.62, 0.26, 0.88],
  white: [0.96, 0.96, 0.96],
  gray: [0.56, 0.56, 0.56],
}

export const PATTERNS = ['plain', 'checker', 'stripes'] as const
export type Pattern = (typeof PATTERNS)[number]

export const TONES = ['black', 'slate', 'brown'] as const
export type Tone = (typeof TONES)[number]

const TONE_RGB: Readonly<Record<Tone, readonly [number, number, number]>> = {
  black: [0.07, 0.07, 0.08],
  slate: [0.15, 0.18, 0.23],
  brown: [0.22, 0.16, 0.11],
}

/** Cells per side of the lattice objects sit on. */
export const GRID = 8

/** Half-extents (fractions of the side) of small and large objects: 2 and 3 cells across (8 and 12 px at 32). */
export const HALF: Readonly<Record<Size, number>> = {
  small: 1 / GRID,
  large: 1.5 / GRID,
}

// -------------------------------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------------------------------

export interface SceneObject {
  readonly shape: Shape
  readonly color: Color
  readonly size: Size
  /** Centre, fractions of the side; x to the right, y downwards. */
  readonly x: number
  readonly y: number
  /** Half the side of the bounding box, fraction of the image side. */
  readonly half: number
  /** Brightness offset added to the palette colour, in [−0.04, 0.04]. */
  readonly tint: number
}

export interface Background {
  readonly pattern: Pattern
  readonly tone: Tone
}

export interface Scene {
  readonly seed: number
  readonly background: Background
  readonly objects: readonly SceneObject[]
}

export type Split = 'train' | 'eval' | 'fine'
const SPLIT_TAG: Readonly<Record<Split, number>> = { train: 0, eval: 1, fine: 2 }
const MAX_INDEX = 2 ** 29 // seeds stay below 2³¹, so they survive the int32 conversion in Random.hash

/** The seed of the `index`-th scene of a split: index · 4 + tag, so the splits' seed sets are disjoint. */
export const seedOf = (split: Split, index: number): number => {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_INDEX) throw new RangeError(`scene index must be an integer in [0, 2^29), got ${index}`)
  return index * 4 + SPLIT_TAG[split]
}

/** The split a seed belongs to. */
export const splitOf = (seed: number): Split => (['train', 'eval', 'fine', 'train'] as const)[seed & 3]

/** The `index`-th scene of a split. */
export const sceneAt = (split: Split, index: number): Scene => generate(seedOf(split, index))

// -------------------------------------------------------------------------------------------------------------
// geometry helpers shared with the language generator
// -------------------------------------------------------------------------------------------------------------

/** Thirds of the image: 0 = left/top, 1 = centre, 2 = right/bottom. */
export type Third = 0 | 1 | 2
const third = (t: number): Third => (t < 1 / 3 ? 0 : t < 2 / 3 ? 1 : 2)

/** Column and row of the 3×3 grid that holds the object's centre. */
export const cell = (o: SceneObject): { readonly col: Third; readonly row: Third } => ({ col: third(o.x), row: third(o.y) })

/** Centres keep this distance from the third lines, so the cell of every object is unambiguous (≈ 1.3 px at 32). */
export const THIRD_MARGIN = 0.04

/** Distance (fraction of the side) under which an object "touches" an image border: 1.5 px at 32. */
export const EDGE_TOUCH = 1.5 / 32

/** Which borders the object's bounding box touches. */
export const touches = (o: SceneObject): { readonly left: boolean; readonly right: boolean; readonly top: boolean; readonly bottom: boolean } => ({
  left: o.x - o.half <= EDGE_TOUCH,
  right: 1 - (o.x + o.half) <= EDGE_TOUCH,
  top: o.y - o.half <= EDGE_TOUCH,
  bottom: 1 - (o.y + o.half) <= EDGE_TOUCH,
})

export const atEdge = (o: SceneObject): boolean => {
  const t = touches(o)
  return t.left || t.right || t.top || t.bottom
}

/** Shapes fill this fraction of their bounding box (around its centre): neighbours on the lattice keep ≥ 1 px between them. */
export const INSET = 0.85

/** Chebyshev separation test of two bounding boxes: they may touch, not overlap (shapes fill an INSET of their box). */
export const apart = (a: Pick<SceneObject, 'x' | 'y' | 'half'>, b: Pick<SceneObject, 'x' | 'y' | 'half'>): boolean =>
  Math.max(Math.abs(a.x - b.x), Math.abs(a.y - b.y)) >= a.half + b.half

// -------------------------------------------------------------------------------------------------------------
// generation
// -------------------------------------------------------------------------------------------------------------

export interface GenOptions {
  /** Number of objects drawn uniformly from [minObjects, maxObjects] (fewer if placement fails). */
  readonly minObjects: number
  readonly maxObjects: number
  /** Probability that an object is small. */
  readonly pSmall: number
  /** Probability that an object is pushed against a border (half of those into a corner). */
  readonly pEdge: number
}

/** Per split: the fine-grained split has more small objects and more objects on borders and corners. */
export const GEN_OPTIONS: Readonly<Record<Split, GenOptions>> = {
  // on the 8×8 lattice most objects touch a border by chance alone (71% of the eval split's)
  train: { minObjects: 1, maxObjects: 6, pSmall: 0.5, pEdge: 0 },
  eval: { minObjects: 1, maxObjects: 6, pSmall: 0.5, pEdge: 0 },
  fine: { minObjects: 2, maxObjects: 6, pSmall: 0.75, pEdge: 0.75 },
}

const PLACE_ATTEMPTS = 60

/** A centre coordinate for an object of half-extent h on the lattice: anywhere, or against the low or the high border. */
const coordinate = (rng: Random.Stream, h: number, mode: 'free' | 'low' | 'high'): number => {
  const cells = Math.round(2 * h * GRID), last = GRID - cells // the first cell of the box is in [0, last]
  const first = mode === 'low' ? 0 : mode === 'high' ? last : rng.int(0, last)
  return (first + cells / 2) / GRID
}

const nearThirdLine = (t: number): boolean => Math.abs(t - 1 / 3) < THIRD_MARGIN || Math.abs(t - 2 / 3) < THIRD_MARGIN

/** Tries to place an object of half-extent h next to the placed ones; undefined when no spot was found. */
const place = (rng: Random.Stream, h: number, placed: readonly SceneObject[], pEdge: number): { x: number; y: number } | undefined => {
  for (let attempt = 0; attempt < PLACE_ATTEMPTS; attempt++) {
    let mx: 'free' | 'low' | 'high' = 'free'
    let my: 'free' | 'low' | 'high' = 'free'
    if (rng.chance(pEdge)) {
      const side = (): 'low' | 'high' => (rng.chance(0.5) ? 'low' : 'high')
      if (rng.chance(0.5)) [mx, my] = [side(), side()] // corner
      else if (rng.chance(0.5)) mx = side()
      else my = side()
    }
    const x = coordinate(rng, h, mx)
    const y = coordinate(rng, h, my)
    if (nearThirdLine(x) || nearThirdLine(y)) continue
    if (placed.every((o) => apart({ x, y, half: h }, o))) return { x, y }
  }
  return undefined
}

const sample = (seed: number, opts: GenOptions): Scene => {
  const rng = Random.stream(seed)
  const background: Background = { pattern: rng.pick(PATTERNS), tone: rng.pick(TONES) }
  const n = rng.int(opts.minObjects, opts.maxObjects)
  const objects: SceneObject[] = []
  for (let i = 0; i < n; i++) {
    const shape = rng.pick(SHAPES)
    const color = rng.pick(COLORS)
    const tint = rng.uniform(-0.04, 0.04)
    // A large object that does not fit is retried as a small one; an object that fits nowhere is dropped.
    const sizes: readonly Size[] = rng.chance(opts.pSmall) ? ['small'] : ['large', 'small']
    for (const size of sizes) {
      const half = HALF[size]
      const at = place(rng, half, objects, opts.pEdge)
      if (at) {
        objects.push({ shape, color, size, x: at.x, y: at.y, half, tint })
        break
      }
    }
  }
  return { seed, background, objects }
}

/** A canonical description of what a scene shows (positions to 1/64), independent of its seed. */
export const contentKey = (s: Scene): string => {
  const q = (t: number) => Math.round(t * 64)
  const objs = s.objects.map((o) => `${o.shape},${o.color},${o.size},${q(o.x)},${q(o.y)}`).sort()
  return `${s.background.pattern},${s.background.tone};${objs.join(';')}`
}

/** Held-out content: the fingerprint is odd. Training scenes have even fingerprints. */
export const isHeldOutContent = (s: Scene): boolean => (Random.hashString(contentKey(s)) & 1) === 1

/**
 * The scene of a seed. The split comes from the seed (`splitOf`); sampling is retried with derived seeds until
 * the content lands on the split's side of the fingerprint partition (two tries on average).
 */
export const generate = (seed: number): Scene => {
  const split = splitOf(seed)
  const wantHeldOut = split !== 'train'
  for (let attempt = 0; ; attempt++) {
    const s = sample(Random.hash(seed, attempt), GEN_OPTIONS[split])
    if (isHeldOutContent(s) === wantHeldOut) return { ...s, seed }
  }
}

// -------------------------------------------------------------------------------------------------------------
// rasterisation
// -------------------------------------------------------------------------------------------------------------

/** A polygon as flat [u0, v0, u1, v1, …] in the object's local frame. */
type Polygon = readonly number[]

/** Five-pointed star, point up: outer radius 1, inner radius 0.45 (fatter than regular so it survives at 5 px). */
const STAR: Polygon = Array.from({ length: 10 }, (_, k) => {
  const r = k % 2 === 0 ? 1 : 0.45
  const a = -Math.PI / 2 + (k * Math.PI) / 5
  return [r * Math.cos(a), r * Math.sin(a) + 0.09] // + 0.09 centres the star's vertical extent [−1, 0.81]
}).flat()

/** Even–odd ray casting: count crossings of the ray from (u, v) towards +u. */
const inPolygon = (poly: Polygon, u: number, v: number): boolean => {
  let inside = false
  const n = poly.length / 2
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const ui = poly[2 * i], vi = poly[2 * i + 1], uj = poly[2 * j], vj = poly[2 * j + 1]
    if (vi > v !== vj > v && u < ((uj - ui) * (v - vi)) / (vj - vi) + ui) inside = !inside
  }
  return inside
}

/**
 * Point-in-shape in the local frame: u = (px − x) / half, v = (py − y) / half, so the bounding box is [−1, 1]².
 * v grows downwards, so the triangle's apex is at v = −1.
 */
export const inside = (shape: Shape, u: number, v: number): boolean => {
  switch (shape) {
    case 'circle':
      return u * u + v * v <= 1
    case 'square':
      return Math.abs(u) <= 0.88 && Math.abs(v) <= 0.88 // area ≈ the circle's
    case 'triangle':
      return v <= 1 && Math.abs(u) <= (v + 1) / 2
    case 'star':
      return inPolygon(STAR, u, v)
    case 'cross':
      return (Math.abs(u) <= 0.34 && Math.abs(v) <= 1) || (Math.abs(v) <= 0.34 && Math.abs(u) <= 1)
  }
}

const clamp01 = (t: number): number => (t < 0 ? 0 : t > 1 ? 1 : t)
const toByte = (t: number): number => Math.round(clamp01(t) * 255)

/** Background brightness texture at (px, py) ∈ [0, 1]²: cells and stripes are 1/8 of the side (4 px at 32). */
const texture = (pattern: Pattern, px: number, py: number): number => {
  switch (pattern) {
    case 'plain':
      return 0
    case 'checker':
      return ((Math.floor(px * 8) + Math.floor(py * 8)) & 1) === 0 ? 0.025 : -0.025
    case 'stripes':
      return (Math.floor((px + py) * 8) & 1) === 0 ? 0.025 : -0.025
  }
}

/**
 * Hard-edged RGBA raster of `side`×`side` pixels, row-major, 4 bytes per pixel. Pixel (i, j) (row i, column j)
 * is sampled at its centre ((j + ½) / side, (i + ½) / side); each object only visits its bounding box.
 */
export const rasterize = (scene: Scene, side: number): Uint8Array => {
  const out = new Uint8Array(side * side * 4)
  const [br, bg, bb] = TONE_RGB[scene.background.tone]
  for (let i = 0; i < side; i++) {
    for (let j = 0; j < side; j++) {
      const t = texture(scene.background.pattern, (j + 0.5) / side, (i + 0.5) / side)
      const p = (i * side + j) * 4
      out[p] = toByte(br + t)
      out[p + 1] = toByte(bg + t)
      out[p + 2] = toByte(bb + t)
      out[p + 3] = 255
    }
  }
  for (const o of scene.objects) {
    const [r, g, b] = PALETTE[o.color].map((c) => toByte(c + o.tint))
    forEachPixel(o, side, (i, j) => {
      const p = (i * side + j) * 4
      out[p] = r
      out[p + 1] = g
      out[p + 2] = b
    })
  }
  return out
}

/** Calls `visit(i, j)` for every pixel (row i, column j) of a `side`×`side` raster that object o covers; only its bounding box is visited. */
const forEachPixel = (o: SceneObject, side: number, visit: (i: number, j: number) => void): void => {
  const i0 = Math.max(0, Math.floor((o.y - o.half) * side)), i1 = Math.min(side - 1, Math.ceil((o.y + o.half) * side))
  const j0 = Math.max(0, Math.floor((o.x - o.half) * side)), j1 = Math.min(side - 1, Math.ceil((o.x + o.half) * side))
  for (let i = i0; i <= i1; i++) {
    const v = ((i + 0.5) / side - o.y) / (o.half * INSET)
    for (let j = j0; j <= j1; j++) if (inside(o.shape, ((j + 0.5) / side - o.x) / (o.half * INSET), v)) visit(i, j)
  }
}

/**
 * The cells of the GRID × GRID lattice (row-major: the tiny model's patches) that hold any of object o's pixels,
 * drawn at 16 pixels per cell (as `toJimp` draws a 32-px scene before shrinking it).
 */
export const cellsOf = (o: SceneObject): Set<number> => {
  const per = 16, side = GRID * per, cells = new Set<number>()
  forEachPixel(o, side, (i, j) => cells.add(Math.floor(i / per) * GRID + Math.floor(j / per)))
  return cells
}

/** Supersampling factor: shapes are rasterised at 4× and box-filtered down, which smooths their edges. */
export const SUPERSAMPLE = 4

/** The scene as a jimp image of `size`×`size`: rasterised at SUPERSAMPLE× then shrunk by jimp's area-averaging resize. */
export const toJimp = (scene: Scene, size = 32): JimpInstance => {
  const side = size * SUPERSAMPLE
  const image = Jimp.fromBitmap({ data: Buffer.from(rasterize(scene, side).buffer), width: side, height: side })
  return image.resize({ w: size, h: size }) as JimpInstance
}

/** RGBA bytes (as jimp stores them) → RGB floats in [0, 1], (H, W, 3) row-major. */
export const rgbaToFloat = (rgba: Uint8Array, pixels: number): Float32Array => {
  const out = new Float32Array(pixels * 3)
  for (let k = 0; k < pixels; k++) {
    out[3 * k] = rgba[4 * k] / 255
    out[3 * k + 1] = rgba[4 * k + 1] / 255
    out[3 * k + 2] = rgba[4 * k + 2] / 255
  }
  return out
}

/** The scene's pixels: Float32Array of shape (size, size, 3), values in [0, 1]. */
export const render = (scene: Scene, size = 32): Float32Array => rgbaToFloat(toJimp(scene, size).bitmap.data, size * size)

/** Writes the scene as a `size`×`size` PNG, for looking at. */
export const writeScenePng = (scene: Scene, path: string, size = 32): TE.TaskEither<string, void> =>
  TE.tryCatch(
    () => toJimp(scene, size).write(path as `${string}.png`),
    (e) => `cannot write scene PNG "${path}": ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
  )
