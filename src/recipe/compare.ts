/**
 * The paper's comparisons at the run's scale: the other designs of MODEL_SPEC (src/variants/) made from this run's
 * own parents, trained on the same data for as many steps as HaploVL, each stage at the peak learning rate of
 * HaploVL's matching stage, and asked the same questions.
 *
 *   llava   compositional (the paper's Tables 4–5 baseline): the teacher's ViT, frozen, and the LLM
 *             projector   the projector alone on captions, for as many steps as HaploVL's stage 1 and align
 *             instruct    projector and LLM on stage 2's own samples
 *   solo    one transformer, no vision parent: a linear layer on raw patches and the LLM
 *             captions    everything on captions, for as many steps as stage 1 and align
 *             instruct    everything on stage 2's own samples
 *   hovle   a holistic embedding module in front of the LLM, distilled from the llava comparison's visual tokens
 *             distill     the module alone on stage 1's interleaved samples, as long as stage 1
 *             align       the module alone, next-token on captions, as long as align
 *             finetune    all but the LLM's table on stage 2's own samples
 *
 * "Stage 2's own samples" are `stage2Samples`: the same curriculum, seed, schedule and two-part batches as HaploVL's
 * stage 2, laid out as each design lays out an image. A design's files go to RUN/<design>/ (checkpoints with
 * .jsonl logs, eval.json, eval.md); each step resumes from its checkpoint, as the pipeline's do.
 */
import * as E from 'fp-ts/lib/Either.js'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { noGrad, type Tensor, type Tree, type WithAux } from '../../autograd/index.ts'
import * as Language from '../data/language.ts'
import type * as Tokenizer from '../data/tokenizer.ts'
import type { Config } from '../haplovl/config.ts'
import type { Decoder } from '../haplovl/generate.ts'
import * as Names from '../haplovl/names.ts'
import type { Batch } from '../haplovl/sequence.ts'
import { loadCheckpoint } from '../io/checkpoint.ts'
import * as Presets from '../optim/presets.ts'
import * as Key from '../random.ts'
import { runStage } from '../train/loop.ts'
import type { Stage as VariantStage } from '../variants/common.ts'
import * as Hovle from '../variants/hovle.ts'
import * as Llava from '../variants/llava.ts'
import * as Solo from '../variants/solo.ts'
import { evaluate, table, type Report } from './evaluate.ts'
import { loadLlm, loadTeacher } from './pretrain.ts'
import { type RunContext, pathOf } from './run.ts'
import { type Schedule, type Stored, batches, partsLoss, schedules, stage2Batches, stageOf } from './stages.ts'
import { specialIds, type World } from './world.ts'

export const designs = ['llava', 'solo', 'hovle'] as const
export type Design = (typeof designs)[number]

/** Where a design's files go inside a run. */
export const designDir = (dir: string, d: Design): string => join(dir, d)

// ---------------------------------------------------------------------------------------------------------------
// configs at HaploVL's scale
// ---------------------------------------------------------------------------------------------------------------

/** LLaVA with HaploVL's ViT and LLM; the ViT's penultimate layer feeds the projector (LLaVA-1.5's choice). */
export const llavaConfig = (c: Config): Llava.Config =>
  ({ name: `llava-${c.name}`, vision: c.vision, llm: c.llm, selectLayer: Math.max(0, c.vision.layers - 2), maxTokens: c.maxTokens })

/** SOLO with HaploVL's image and patch sizes, row separators between patch rows. */
export const soloConfig = (c: Config): Solo.Config =>
  ({ name: `solo-${c.name}`, imageSize: c.vision.imageSize, patch: c.vision.patch, llm: c.llm, rowSeparators: true, maxTokens: c.maxTokens })

/** HoVLE with HaploVL's image and patch sizes, pixel shuffle, one embedding layer. */
export const hovleConfig = (c: Config): Hovle.Config =>
  ({ name: `hovle-${c.name}`, imageSize: c.vision.imageSize, patch: c.vision.patch, pixelShuffle: true, embedLayers: 1, llm: c.llm, maxTokens: c.maxTokens })

// ---------------------------------------------------------------------------------------------------------------
// training
// ---------------------------------------------------------------------------------------------------------------

type Like = keyof typeof schedules

/** `steps` (default: those of HaploVL's stage `like`) at `like`'s batch and peak learning rate, for a stage with `preset`. */
const matched = (like: Like, preset: Presets.Preset, steps = schedules[like].steps): Schedule => {
  const haplo = { stage1: Presets.stage1, align: Presets.align, stage2: Presets.stage2 }[like]
  return { steps, batch: schedules[like].batch, lrScale: (haplo.paperLr * schedules[like].lrScale) / preset.paperLr }
}

/** Stage 1 and align together: what the designs get before instruction tuning. */
const beforeStage2 = schedules.stage1.steps + schedules.align.steps

