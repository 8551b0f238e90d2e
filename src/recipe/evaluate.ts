/**
 * Evaluation on held-out scenes: accuracy per question category (the paper's Tables 4 and 10–11 stress
 * colour, position, count, existence, size and compositional reasoning), open-ended and multiple-choice,
 * plus the fine-grained set (small objects, objects on edges and in corners). Answers are decoded greedily
 * and compared after normalisation (case, surrounding spaces and a final full stop are ignored).
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Language from '../data/language.ts'
import * as Tokenizer from '../data/tokenizer.ts'
import { decodeBatch, decoder, generate, type Options as GenerateOptions } from '../haplovl/generate.ts'
import { imageTokens } from '../haplovl/config.ts'
import type { Sample } from '../haplovl/sequence.ts'
import type { Params } from '../haplovl/model.ts'
import { modelSample, specialIds, type World } from './world.ts'

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
  /** the teacher's zero-shot retention probe (retention.ts): readout → probe → accuracy */
  readonly retention?: Readonly<Record<string, Readonly<Record<string, number>>>>
}

export const normalise = (s: string): string => s.trim().toLowerCase().replace(/\.$/, '').trim()

/** The model's answer to an assembled prompt, decoded up to the end-of-turn token (greedy unless `o` samples). */
export function reply(model: Params, w: World, prompt: Sample, o: Omit<GenerateOptions, 'stop'>): E.Either<string, string> {
  const generated = generate(model, w.config, prompt, specialIds(w), { ...o, stop: [w.tokenizer.special.end] })
  return E.map((g: { tokens: readonly number[] }) => Tokenizer.decode(w.tokenizer, g.tokens).trim())(generated)
}

/**
 * The model's greedy answers to data prompts. Prompts of one length are decoded together, up to `batch` at a
 * time (a batch row computes what the prompt alone would); `onAnswered` hears how many are done.
 */
export function answers(
  model: Params, w: World, prompts: readonly (readonly Language.Segment[])[],
  o: { readonly maxNewTokens?: number; readonly batch?: number; readonly onAnswered?: (done: number) => void } = {},
): E.Either<string, string[]> {
  const samples = prompts.map((p) => modelSample(w, p))
  const length = (s: Sample) => s.reduce((n, g) => n + (g.kind === 'text' ? g.ids.length : imageTokens(w.config)), 0)
  const byLength = new Map<number, number[]>()
  samples.forEach((s, i) => byLength.set(length(s), [...(byLength.get(length(s)) ?? []), i]))
  const d = decoder(model, w.config, specialIds(w)), size = o.batch ?? 32
  const out = new Array<string>(prompts.length)
  let done = 0
  for (const members of byLength.values())
    for (let k = 0; k < members.length; k += size) {
      const part = members.slice(k, k + size)
      const decoded = decodeBatch(d, part.map((i) => samples[i]!), { maxNewTokens: o.maxNewTokens ?? 8, stop: [w.tokenizer.special.end] })
      if (E.isLeft(decoded)) return decoded
      decoded.right.forEach((g, j) => (out[part[j]!] = Tokenizer.decode(w.tokenizer, g.tokens).trim()))
      o.onAnswered?.((done += part.length))
    }
  return E.right(out)
}

export interface Options {
  /** questions per category and set (default 40) */
  readonly perCategory?: number
  readonly onItem?: (done: number, total: number) => void
}

export function evaluate(model: Params, w: World, o: Options = {}): E.Either<string, Report> {
  const started = performance.now()
  const n = o.perCategory ?? 40
  const plan = [
    { split: 'eval', form: 'open' },
    { split: 'eval', form: 'choice' },
    { split: 'fine', form: 'open' },
  ] as const
  const total = plan.length * Language.CATEGORIES.length * n
  const sets: Record<string, Record<string, Score>> = {}
  const examples: Report['examples'][number][] = []
  for (const [p, { split, form }] of plan.entries()) {
    // every category of a set at once, so that prompts of one length batch across categories
    const items = Language.CATEGORIES.flatMap((category) => Language.evalSet(category, n, { split, form }).map((item) => ({ category, item })))
    const said = answers(model, w, items.map(({ item }) => item.prompt), { onAnswered: (done) => o.onItem?.(p * items.length + done, total) })
    if (E.isLeft(said)) return said
    const scores: Record<string, Score> = {}
    for (const category of Language.CATEGORIES) {
      const mine = items.flatMap(({ category: c, item }, i) => (c === category ? [{ item, answer: said.right[i]! }] : []))
      const correct = mine.filter(({ item, answer }) => normalise(answer) === normalise(item.qa.answer)).length
      scores[category] = { correct, total: n, accuracy: correct / n }
      if (form === 'open') examples.push(...mine.slice(0, 2).map(({ item, answer }) => ({ id: item.id, question: item.qa.question, truth: item.qa.answer, answer })))
    }
    sets[`${split}/${form}`] = scores
  }
  return E.right({ sets, examples, seconds: (performance.now() - started) / 1000 })
}

/** The retention probes the table shows (the report holds them all). */
const retentionColumns = ['size-color-shape', 'color', 'shape', 'size']

/** Markdown tables of a report: one row per category, one column per set; then the retention probe, if any. */
export function table(r: Report): string {
  const percent = (x: number) => `${(100 * x).toFixed(1)}%`
  const sets = Object.keys(r.sets)
  const rows = Language.CATEGORIES.map((c) => `| ${c} | ${sets.map((s) => percent(r.sets[s]![c]!.accuracy)).join(' | ')} |`)
  const categories = [`| category | ${sets.join(' | ')} |`, `| --- | ${sets.map(() => '---:').join(' | ')} |`, ...rows]
  if (!r.retention) return categories.join('\n')
  return [
    ...categories, '', 'Zero-shot retention (teacher readout)', '',
    `| readout | ${retentionColumns.join(' | ')} |`, `| --- | ${retentionColumns.map(() => '---:').join(' | ')} |`,
    ...Object.entries(r.retention).map(([name, scores]) => `| ${name} | ${retentionColumns.map((p) => percent(scores[p]!)).join(' | ')} |`),
  ].join('\n')
}
