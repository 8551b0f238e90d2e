/**
 * Language about scenes: captions, question–answer pairs by category, a text-only corpus, and the samples the
 * model trains and is evaluated on (lists of text, special and image segments built with the chat template).
 *
 * Every question has exactly one correct answer given the scene: objects are named by a referring expression
 * that matches exactly one object (else the question is skipped), spatial relations are only asked when the
 * centres are clearly apart, and multiple-choice options are distinct values of the answer's domain.
 * All randomness comes from seeds (Random.hash of a purpose tag and an index), so every function is pure.
 */
import * as Random from './random.ts'
import * as Scene from './scene.ts'
import * as Tokenizer from './tokenizer.ts'

type Obj = Scene.SceneObject

// -------------------------------------------------------------------------------------------------------------
// words
// -------------------------------------------------------------------------------------------------------------

export const PLURAL: Readonly<Record<Scene.Shape, string>> = {
  circle: 'circles',
  square: 'squares',
  triangle: 'triangles',
  star: 'stars',
  cross: 'crosses',
}

export const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'] as const

/** The 3×3 cells, row-major from the top left: answers to "where is …?". */
export const REGIONS = ['top left', 'top', 'top right', 'left', 'center', 'right', 'bottom left', 'bottom', 'bottom right'] as const
export type Region = (typeof REGIONS)[number]

/** How a caption places an object in each cell. */
const REGION_PHRASE: Readonly<Record<Region, string>> = {
  'top left': 'in the top left corner',
  top: 'at the top',
  'top right': 'in the top right corner',
  left: 'on the left',
  center: 'in the center',
  right: 'on the right',
  'bottom left': 'in the bottom left corner',
  bottom: 'at the bottom',
  'bottom right': 'in the bottom right corner',
}

export const region = (o: Obj): Region => {
  const { col, row } = Scene.cell(o)
  return REGIONS[row * 3 + col]
}

const article = (word: string): string => (/^[aeiou]/.test(word) ? 'an' : 'a')
const capitalise = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

