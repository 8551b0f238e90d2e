/**
 * Evaluation on held-out scenes: accuracy per question category (the paper's Tables 4 and 10–11 stress
 * colour, position, count, existence, size and compositional reasoning), open-ended and multiple-choice,
 * plus the fine-grained set (small objects, objects on edges and in corners). Answers are decoded greedily
 * and compared after normalisation (case, surrounding spaces and a final full stop are ignored).
 *
 * Beside the categories, the lookup readout tells reading from finding: colour questions about scenes of two
 * differently coloured objects, and whether each answer names the asked object's colour, the other's, or
 * neither. A model that reads colours but does not find the named object splits its answers between the two.
 *
 * A model enters as its `Decoder` (haplovl/generate.ts), so HaploVL and the comparison models are asked alike.
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Language from '../data/language.ts'
import * as Random from '../data/random.ts'
import * as Scene from '../data/scene.ts'
import * as Tokenizer from '../data/tokenizer.ts'
import { decodeWith, type Decoder, type Options as GenerateOptions } from '../haplovl/generate.ts'
import type { Sample } from '../haplovl/sequence.ts'
import { stopHere } from './run.ts'
import { modelSample, type World } from './world.ts'

export interface Score {
  readonly correct: number
  readonly total: number
  readonly accuracy: number
}

export interface Report {
  /** `${split}/${form}` → category → score */
  readonly sets: Readonly<Record<string, Readonly<Record<string, Score>>>>
  /** a few answers per set, for reading */
  readonly examples: readonly { readonly id: string; readonly question: string; readonly truth: string; readonly answer: string }[]
  readonly seconds: number
  /** colour answers about two-object scenes: the asked object's colour, the other object's, or neither */
  readonly lookup: Lookup
  /** the teacher's zero-shot retention probe (retention.ts): readout → probe → accuracy */
  readonly retention?: Readonly<Record<string, Readonly<Record<string, number>>>>
}

export interface Lookup {
  readonly target: number
  readonly other: number
  readonly neither: number
}

export const normalise = (s: string): string => s.trim().toLowerCase().replace(/\.$/, '').trim()

/** The model's answer to an assembled prompt, decoded up to the end-of-turn token (greedy unless `o` samples). */
export function reply(model: Decoder, tokenizer: Tokenizer.Tokenizer, prompt: Sample, o: Omit<GenerateOptions, 'stop'>): E.Either<string, string> {
  const generated = decodeWith(model, prompt, { ...o, stop: [tokenizer.special.end] })
  return E.map((g: { tokens: readonly number[] }) => Tokenizer.decode(tokenizer, g.tokens).trim())(generated)
}

/** The model's greedy answer to a data prompt. */
export const answer = (model: Decoder, w: World, prompt: readonly Language.Segment[], maxNewTokens = 8): E.Either<string, string> =>
  reply(model, w.tokenizer, modelSample(w, prompt), { maxNewTokens })

export interface Options {
  /** questions per category and set (default 40) */
  readonly perCategory?: number
  readonly onItem?: (done: number, total: number) => void
  /** polled between questions: true ends the evaluation early (Ctrl-C), with nothing to report */
  readonly shouldStop?: (() => boolean) | undefined
}

/** Every category of every set, then the lookup readout; undefined when `shouldStop` ended it early. */
export async function evaluate(model: Decoder, w: World, o: Options = {}): Promise<E.Either<string, Report | undefined>> {
  const started = performance.now()
  const n = o.perCategory ?? 40
  const plan = [
    { split: 'eval', form: 'open' },
    { split: 'eval', form: 'choice' },
    { split: 'fine', form: 'open' },
  ] as const
  const total = (plan.length * Language.CATEGORIES.length + 1) * n // the categories, then the lookup readout
  let done = 0
  const sets: Record<string, Record<string, Score>> = {}
  const examples: Report['examples'][number][] = []
  for (const { split, form } of plan) {
    const scores: Record<string, Score> = {}
    for (const category of Language.CATEGORIES) {
      let correct = 0, shown = 0
      for (const item of Language.evalSet(category, n, { split, form })) {
        if (await stopHere(o.shouldStop)) return E.right(undefined)
        const said = answer(model, w, item.prompt)
        if (E.isLeft(said)) return said
        if (normalise(said.right) === normalise(item.qa.answer)) correct++
        if (form === 'open' && shown++ < 2) examples.push({ id: item.id, question: item.qa.question, truth: item.qa.answer, answer: said.right })
        o.onItem?.(++done, total)
      }
      scores[category] = { correct, total: n, accuracy: correct / n }
    }
    sets[`${split}/${form}`] = scores
  }
  const lookup = await lookupReadout(model, w, lookupItems(n), { onItem: () => o.onItem?.(++done, total), shouldStop: o.shouldStop })
  return E.map((l: Lookup | undefined) => l && { sets, examples, lookup: l, seconds: (performance.now() - started) / 1000 })(lookup)
}