/** One training step of a comparison; undefined when Ctrl-C ended it early (its checkpoint is saved). */
async function train<P extends Tree, B extends Batch | readonly Batch[] = Batch, A = undefined>(
  ctx: RunContext, name: string, schedule: Schedule, stage: VariantStage, batchAt: (steps: number) => (step: number) => B,
  loss: (p: P, b: B) => Tensor | WithAux<A>, stored: Stored, initial: P,
): Promise<E.Either<string, P | undefined>> {
  const steps = ctx.steps ?? schedule.steps
  const r = await runStage(stageOf<P, A, B>(ctx, name, schedule, stage.preset, stage.trainable, batchAt(steps), loss, stored), initial)
  return E.map((done: { params: P; stopped?: string }) => (done.stopped ? undefined : done.params))(r)
}

/** Next-token loss over stage 2's two-part batch, from a loss over one batch. */
const overParts = <P>(loss: (p: P, b: Batch) => Tensor) => (p: P, parts: readonly Batch[]): Tensor => partsLoss((b) => loss(p, b), parts)

/** What a design needs: the run's tokenizer, its context, and where the design's files go. */
interface Setting {
  readonly run: RunContext
  readonly here: RunContext
  readonly tokenizer: Tokenizer.Tokenizer
}

/** A trained design: its decoder and world; undefined when stopped. */
type Trained = E.Either<string, { readonly decoder: Decoder; readonly world: World } | undefined>

const captionsOf = (s: Setting, w: World) => () => batches(w, s.run.seed + 1, schedules.align.batch, Language.captionSample)
const stage2Of = (s: Setting, w: World) => (steps: number) => stage2Batches(w, s.run.seed, steps)
const modelKey = (s: Setting): Key.Key => Key.split(Key.key(s.run.seed), 2)[0]!

/** The LLaVA-style model from the run's parents (HoVLE later distils its final checkpoint, `llavaModel`). */
async function llava(s: Setting): Promise<Trained> {
  const teacher = await loadTeacher(s.run.dir, s.run.config)
  if (E.isLeft(teacher)) return teacher
  const llm = await loadLlm(s.run.dir, s.run.config)
  if (E.isLeft(llm)) return llm
  const cfg = llavaConfig(s.run.config), w: World = { tokenizer: s.tokenizer, layout: Llava.layout(cfg) }
  const stored: Stored = { names: Names.llava, config: cfg }
  // the frozen ViT's features off the tape
  const loss = (p: Llava.Params, b: Batch) => Llava.loss(p, cfg, b, { features: noGrad(() => Llava.features(p, cfg, b)) })
  const { projector, instruct } = Llava.stages
  const aligned = await train(s.here, 'projector', matched('align', projector.preset, beforeStage2), projector, captionsOf(s, w), loss, stored,
    Llava.fromParents(modelKey(s), cfg, teacher.right.vision, llm.right))
  if (E.isLeft(aligned) || !aligned.right) return aligned as E.Either<string, undefined>
  const tuned = await train(s.here, 'instruct', matched('stage2', instruct.preset), instruct, stage2Of(s, w), overParts(loss), stored, aligned.right)
  return E.map((p: Llava.Params | undefined) => (p ? { decoder: Llava.decoder(p, cfg, specialIds(w)), world: w } : undefined))(tuned)
}

/** SOLO from the run's LLM. */
async function solo(s: Setting): Promise<Trained> {
  const llm = await loadLlm(s.run.dir, s.run.config)
  if (E.isLeft(llm)) return llm
  const cfg = soloConfig(s.run.config), w: World = { tokenizer: s.tokenizer, layout: Solo.layout(cfg) }
  const stored: Stored = { names: Names.solo, config: cfg }
  const loss = (p: Solo.Params, b: Batch) => Solo.loss(p, cfg, b)
  const { captions, instruct } = Solo.stages
  const seen = await train(s.here, 'captions', matched('align', captions.preset, beforeStage2), captions, captionsOf(s, w), loss, stored,
    Solo.fromParents(modelKey(s), cfg, llm.right))
  if (E.isLeft(seen) || !seen.right) return seen as E.Either<string, undefined>
  const tuned = await train(s.here, 'instruct', matched('stage2', instruct.preset), instruct, stage2Of(s, w), overParts(loss), stored, seen.right)
  return E.map((p: Solo.Params | undefined) => (p ? { decoder: Solo.decoder(p, cfg, specialIds(w)), world: w } : undefined))(tuned)
}

/** The llava comparison's final model, which HoVLE distils from. */
async function llavaModel(s: Setting): Promise<E.Either<string, { readonly params: Llava.Params; readonly config: Llava.Config }>> {
  const path = join(designDir(s.run.dir, 'llava'), 'instruct.safetensors')
  if (!existsSync(path)) return E.left(`hovle distils the LLaVA-style model's visual tokens, and ${path} is not there: run haplovl compare llava first`)
  const teacher = await loadTeacher(s.run.dir, s.run.config)
  if (E.isLeft(teacher)) return teacher
  const cfg = llavaConfig(s.run.config)
  const template = Llava.fromParents(Key.key(0), cfg, teacher.right.vision, Llava.init(Key.key(0), cfg).llm)
  const loaded = await loadCheckpoint(path, template, { names: Names.llava })()
  return E.map((k: { readonly params: Llava.Params }) => ({ params: k.params, config: cfg }))(loaded)
}

