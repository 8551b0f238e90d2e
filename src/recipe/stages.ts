/**
 * The paper's recipe on the synthetic world, one function per training step of it:
 *
 *   stage 1  modal expansion: HaploVL built from the two parents; L_v + L_feat + L_ctp on the interleaved mix;
 *            teacher and W frozen (the post-decoder and connector do not run); the heads are dropped afterwards
 *   align    the connector alone, next-token prediction on captions (HaploVL-7B's LLaVA-style step)
 *   stage 2  every parameter, next-token prediction on instructions (answers only)
 *
 * Each uses its paper optimiser preset (src/optim/presets.ts) scaled to the small run: the peak learning rate
 * is multiplied by an explicit `lrScale`, warm-up fraction, betas and decay are kept. Batches are pure functions
 * of (seed, step), so every stage resumes exactly from its checkpoint.
 */
import * as E from 'fp-ts/lib/Either.js'
import { appendFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { ops, type Tensor, type Tree } from '../../autograd/index.ts'
import * as Language from '../data/language.ts'
import * as Random from '../data/random.ts'
import type * as Tokenizer from '../data/tokenizer.ts'
import * as Heads from '../haplovl/heads.ts'
import { fromParents } from '../haplovl/init.ts'
import type { Config } from '../haplovl/config.ts'
import type { Params } from '../haplovl/model.ts'
import * as Names from '../haplovl/names.ts'
import { stage1Loss, stage2Loss, teacherTargets, type Stage1Params, type Stage1Terms } from '../haplovl/objectives.ts'
import type { Batch } from '../haplovl/sequence.ts'
import { loadCheckpoint } from '../io/checkpoint.ts'
import * as Presets from '../optim/presets.ts'
import type * as Llm from '../parents/llm.ts'
import type * as VisionTower from '../parents/vision-tower.ts'
import * as Key from '../random.ts'
import { runStage, type Result, type Stage, type StepRecord } from '../train/loop.ts'
import { type RunContext, type Step, logOf, pathOf } from './run.ts'
import { batchOf, partsOf, targetsIn, tokensIn, worldOf, type World } from './world.ts'

/** Steps, batch and learning-rate multiplier of each stage at the small scale (the paper's: Tables 8–9). */
export interface Schedule {
  readonly steps: number
  readonly batch: number
  readonly lrScale: number
}

/**
 * Sized so that the whole tiny pipeline fits in 30 minutes on 2 cores (steps take about 2.1 s, 2.3 s and 3.4 s
 * at tiny). Stage 1's losses flatten within ~80 steps; the rest of the time goes to stage 2, where the model
 * learns to read the image, slowly and only with a curriculum (`curriculum` below).
 */
export const schedules: Readonly<Record<'stage1' | 'align' | 'stage2', Schedule>> = {
  stage1: { steps: 60, batch: 8, lrScale: 10 }, // peak lr 1e-3
  align: { steps: 30, batch: 8, lrScale: 1 }, // peak lr 1e-3
  stage2: { steps: 280, batch: 8, lrScale: 50 }, // peak lr 1e-3
}

/** The samples of step s: made by `make` at indices that depend only on (seed, s, i). */
const samplesAt = (seed: number, batch: number, make: (index: number) => Language.Sample) => (s: number): Language.Sample[] =>
  Array.from({ length: batch }, (_, i) => make(Random.hash(seed, s, i) & (2 ** 29 - 1)))

/** Samples are cut to fit, so assembly cannot fail on world data. */
const orThrow = <A>(e: E.Either<string, A>): A => {
  if (E.isLeft(e)) throw new Error(e.left)
  return e.right
}

export const batches = (w: World, seed: number, batch: number, make: (index: number) => Language.Sample) => (s: number): Batch =>
  orThrow(batchOf(w, samplesAt(seed, batch, make)(s)))

/**
 * A next-token loss (mean over a batch's targets) over a batch given in parts: the mean over all their targets,
 * as one batch would give it.
 */
export const partsLoss = (loss: (b: Batch) => Tensor, parts: readonly Batch[]): Tensor => {
  const n = parts.map(targetsIn), total = n.reduce((a, b) => a + b, 0)
  return parts.flatMap((b, k) => (n[k]! > 0 ? [ops.scale(loss(b), n[k]! / total)] : [])).reduce((a, b) => ops.add(a, b))
}

/** How a stage's checkpoints name their tensors, and the model config their metadata records. */
export interface Stored {
  readonly names: (path: string) => string
  readonly config: object
}

/**
 * Everything a stage of the recipe needs besides its parameters. It keeps its checkpoint and log in the run
 * directory as `<step>.safetensors` and `<step>.jsonl`, stored as `stored` says (by default HaploVL's tensor names
 * and the run's config). `ctx.learn`, when given, replaces `trainable` (and is recorded in the checkpoint).
 */
export function stageOf<P extends Tree, A, B extends Batch | readonly Batch[] = Batch>(
  ctx: RunContext, step: string, s: Schedule, preset: Presets.Preset, trainable: (path: string) => boolean,
  batchAt: (step: number) => B, loss: Stage<P, B, A>['loss'], stored: Stored = { names: Names.haplovl, config: ctx.config },
): Stage<P, B, A> {
  const steps = ctx.steps ?? s.steps
  const run = Presets.scaleToRun(preset, { steps, batch: s.batch, lrScale: s.lrScale })
  mkdirSync(ctx.dir, { recursive: true })
  const log = logOf(ctx, step)
  return {
    name: step, steps, hyper: Presets.hyperAt(run), trainable: ctx.learn ? Presets.only(ctx.learn) : trainable, clipNorm: 1, batchAt, loss,
    tokensOf: (b: B) => ([] as Batch[]).concat(b).reduce((n, part) => n + tokensIn(part), 0), // a batch, or its parts
    checkpoint: {
      path: join(ctx.dir, `${step}.safetensors`), every: 50, names: stored.names,
      metadata: { config: stored.config, seed: ctx.seed, schedule: s, ...(ctx.learn ? { learn: ctx.learn } : {}) },
    },
    onStep: (r: StepRecord<A>) => {
      appendFileSync(log, `${JSON.stringify(r)}\n`)
      ctx.onStep?.(r as StepRecord<unknown>, steps)
    },
    ...(ctx.shouldStop ? { shouldStop: ctx.shouldStop } : {}),
  }
}

export interface Parents {
  readonly vision: VisionTower.Params
  readonly llm: Llm.Params
}

/** The key HaploVL is built from the parents with (its new layers: text projector, connector). */
export const stage1Key = (ctx: RunContext): Key.Key => Key.split(Key.key(ctx.seed), 2)[0]!

/** Stage 1: modal expansion of the pre-decoder. Returns the parameters with the stage-1 heads. */
export function trainStage1(ctx: RunContext, tokenizer: Tokenizer.Tokenizer, parents: Parents): Promise<E.Either<string, Result<Stage1Params, Stage1Terms>>> {
  const w = worldOf(tokenizer, ctx.config), c = ctx.config
  const initial: Stage1Params = { model: fromParents(stage1Key(ctx), c, parents.vision, parents.llm), heads: Heads.init(Key.split(Key.key(ctx.seed), 2)[1]!, c) }
  // frozen: the LLM table W (App. A), and what stage 1 does not run
  const trainable = Presets.allExcept(['model.embed.tokens', 'model.connector', 'model.postDecoder'])
  const teacher = parents.vision
  return runStage(
    stageOf<Stage1Params, Stage1Terms>(ctx, 'stage1', schedules.stage1, Presets.stage1, trainable,
      batches(w, ctx.seed, schedules.stage1.batch, Language.interleavedSample),
      (p, b) => stage1Loss(p, c, b, teacherTargets(teacher, c, b))),
    initial,
  )
}

/**
 * What stage 1 hands on: the model without its heads, its connector started from the text head's weight.
 * The text head learnt to map the pre-decoder's text states to the LLM's input embeddings W[token], which is
 * the connector's job for text tokens: the post-decoder then starts from the inputs the LLM was trained on,
 * and image tokens arrive in that same space. (The paper does not say how the connector starts; its 7B recipe
 * learns it from 558K captions, which a run of minutes cannot afford: from a random connector the LLM's
 * prior is lost and stage 2 learnt answer priors only.)
 */
export const handOn = (p: Stage1Params): Params => ({ ...p.model, connector: { weight: p.heads.text.weight } })

/** The connector-only alignment step, on captions. */
export function trainAlign(ctx: RunContext, tokenizer: Tokenizer.Tokenizer, model: Params): Promise<E.Either<string, Result<Params, undefined>>> {
  const w = worldOf(tokenizer, ctx.config)
  return runStage(
    stageOf<Params, undefined>(ctx, 'align', schedules.align, Presets.align, Presets.only(['connector']),
      batches(w, ctx.seed + 1, schedules.align.batch, Language.captionSample), (p, b): Tensor => stage2Loss(p, ctx.config, b)),
    model,
  )
}

/** A part of stage 2's curriculum: until which fraction of the steps it lasts, and what its instructions ask. */
export interface Lesson {
  readonly until: number
  readonly syllabus: Language.Syllabus
}

/**
 * Stage 2's curriculum.
 *
 * Mixed from the first step, the six categories leave the model answering from priors (also when run five
 * times longer: 1000 steps, still at chance). A concentrated dose of one kind of question teaches the model to
 * look an object up by its description and read it off the image: colour questions alone first, four to eight
 * per image, then all six with colour at half the questions. From one aligned model (held-out colour,
 * open-ended, of 40): the plain mixture 6; this curriculum 16; colour, size and position sharing the first
 * half 4; colour, then colour and size, then all 8. The lookup forms for one kind of question at a time.
 */
export const curriculum: readonly Lesson[] = [
  { until: 0.5, syllabus: { categories: ['color'], turns: [4, 8] } },
  { until: 1, syllabus: { categories: [...Array<Language.Category>(4).fill('color'), ...Language.CATEGORIES], turns: [2, 6] } },
]

/**
 * Stage 2's samples of each step, for a stage of `steps` steps: instructions (80%, following the curriculum),
 * captions and text-only dialogues. The comparison models (compare.ts) train on the same ones.
 */
export function stage2Samples(seed: number, steps: number): (step: number) => Language.Sample[] {
  const mix = (syllabus: Language.Syllabus) => (i: number): Language.Sample =>
    i % 10 < 8 ? Language.instructionSample(i, syllabus) : i % 10 === 8 ? Language.captionSample(i) : Language.dialogueSample(i)
  const lessons = curriculum.map((l) => ({ end: l.until * steps, samplesAt: samplesAt(seed + 2, schedules.stage2.batch, mix(l.syllabus)) }))
  return (step) => (lessons.find((l) => step < l.end) ?? lessons.at(-1)!).samplesAt(step)
}

/** A stage-2 step's batch, as two parts of similar lengths (`partsOf`) in the world's layout. */
export const stage2Batches = (w: World, seed: number, steps: number) => {
  const samples = stage2Samples(seed, steps)
  return (step: number): Batch[] => orThrow(partsOf(w, samples(step), 2))
}

/** Stage 2: full fine-tuning, next-token prediction on `stage2Samples`. */
export function trainStage2(ctx: RunContext, tokenizer: Tokenizer.Tokenizer, model: Params): Promise<E.Either<string, Result<Params, undefined>>> {
  const s = schedules.stage2, batchAt = stage2Batches(worldOf(tokenizer, ctx.config), ctx.seed, ctx.steps ?? s.steps)
  return runStage(
    stageOf<Params, undefined, readonly Batch[]>(ctx, 'stage2', s, Presets.stage2, () => true, batchAt, (p, b) => partsLoss((part) => stage2Loss(p, ctx.config, part), b)),
    model,
  )
}

/** What stage 1 saved: the model and its heads. */
export async function loadStage1(ctx: RunContext, template: Params): Promise<E.Either<string, Stage1Params>> {
  const loaded = await loadCheckpoint(pathOf(ctx, 'stage1'), { model: template, heads: Heads.init(Key.key(0), ctx.config) }, { names: Names.haplovl })()
  return E.map((k: { readonly params: Stage1Params }) => k.params)(loaded)
}

/** HaploVL's parameters after a stage; after stage 1, what it hands on (`handOn`). */
export async function loadModel(ctx: RunContext, step: 'stage1' | 'align' | 'stage2', template: Params): Promise<E.Either<string, Params>> {
  if (step === 'stage1') return E.map(handOn)(await loadStage1(ctx, template))
  const loaded = await loadCheckpoint(pathOf(ctx, step), template, { names: Names.haplovl })()
  return E.map((k: { readonly params: Params }) => k.params)(loaded)
}