/** A colour question about one of two differently coloured objects: the colour asked for, and the other object's. */
export interface LookupItem {
  readonly scene: Scene.Scene
  readonly question: string
  readonly asked: string
  readonly other: string
}

/**
 * The colour question `seed` draws about a scene of exactly two differently coloured objects, naming the object
 * by its shape (and by its size where the shape alone does not single it out); undefined for any other scene.
 */
export function shapeItem(scene: Scene.Scene, seed: number): LookupItem | undefined {
  const [a, b] = scene.objects
  if (scene.objects.length !== 2 || a!.color === b!.color) return undefined
  const qa = Language.ask(scene, 'color', seed, { form: 'open' })
  return qa && { scene, question: qa.question, asked: qa.answer, other: qa.answer === a!.color ? b!.color : a!.color }
}

/** The readout's questions (`shapeItem`) about the first n held-out scenes that allow one. */
export function lookupItems(n: number): LookupItem[] {
  const items = []
  for (let i = 0; items.length < n; i++) {
    const item = shapeItem(Scene.sceneAt('eval', i), Random.hash(905, i))
    if (item) items.push(item)
  }
  return items
}

/**
 * The lookup asked by place: "What color is the thing on the left?" (or right) about a scene of exactly two
 * differently coloured objects at least a fifth of the image apart; undefined for any other scene.
 */
export function sideItem(scene: Scene.Scene, left: boolean): LookupItem | undefined {
  if (scene.objects.length !== 2) return undefined
  const [a, b] = scene.objects as [Scene.SceneObject, Scene.SceneObject]
  if (Math.abs(a.x - b.x) < 0.2 || a.color === b.color) return undefined
  const [l, r] = a.x < b.x ? [a, b] : [b, a]
  return { scene, question: `What color is the thing on the ${left ? 'left' : 'right'}?`, asked: (left ? l : r).color, other: (left ? r : l).color }
}

/** Whose colour an answer names. Its last word is the colour, so an answer may first name what it is about ("left red"). */
export const namedColour = (said: string, item: Pick<LookupItem, 'asked' | 'other'>): keyof Lookup => {
  const colour = normalise(said).split(/\s+/).pop()
  return colour === item.asked ? 'target' : colour === item.other ? 'other' : 'neither'
}

/**
 * The lookup readout: how the model's answers to `items` split between the asked colour, the other one and
 * neither; undefined when `shouldStop` ended it early.
 */
export async function lookupReadout(
  model: Decoder, w: World, items: readonly LookupItem[], o: { readonly onItem?: () => void; readonly shouldStop?: (() => boolean) | undefined } = {},
): Promise<E.Either<string, Lookup | undefined>> {
  const counts = { target: 0, other: 0, neither: 0 }
  for (const item of items) {
    if (await stopHere(o.shouldStop)) return E.right(undefined)
    const said = answer(model, w, Language.prompt(item.scene, item.question))
    if (E.isLeft(said)) return said
    counts[namedColour(said.right, item)]++
    o.onItem?.()
  }
  return E.right(counts)
}

/** The retention probes the table shows (the report holds them all). */
const retentionColumns = ['size-color-shape', 'color', 'shape', 'size']

/** Markdown tables of a report: one row per category, one column per set; the lookup readout; the retention probe, if any. */
export function table(r: Report): string {
  const percent = (x: number) => `${(100 * x).toFixed(1)}%`
  const sets = Object.keys(r.sets)
  const rows = Language.CATEGORIES.map((c) => `| ${c} | ${sets.map((s) => percent(r.sets[s]![c]!.accuracy)).join(' | ')} |`)
  const { target, other, neither } = r.lookup
  const categories = [
    `| category | ${sets.join(' | ')} |`, `| --- | ${sets.map(() => '---:').join(' | ')} |`, ...rows, '',
    `Lookup (colour questions about two objects): the asked object's colour ${target}, the other object's ${other}, neither ${neither}, of ${target + other + neither}`,
  ]
  if (!r.retention) return categories.join('\n')
  return [
    ...categories, '', 'Zero-shot retention (teacher readout)', '',
    `| readout | ${retentionColumns.join(' | ')} |`, `| --- | ${retentionColumns.map(() => '---:').join(' | ')} |`,
    ...Object.entries(r.retention).map(([name, scores]) => `| ${name} | ${retentionColumns.map((p) => percent(scores[p]!)).join(' | ')} |`),
  ].join('\n')
}