/** HoVLE from the run's LLM, its module distilled from the LLaVA-style model's visual tokens. */
async function hovle(s: Setting): Promise<Trained> {
  const teacher = await llavaModel(s)
  if (E.isLeft(teacher)) return teacher
  const llm = await loadLlm(s.run.dir, s.run.config)
  if (E.isLeft(llm)) return llm
  const cfg = hovleConfig(s.run.config), w: World = { tokenizer: s.tokenizer, layout: Hovle.layout(cfg) }
  const stored: Stored = { names: Names.hovle, config: cfg }
  const visualTokens = Hovle.llavaTeacher(teacher.right.params, teacher.right.config)
  const loss = (p: Hovle.Params, b: Batch) => Hovle.loss(p, cfg, b)
  const { distill, align, finetune } = Hovle.stages
  const distilled = await train(s.here, 'distill', matched('stage1', distill.preset), distill,
    () => batches(w, s.run.seed, schedules.stage1.batch, Language.interleavedSample),
    (p: Hovle.Params, b: Batch) => Hovle.distillLoss(p, cfg, b, Hovle.imageTargets(visualTokens, cfg, b)), stored,
    Hovle.fromParents(modelKey(s), cfg, llm.right))
  if (E.isLeft(distilled) || !distilled.right) return distilled as E.Either<string, undefined>
  const aligned = await train(s.here, 'align', matched('align', align.preset), align, captionsOf(s, w), loss, stored, distilled.right)
  if (E.isLeft(aligned) || !aligned.right) return aligned as E.Either<string, undefined>
  const tuned = await train(s.here, 'finetune', matched('stage2', finetune.preset), finetune, stage2Of(s, w), overParts(loss), stored, aligned.right)
  return E.map((p: Hovle.Params | undefined) => (p ? { decoder: Hovle.decoder(p, cfg, specialIds(w)), world: w } : undefined))(tuned)
}

const trainers: Readonly<Record<Design, (s: Setting) => Promise<Trained>>> = { llava, solo, hovle }

/**
 * Train (or resume) `design` from the run's parents and evaluate it; writes eval.json and eval.md into its
 * directory. Undefined when Ctrl-C ended a training step or the evaluation early.
 */
export async function compare(ctx: RunContext, tokenizer: Tokenizer.Tokenizer, design: Design, o: {
  readonly perCategory?: number
} = {}): Promise<E.Either<string, Report | undefined>> {
  const here: RunContext = { ...ctx, dir: designDir(ctx.dir, design) }
  const trained = await trainers[design]({ run: ctx, here, tokenizer })
  if (E.isLeft(trained) || !trained.right) return trained as E.Either<string, undefined>
  const report = await evaluate(trained.right.decoder, trained.right.world, { ...o, onItem: (done, total) => ctx.onItem?.('eval', done, total), shouldStop: ctx.shouldStop })
  if (E.isLeft(report) || !report.right) return report
  writeFileSync(join(here.dir, 'eval.json'), `${JSON.stringify(report.right, null, 2)}\n`)
  writeFileSync(join(here.dir, 'eval.md'), `${table(report.right)}\n`)
  return report
}

// ---------------------------------------------------------------------------------------------------------------
// side by side
// ---------------------------------------------------------------------------------------------------------------

const readReport = (path: string): Report | undefined => (existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Report) : undefined)

/** The evaluated models of a run: HaploVL (its eval.json) and every design compared so far. */
export function reports(ctx: RunContext): Record<string, Report> {
  const names: Record<Design, string> = { llava: 'LLaVA-style', solo: 'SOLO', hovle: 'HoVLE' }
  const found: [string, Report | undefined][] = [
    ['HaploVL', readReport(pathOf(ctx, 'eval'))],
    ...designs.map((d): [string, Report | undefined] => [names[d], readReport(join(designDir(ctx.dir, d), 'eval.json'))]),
  ]
  return Object.fromEntries(found.filter((f): f is [string, Report] => f[1] !== undefined))
}

/** A markdown table: one row per set and category, one column per model, and the lookup readouts. */
export function sideBySide(models: Readonly<Record<string, Report>>): string {
  const entries = Object.entries(models)
  const perCell = (r: Report) => Object.values(Object.values(r.sets)[0] ?? {})[0]?.total ?? 0
  const sets = [...new Set(entries.flatMap(([, r]) => Object.keys(r.sets)))]
  const percent = (x: number | undefined) => (x === undefined ? '—' : `${(100 * x).toFixed(1)}%`)
  return [
    `| set | category | ${entries.map(([name, r]) => `${name} (${perCell(r)} per cell)`).join(' | ')} |`,
    `| --- | --- | ${entries.map(() => '---:').join(' | ')} |`,
    ...sets.flatMap((set) => Language.CATEGORIES.map((c) => `| ${set} | ${c} | ${entries.map(([, r]) => percent(r.sets[set]?.[c]?.accuracy)).join(' | ')} |`)),
    `| lookup | asked / other / neither | ${entries.map(([, r]) => `${r.lookup.target} / ${r.lookup.other} / ${r.lookup.neither}`).join(' | ')} |`,
  ].join('\n')
}