/** "a, b and c" */
const list = (xs: readonly string[]): string => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`)

// -------------------------------------------------------------------------------------------------------------
// filters and referring expressions
// -------------------------------------------------------------------------------------------------------------

/** A set of objects described by attributes; an absent attribute matches anything. */
export interface Filter {
  readonly size?: Scene.Size
  readonly color?: Scene.Color
  readonly shape?: Scene.Shape
}

export const matches = (o: Obj, f: Filter): boolean =>
  (f.size === undefined || o.size === f.size) && (f.color === undefined || o.color === f.color) && (f.shape === undefined || o.shape === f.shape)

export const countOf = (s: Scene.Scene, f: Filter): number => s.objects.filter((o) => matches(o, f)).length

/** "small red circle", "red objects", "things" … in the fixed order size, colour, noun. */
export const phrase = (f: Filter, plural: boolean, noun: 'object' | 'thing' = 'object'): string => {
  const head = f.shape ? (plural ? PLURAL[f.shape] : f.shape) : plural ? `${noun}s` : noun
  return [f.size, f.color, head].filter((w) => w !== undefined).join(' ')
}

type Attr = 'size' | 'color'

/**
 * Referring expressions (always with the shape) that pick out exactly `target`, leaving out `forbid`
 * (a question about colour must not name the colour). Shortest first.
 */
export const uniqueRefs = (s: Scene.Scene, target: Obj, forbid: readonly Attr[] = []): Filter[] => {
  const candidates: Filter[] = [
    { shape: target.shape },
    { color: target.color, shape: target.shape },
    { size: target.size, shape: target.shape },
    { size: target.size, color: target.color, shape: target.shape },
  ]
  return candidates.filter((f) => !forbid.some((a) => f[a] !== undefined) && countOf(s, f) === 1)
}

/** A random unique reference to the target, or undefined when there is none. */
const refer = (s: Scene.Scene, rng: Random.Stream, target: Obj, forbid: readonly Attr[] = []): string | undefined => {
  const refs = uniqueRefs(s, target, forbid)
  return refs.length === 0 ? undefined : `the ${phrase(rng.pick(refs), false)}`
}

// -------------------------------------------------------------------------------------------------------------
// captions
// -------------------------------------------------------------------------------------------------------------

/** Objects in reading order: by cell row, then cell column, then x. */
const readingOrder = (objs: readonly Obj[]): Obj[] =>
  objs.slice().sort((a, b) => {
    const ca = Scene.cell(a), cb = Scene.cell(b)
    return ca.row - cb.row || ca.col - cb.col || a.x - b.x
  })

/**
 * One sentence naming every object with its size, colour, shape and cell, in reading order.
 *
 * @example
 * caption(scene) // 'A small red circle in the top left corner and a large blue square on the right.'
 */
export const caption = (s: Scene.Scene): string => {
  const parts = readingOrder(s.objects).map((o) => `${article(o.size)} ${o.size} ${o.color} ${o.shape} ${REGION_PHRASE[region(o)]}`)
  return `${capitalise(list(parts))}.`
}

// -------------------------------------------------------------------------------------------------------------
// questions
// -------------------------------------------------------------------------------------------------------------

export const CATEGORIES = ['color', 'position', 'count', 'existence', 'size', 'reasoning'] as const
export type Category = (typeof CATEGORIES)[number]
export type Form = 'open' | 'choice'

export interface QA {
  readonly category: Category
  /** The template: color, where, relation, count, exist-present, exist-absent-{color,shape,size,random}, size, subtract, same, more, same-pair, extreme. */
  readonly kind: string
  readonly form: Form
  readonly question: string
  /** One or two words, a number, yes/no, or (multiple choice) a letter. */
  readonly answer: string
}

/** An open question with the domain its answer comes from (for multiple-choice options). */
interface Open {
  readonly category: Category
  readonly kind: string
  readonly question: string
  readonly answer: string
  readonly domain: readonly string[]
}

const YES_NO = ['yes', 'no'] as const
const COUNTS = ['0', '1', '2', '3', '4', '5', '6'] as const
const yesNo = (b: boolean): string => (b ? 'yes' : 'no')

/** Centres must differ by this much (≈ 4 px at 32) before left/right/above/below is asked. */
export const RELATION_MARGIN = 0.12
/** The extreme object must lead the next one by this much before "the leftmost object" is asked. */
export const EXTREME_MARGIN = 0.1

/** Generators pick targets among `focus` objects when they can (the fine-grained set focuses small and edge objects). */
type Focus = (o: Obj) => boolean
type Gen = (s: Scene.Scene, rng: Random.Stream, focus: Focus) => Open | undefined

const targets = (s: Scene.Scene, focus: Focus): Obj[] => s.objects.filter(focus)

/** Tries each target in random order until the body returns a question. */
const firstOf = <A>(rng: Random.Stream, objs: readonly Obj[], body: (o: Obj) => A | undefined): A | undefined => {
  for (const o of rng.shuffle(objs)) {
    const q = body(o)
    if (q !== undefined) return q
  }
  return undefined
}

const askColor: Gen = (s, rng, focus) =>
  firstOf(rng, targets(s, focus), (o) => {
    const ref = refer(s, rng, o, ['color'])
    return ref === undefined ? undefined : { category: 'color', kind: 'color', question: `What color is ${ref}?`, answer: o.color, domain: Scene.COLORS }
  })

const askWhere: Gen = (s, rng, focus) =>
  firstOf(rng, targets(s, focus), (o) => {
    const ref = refer(s, rng, o)
    return ref === undefined ? undefined : { category: 'position', kind: 'where', question: `Where is ${ref}?`, answer: region(o), domain: REGIONS }
  })

const RELATIONS = [
  { words: 'to the left of', holds: (a: Obj, b: Obj) => a.x < b.x, gap: (a: Obj, b: Obj) => Math.abs(a.x - b.x) },
  { words: 'to the right of', holds: (a: Obj, b: Obj) => a.x > b.x, gap: (a: Obj, b: Obj) => Math.abs(a.x - b.x) },
  { words: 'above', holds: (a: Obj, b: Obj) => a.y < b.y, gap: (a: Obj, b: Obj) => Math.abs(a.y - b.y) },
  { words: 'below', holds: (a: Obj, b: Obj) => a.y > b.y, gap: (a: Obj, b: Obj) => Math.abs(a.y - b.y) },
] as const

const askRelation: Gen = (s, rng, focus) =>
  firstOf(rng, targets(s, focus), (a) =>
    firstOf(
      rng,
      s.objects.filter((b) => b !== a),
      (b) => {
        const rel = rng.shuffle(RELATIONS).find((r) => r.gap(a, b) >= RELATION_MARGIN)
        const ra = refer(s, rng, a), rb = refer(s, rng, b)
        if (!rel || !ra || !rb) return undefined
        return { category: 'position', kind: 'relation', question: `Is ${ra} ${rel.words} ${rb}?`, answer: yesNo(rel.holds(a, b)), domain: YES_NO }
      },
    ),
  )

/** A filter built from attributes of `o` (or, with `random`, of the vocabulary); never empty unless `allowEmpty`. */
const filterFrom = (rng: Random.Stream, o: Obj | undefined, allowEmpty: boolean): Filter => {
  const src = o ?? { shape: rng.pick(Scene.SHAPES), color: rng.pick(Scene.COLORS), size: rng.pick(Scene.SIZES) }
  const filters: Filter[] = [
    { shape: src.shape },
    { color: src.color, shape: src.shape },
    { color: src.color },
    { size: src.size },
    { size: src.size, shape: src.shape },
    { size: src.size, color: src.color },
  ]
  return allowEmpty && rng.chance(0.1) ? {} : rng.pick(filters)
}

const askCount: Gen = (s, rng, focus) => {
  const pool = targets(s, focus)
  const o = pool.length > 0 && rng.chance(0.8) ? rng.pick(pool) : undefined
  const f = filterFrom(rng, o, true)
  return { category: 'count', kind: 'count', question: `How many ${phrase(f, true)} are there?`, answer: String(countOf(s, f)), domain: COUNTS }
}

/**
 * POPE-style existence, half yes and half no. The "no" questions are mostly adversarial: a shape that is in
 * the scene in a colour it does not have, a colour that is present on another shape, a size it does not come in.
 */
const askExistence: Gen = (s, rng, focus) => {
  const pool = targets(s, focus)
  const ask = (kind: string, f: Filter): Open => {
    const p = phrase(f, false)
    return { category: 'existence', kind, question: `Is there ${article(p)} ${p} in the image?`, answer: yesNo(countOf(s, f) > 0), domain: YES_NO }
  }
  if (pool.length > 0 && rng.chance(0.5)) {
    const o = rng.pick(pool)
    const f = rng.pick<Filter>([{ color: o.color, shape: o.shape }, { size: o.size, color: o.color, shape: o.shape }, { size: o.size, shape: o.shape }])
    return ask('exist-present', f)
  }
  const o = pool.length > 0 ? rng.pick(pool) : rng.pick(s.objects)
  const absent = (f: Filter) => countOf(s, f) === 0
  const tries: (() => Open | undefined)[] = rng.shuffle([
    () => {
      const c = rng.shuffle(Scene.COLORS).find((c) => absent({ color: c, shape: o.shape }))
      return c && ask('exist-absent-color', { color: c, shape: o.shape })
    },
    () => {
      const sh = rng.shuffle(Scene.SHAPES).find((sh) => absent({ color: o.color, shape: sh }))
      return sh && ask('exist-absent-shape', { color: o.color, shape: sh })
    },
    () => {
      const f: Filter = { size: o.size === 'small' ? 'large' : 'small', color: o.color, shape: o.shape }
      return absent(f) ? ask('exist-absent-size', f) : undefined
    },
  ])
  if (rng.chance(0.25)) tries.unshift(() => {
    const f: Filter = { color: rng.pick(Scene.COLORS), shape: rng.pick(Scene.SHAPES) }
    return absent(f) ? ask('exist-absent-random', f) : undefined
  })
  for (const t of tries) {
    const q = t()
    if (q) return q
  }
  return undefined
}

const askSize: Gen = (s, rng, focus) =>
  firstOf(rng, targets(s, focus), (o) => {
    const ref = refer(s, rng, o, ['size'])
    return ref === undefined ? undefined : { category: 'size', kind: 'size', question: `Is ${ref} small or large?`, answer: o.size, domain: Scene.SIZES }
  })

/** CLEVR's "subtract": remove one or two filtered sets, count what is left. Each filter must remove something. */
const askSubtract: Gen = (s, rng, focus) => {
  const pool = targets(s, focus).length > 0 ? targets(s, focus) : s.objects
  const fs: Filter[] = [filterFrom(rng, rng.pick(pool), false)]
  if (rng.chance(0.4)) {
    const g = filterFrom(rng, rng.pick(s.objects), false)
    if (JSON.stringify(g) !== JSON.stringify(fs[0])) fs.push(g)
  }
  const removes = fs.map((f) => `Remove all ${phrase(f, true, 'thing')}.`).join(' ')
  const left = s.objects.filter((o) => !fs.some((f) => matches(o, f))).length
  return { category: 'reasoning', kind: 'subtract', question: `${removes} How many objects are left?`, answer: String(left), domain: COUNTS }
}

const SAME_ATTRS = ['color', 'shape', 'size'] as const

/** "How many other objects are the same colour as the X?" — X's reference does not name that attribute. */
const askSame: Gen = (s, rng, focus) => {
  const attr = rng.pick(SAME_ATTRS)
  return firstOf(rng, targets(s, focus), (o) => {
    const ref = refer(s, rng, o, attr === 'shape' ? [] : [attr])
    if (!ref) return undefined
    const n = s.objects.filter((p) => p !== o && p[attr] === o[attr]).length
    return { category: 'reasoning', kind: 'same', question: `How many other objects are the same ${attr} as ${ref}?`, answer: String(n), domain: COUNTS }
  })
}

/** "Are there more circles than stars?" — only when the two counts differ. */
const askMore: Gen = (s, rng) => {
  const byColor = rng.chance(0.5)
  const values: Filter[] = byColor ? Scene.COLORS.map((color) => ({ color })) : Scene.SHAPES.map((shape) => ({ shape }))
  const present = rng.shuffle(values.filter((f) => countOf(s, f) > 0))
  if (present.length === 0) return undefined
  const a = present[0]
  const b = rng.shuffle(values).find((f) => countOf(s, f) !== countOf(s, a))
  if (!b) return undefined
  const [p, q] = rng.chance(0.5) ? [a, b] : [b, a]
  return { category: 'reasoning', kind: 'more', question: `Are there more ${phrase(p, true)} than ${phrase(q, true)}?`, answer: yesNo(countOf(s, p) > countOf(s, q)), domain: YES_NO }
}

/** "Are the X and the Y the same color/size?" — references leave the compared attribute out. */
const askSamePair: Gen = (s, rng, focus) => {
  const attr = rng.pick(['color', 'size'] as const)
  const wantSame = rng.chance(0.5) // balance yes and no: most random pairs differ in colour
  return firstOf(rng, targets(s, focus), (a) =>
    firstOf(
      rng,
      s.objects.filter((b) => b !== a && (b[attr] === a[attr]) === wantSame),
      (b) => {
        const ra = refer(s, rng, a, [attr]), rb = refer(s, rng, b, [attr])
        if (!ra || !rb) return undefined
        return { category: 'reasoning', kind: 'same-pair', question: `Are ${ra} and ${rb} the same ${attr}?`, answer: yesNo(a[attr] === b[attr]), domain: YES_NO }
      },
    ),
  )
}

const EXTREMES = [
  { words: 'leftmost', key: (o: Obj) => o.x },
  { words: 'rightmost', key: (o: Obj) => -o.x },
  { words: 'topmost', key: (o: Obj) => o.y },
  { words: 'bottommost', key: (o: Obj) => -o.y },
] as const

/** "What color is the leftmost object?" — only when that object leads the runner-up clearly. */
const askExtreme: Gen = (s, rng) => {
  if (s.objects.length < 2) return undefined
  for (const e of rng.shuffle(EXTREMES)) {
    const sorted = s.objects.slice().sort((a, b) => e.key(a) - e.key(b))
    if (e.key(sorted[1]) - e.key(sorted[0]) < EXTREME_MARGIN) continue
    const attr = rng.pick(['color', 'shape'] as const)
    const domain = attr === 'color' ? Scene.COLORS : Scene.SHAPES
    return { category: 'reasoning', kind: 'extreme', question: `What ${attr} is the ${e.words} object?`, answer: sorted[0][attr], domain }
  }
  return undefined
}

const GENERATORS: Readonly<Record<Category, readonly Gen[]>> = {
  color: [askColor],
  position: [askWhere, askWhere, askRelation],
  count: [askCount],
  existence: [askExistence],
  size: [askSize],
  reasoning: [askSubtract, askSame, askMore, askSamePair, askExtreme],
}

/** Adds lettered options: the answer and distinct distractors from its domain, shuffled; the answer is a letter. */
const toChoice = (q: Open, rng: Random.Stream): QA => {
  const k = Math.min(q.domain.length, rng.int(3, 4))
  const distractors = rng.shuffle(q.domain.filter((d) => d !== q.answer)).slice(0, k - 1)
  const options = rng.shuffle([q.answer, ...distractors])
  const letters = options.map((_, i) => String.fromCharCode(65 + i))
  const listed = options.map((o, i) => `${letters[i]}: ${o}`).join(', ')
  return {
    category: q.category,
    kind: q.kind,
    form: 'choice',
    question: `${q.question} Options: ${listed}. Answer with the letter.`,
    answer: letters[options.indexOf(q.answer)],
  }
}

export interface AskOptions {
  /** 'open', 'choice', or the probability of a multiple-choice form. */
  readonly form?: Form | number
  /** Restrict targets to these objects where the template has a target (default: all objects). */
  readonly focus?: Focus
}

/** One question of a category about the scene, drawn with `seed`; undefined when the scene cannot support one. */
export const ask = (s: Scene.Scene, category: Category, seed: number, opts: AskOptions = {}): QA | undefined => {
  if (s.objects.length === 0) return undefined
  const rng = Random.stream(seed)
  const focus = opts.focus ?? (() => true)
  let q: Open | undefined
  for (const gen of rng.shuffle(GENERATORS[category])) if ((q = gen(s, rng, focus))) break
  if (!q) return undefined
  const form = opts.form ?? 0.3
  const choice = typeof form === 'number' ? rng.chance(form) : form === 'choice'
  return choice ? toChoice(q, rng) : { category: q.category, kind: q.kind, form: 'open', question: q.question, answer: q.answer }
}

/** The fine-grained focus: small objects and objects touching a border. */
export const fineFocus: Focus = (o) => o.size === 'small' || Scene.atEdge(o)

// -------------------------------------------------------------------------------------------------------------
// text-only world knowledge
// -------------------------------------------------------------------------------------------------------------

const SHAPE_FACTS: readonly string[] = [
  'A star has five points.',
  'A triangle has three sides.',
  'A triangle has three corners.',
  'A square has four sides.',
  'A square has four corners.',
  'All four sides of a square are equal.',
  'A cross has four arms.',
  'A circle is round.',
  'A circle has no corners.',
  'A circle has no sides.',
]
const COLOR_FACTS: readonly string[] = [
  'Grass is green.',
  'The sky is blue.',
  'Snow is white.',
  'Bananas are yellow.',
  'The sun looks yellow.',
  'Oranges are orange.',
  'Ripe tomatoes are red.',
  'Fire trucks are red.',
  'Ash is gray.',
  'Violets are purple.',
  'Red and yellow make orange.',
  'Red and blue make purple.',
  'Blue and yellow make green.',
  'Black and white make gray.',
  'White is the lightest color.',
  'Gray is between black and white.',
]
const SPACE_FACTS: readonly string[] = [
  'Left is the opposite of right.',
  'Top is the opposite of bottom.',
  'Above is the opposite of below.',
  'Large is the opposite of small.',
  'A large square is bigger than a small square.',
  'A small circle is smaller than a large circle.',
  'The top left corner is where the top edge meets the left edge.',
  'The top right corner is where the top edge meets the right edge.',
  'The bottom left corner is where the bottom edge meets the left edge.',
  'The bottom right corner is where the bottom edge meets the right edge.',
  'The center is in the middle of the image.',
  'An image has four corners and four edges.',
]

const num = (n: number): string => NUMBER_WORDS[n]

/** One fact, chosen by the stream: a fixed fact or a generated counting, arithmetic or world sentence. */
const fact = (rng: Random.Stream): string => {
  switch (rng.int(0, 8)) {
    case 0:
      return rng.pick(SHAPE_FACTS)
    case 1:
      return rng.pick(COLOR_FACTS)
    case 2:
      return rng.pick(SPACE_FACTS)
    case 3: {
      const a = rng.int(0, 6), b = rng.int(0, 6)
      return rng.chance(0.5) ? `${capitalise(num(a))} plus ${num(b)} is ${num(a + b)}.` : `${a} + ${b} = ${a + b}.`
    }
    case 4: {
      const a = rng.int(0, 12), b = rng.int(0, a)
      return rng.chance(0.5) ? `${capitalise(num(a))} minus ${num(b)} is ${num(a - b)}.` : `${a} - ${b} = ${a - b}.`
    }
    case 5: {
      const a = rng.int(0, 11)
      return rng.pick([`After ${num(a)} comes ${num(a + 1)}.`, `${capitalise(num(a))} comes before ${num(a + 1)}.`, `The number ${num(a)} is written ${a}.`])
    }
    case 6: {
      const a = rng.int(0, 12), b = rng.int(0, 12)
      if (a === b) return `${capitalise(num(a))} is equal to ${num(b)}.`
      return `${capitalise(num(a))} is ${a > b ? 'more' : 'less'} than ${num(b)}.`
    }
    case 7: {
      const n = rng.int(1, 6)
      return `Counting to ${num(n)}: ${Array.from({ length: n }, (_, k) => num(k + 1)).join(', ')}.`
    }
    default: {
      // A world sentence: objects of two kinds add up.
      const a = rng.int(1, 4), b = rng.int(1, 4)
      const c1 = rng.pick(Scene.COLORS), c2 = rng.pick(Scene.COLORS.filter((c) => c !== c1)), sh = rng.pick(Scene.SHAPES)
      const noun = (n: number) => (n === 1 ? sh : PLURAL[sh])
      return `${capitalise(num(a))} ${c1} ${noun(a)} and ${num(b)} ${c2} ${noun(b)} make ${num(a + b)} ${PLURAL[sh]}.`
    }
  }
}

/** A question a user might ask without an image, with its short answer. */
const textQuestion = (rng: Random.Stream): readonly [string, string] => {
  switch (rng.int(0, 6)) {
    case 0: {
      const a = rng.int(0, 6), b = rng.int(0, 6)
      return [`What is ${num(a)} plus ${num(b)}?`, num(a + b)]
    }
    case 1: {
      const a = rng.int(0, 12), b = rng.int(0, a)
      return [`What is ${a} - ${b}?`, String(a - b)]
    }
    case 2:
      return rng.pick<readonly [string, string]>([
        ['How many sides does a triangle have?', 'three'],
        ['How many sides does a square have?', 'four'],
        ['How many points does a star have?', 'five'],
        ['How many arms does a cross have?', 'four'],
        ['How many corners does a circle have?', 'zero'],
        ['How many corners does a triangle have?', 'three'],
      ])
    case 3:
      return rng.pick<readonly [string, string]>([
        ['What do red and yellow make?', 'orange'],
        ['What do red and blue make?', 'purple'],
        ['What do blue and yellow make?', 'green'],
        ['What do black and white make?', 'gray'],
        ['What color is grass?', 'green'],
        ['What color is snow?', 'white'],
        ['What color is the sky?', 'blue'],
      ])
    case 4:
      return rng.pick<readonly [string, string]>([
        ['What is the opposite of left?', 'right'],
        ['What is the opposite of right?', 'left'],
        ['What is the opposite of top?', 'bottom'],
        ['What is the opposite of bottom?', 'top'],
        ['What is the opposite of small?', 'large'],
        ['What is the opposite of large?', 'small'],
      ])
    case 5: {
      const a = rng.int(0, 11)
      return [`What number comes after ${num(a)}?`, num(a + 1)]
    }
    default: {
      const a = rng.int(0, 12), b = rng.int(0, 12)
      return [`Is ${num(a)} more than ${num(b)}?`, yesNo(a > b)]
    }
  }
}

// -------------------------------------------------------------------------------------------------------------
// samples
// -------------------------------------------------------------------------------------------------------------

/** An image in a sample: the scene; the model renders it (Scene.render) when it assembles a sequence. */
export interface SceneImage {
  readonly kind: 'image'
  readonly scene: Scene.Scene
}
export type Segment = Tokenizer.Segment<SceneImage>

export type SampleKind = 'caption' | 'instruction' | 'text' | 'dialogue' | 'interleaved'
export interface Sample {
  readonly kind: SampleKind
  readonly segments: readonly Segment[]
}

const image = (scene: Scene.Scene): SceneImage => ({ kind: 'image', scene })

/** Tags that decorrelate the seed streams of different purposes. */
const TAG = { caption: 11, instruction: 12, text: 13, dialogue: 14, interleaved: 15, eval: 16, sceneOf: 17, corpus: 18 } as const
const SCENE_INDEX_MASK = 2 ** 29 - 1

/** Training scene for sample `index` of a kind: hashed, so different kinds at one index show different scenes. */
const trainScene = (tag: number, index: number): Scene.Scene => Scene.sceneAt('train', Random.hash(TAG.sceneOf, tag, index) & SCENE_INDEX_MASK)

const CAPTION_PROMPTS: readonly string[] = [
  'Describe the image.',
  'Describe the image briefly.',
  'What is in the image?',
  'Write a short caption for the image.',
  'List the objects in the image.',
]

/** Image + a request for a description → the caption. */
export const captionSample = (index: number): Sample => {
  const rng = Random.stream(Random.hash(TAG.caption, index))
  const scene = trainScene(TAG.caption, index)
  const imageFirst = rng.chance(0.8)
  const prompt = rng.pick(CAPTION_PROMPTS)
  const user = imageFirst ? [image(scene), prompt] : [prompt, image(scene)]
  return { kind: 'caption', segments: Tokenizer.renderChat([{ role: 'user', content: user }, { role: 'assistant', content: [caption(scene)] }]) }
}

/** What instruction samples ask: categories drawn uniformly (list one twice to weight it), and how many turns. */
export interface Syllabus {
  readonly categories: readonly Category[]
  readonly turns: readonly [min: number, max: number]
}

/** Every category, two to six questions per image. */
export const EVERY_CATEGORY: Syllabus = { categories: CATEGORIES, turns: [2, 6] }

/** Up to the syllabus's number of distinct questions about the scene and their answers, as chat turns. */
const interview = (scene: Scene.Scene, rng: Random.Stream, syllabus: Syllabus): Tokenizer.Turn<SceneImage>[] => {
  const turns: Tokenizer.Turn<SceneImage>[] = []
  const nTurns = rng.int(...syllabus.turns)
  const asked = new Set<string>()
  for (let t = 0; t < 16 && turns.length < 2 * nTurns; t++) {
    const qa = ask(scene, rng.pick(syllabus.categories), rng.u32())
    if (!qa || asked.has(qa.question)) continue
    asked.add(qa.question)
    const content = turns.length === 0 ? [image(scene), qa.question] : [qa.question]
    turns.push({ role: 'user', content }, { role: 'assistant', content: [qa.answer] })
  }
  return turns
}

/**
 * Image + questions of random categories of the syllabus (30% multiple choice), one answer per turn: like
 * LLaVA's multi-turn conversations, several answers share one image's tokens. A scene that supports none of
 * the syllabus's questions (no colour question when two objects differ only in colour) gives way to another.
 */
export const instructionSample = (index: number, syllabus: Syllabus = EVERY_CATEGORY): Sample => {
  for (let k = 0; ; k++) {
    const at = k === 0 ? index : Random.hash(TAG.instruction, index, k) & SCENE_INDEX_MASK
    const turns = interview(trainScene(TAG.instruction, at), Random.stream(Random.hash(TAG.instruction, at)), syllabus)
    if (turns.length > 0) return { kind: 'instruction', segments: Tokenizer.renderChat(turns) }
  }
}

/** A short passage of two to five facts; every token carries the loss. */
export const textPassage = (seed: number): string => {
  const rng = Random.stream(seed)
  return Array.from({ length: rng.int(2, 5) }, () => fact(rng)).join(' ')
}

export const textSample = (index: number): Sample => ({
  kind: 'text',
  segments: [{ kind: 'text', text: textPassage(Random.hash(TAG.text, index)), loss: true }],
})

/** A text-only chat of one to three questions about numbers, shapes, colours and directions. */
export const dialogueSample = (index: number): Sample => {
  const rng = Random.stream(Random.hash(TAG.dialogue, index))
  const turns: Tokenizer.Turn<SceneImage>[] = []
  for (let t = rng.int(1, 3); t > 0; t--) {
    const [q, a] = textQuestion(rng)
    turns.push({ role: 'user', content: [q] }, { role: 'assistant', content: [a] })
  }
  return { kind: 'dialogue', segments: Tokenizer.renderChat(turns) }
}

/**
 * The paper's stage-1 interleaving: a main sample (instruction or dialogue) and an auxiliary sample (caption or
 * text passage) joined in random order, so images sit at varying places and a sequence may hold two images.
 */
export const interleavedSample = (index: number): Sample => {
  const rng = Random.stream(Random.hash(TAG.interleaved, index))
  const k = rng.u32() & SCENE_INDEX_MASK
  const main = rng.chance(0.7) ? instructionSample(k) : dialogueSample(k)
  const aux = rng.chance(0.6) ? captionSample(k) : textSample(k)
  const [first, second] = rng.chance(0.5) ? [main, aux] : [aux, main]
  return { kind: 'interleaved', segments: [...first.segments, ...second.segments] }
}

/** The images of a sample, in order. */
export const imagesOf = (s: Sample): Scene.Scene[] => s.segments.flatMap((g) => (g.kind === 'image' ? [g.scene] : []))

// -------------------------------------------------------------------------------------------------------------
// evaluation sets
// -------------------------------------------------------------------------------------------------------------

export interface EvalItem {
  /** "<split>/<category>/<scene index>" */
  readonly id: string
  readonly scene: Scene.Scene
  readonly qa: QA
  /** The prompt: user turn with image and question, then an open assistant turn. */
  readonly prompt: readonly Segment[]
}

export interface EvalOptions {
  /** 'eval' (held-out scenes) or 'fine' (small objects, objects on borders and in corners). Default 'eval'. */
  readonly split?: 'eval' | 'fine'
  /** Default 'open'. */
  readonly form?: Form
}

/** User turn with image and question, ready for generation. */
export const prompt = (scene: Scene.Scene, question: string): Segment[] =>
  Tokenizer.renderChat<SceneImage>([{ role: 'user', content: [image(scene), question] }], { generation: true })

/**
 * `n` questions of one category on held-out scenes (one per scene, scenes that cannot support the category are
 * skipped). The fine split asks about small and border objects wherever a template has a target.
 */
export const evalSet = (category: Category, n: number, opts: EvalOptions = {}): EvalItem[] => {
  const split = opts.split ?? 'eval'
  const form = opts.form ?? 'open'
  const out: EvalItem[] = []
  for (let i = 0; out.length < n; i++) {
    if (i > 50 * n + 100) throw new Error(`evalSet: could not build ${n} ${category} questions on the ${split} split`)
    const scene = Scene.sceneAt(split, i)
    const qa = ask(scene, category, Random.hash(TAG.eval, i, CATEGORIES.indexOf(category)), { form, focus: split === 'fine' ? fineFocus : undefined })
    if (qa) out.push({ id: `${split}/${category}/${i}`, scene, qa, prompt: prompt(scene, qa.question) })
  }
  return out
}

// -------------------------------------------------------------------------------------------------------------
// corpus for the tokenizer
// -------------------------------------------------------------------------------------------------------------

const MAKERS: Readonly<Record<SampleKind, (index: number) => Sample>> = {
  instruction: instructionSample,
  caption: captionSample,
  text: textSample,
  dialogue: dialogueSample,
  interleaved: interleavedSample,
}

/**
 * About `bytes` characters of this world's text, one sample per line, cycling through `kinds` (images appear as
 * <|image|>). The default mix is for training the tokenizer; `['text', 'dialogue']` is text-only material for
 * the language model.
 */
export const corpus = (bytes = 1_000_000, kinds: readonly SampleKind[] = ['instruction', 'caption', 'text', 'dialogue', 'interleaved']): string => {
  if (kinds.length === 0) throw new Error('corpus: no sample kinds')
  const lines: string[] = []
  let n = 0
  for (let i = 0; n < bytes; i++) {
    const make = MAKERS[kinds[i % kinds.length]]
    const line = Tokenizer.renderChatText(make(Random.hash(TAG.corpus, i) & SCENE_INDEX_MASK).segments)
    lines.push(line)
    n += line.length + 1
  }
  return lines.join('\n')
}
