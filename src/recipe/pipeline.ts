/**
 * The whole reproduction, from nothing to an evaluated model, in order:
 *   tokenizer → teacher (contrastive) → LLM (next-token) → stage 1 → align → stage 2 → evaluation
 * Every training step resumes from its checkpoint (a finished one is not rerun), so an interrupted pipeline
 * continues where it stopped. The time of each phase and the training throughput go to pipeline.json.
 * The evaluation also runs the teacher's zero-shot retention probe (retention.ts) on the stage-1 and stage-2 models.
 */
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import type * as Tokenizer from '../data/tokenizer.ts'
import { trainTokenizer, pretrainTeacher, pretrainLlm, loadTeacher, loadLlm, type Teacher } from './pretrain.ts'
import { trainStage1, trainAlign, trainStage2, loadModel, loadStage1, handOn, stage1Key } from './stages.ts'
import { evaluate, table, type Report } from './evaluate.ts'
import { specialIds, worldOf } from './world.ts'
import { decoder } from '../haplovl/generate.ts'
import { retention, type Probed } from './retention.ts'
import { type RunContext, type Step, pathOf } from './run.ts'
import { fromParents, fromScratch } from '../haplovl/init.ts'
import type { Params } from '../haplovl/model.ts'
import * as Key from '../random.ts'
import type * as Llm from '../parents/llm.ts'

export interface Phase {
  readonly name: string
  readonly seconds: number
  /** training tokens per second (training phases) */
  readonly tokensPerSecond?: number
  /** what the phase reports: zero-shot accuracies, perplexity, final loss, … */
  readonly results?: Record<string, unknown>
  /** the phase continued from a checkpoint of an interrupted run: `seconds` covers only this run's part */
  readonly resumed?: true
}

/**
 * The retention probe's rows for a run: the teacher, the stage-1 model (vision head and direct, when its
 * checkpoint is there) and the stage-2 model (direct). None when the run holds no teacher (a shipped model),
 * or when `ctx.shouldStop` ended the probe early.
 */
async function runRetention(ctx: RunContext, tokenizer: Tokenizer.Tokenizer, stage2: Params): Promise<E.Either<string, Report['retention']>> {
  if (!existsSync(pathOf(ctx, 'teacher'))) return E.right(undefined)
  const teacher = await loadTeacher(ctx.dir, ctx.config)
  if (E.isLeft(teacher)) return teacher
  const c = ctx.config
  const models: Record<string, Probed> = {}
  if (existsSync(pathOf(ctx, 'stage1'))) {
    const stage1 = await loadStage1(ctx, fromScratch(Key.key(0), c))
    if (E.isLeft(stage1)) return stage1
    models.stage1 = stage1.right
  }
  models.stage2 = { model: stage2 }
  return E.right(await retention(teacher.right, tokenizer, c, models, { shouldStop: ctx.shouldStop, onRow: (done, total) => ctx.onItem?.('retention', done, total) }))
}

/**
 * Evaluate the run's stage-2 model and write eval.json (and eval.md, the tables), with the retention probe.
 * Undefined, with nothing written, when `ctx.shouldStop` (Ctrl-C) ended the evaluation early.
 */
export async function evaluateRun(ctx: RunContext, tokenizer: Tokenizer.Tokenizer, perCategory?: number): Promise<E.Either<string, Report | undefined>> {
  const model = await loadModel(ctx, 'stage2', fromScratch(Key.key(0), ctx.config))
  if (E.isLeft(model)) return model
  const w = worldOf(tokenizer, ctx.config)
  const evaluated = await evaluate(decoder(model.right, ctx.config, specialIds(w)), w, {
    ...(perCategory ? { perCategory } : {}), onItem: (done, total) => ctx.onItem?.('eval', done, total), shouldStop: ctx.shouldStop,
  })
  if (E.isLeft(evaluated) || !evaluated.right) return evaluated
  const rows = await runRetention(ctx, tokenizer, model.right)
  if (E.isLeft(rows)) return rows
  if (ctx.shouldStop?.()) return E.right(undefined) // stopped during the probe: nothing is written
  const report: Report = { ...evaluated.right, ...(rows.right ? { retention: rows.right } : {}) }
  writeFileSync(pathOf(ctx, 'eval'), `${JSON.stringify(report, null, 2)}\n`)
  writeFileSync(join(ctx.dir, 'eval.md'), `${table(report)}\n`)
  return E.right(report)
}

const throughput = (records: readonly { tokens: number; seconds: number }[]): number =>
  records.reduce((s, r) => s + r.tokens, 0) / Math.max(1e-9, records.reduce((s, r) => s + r.seconds, 0))

/** The phases an earlier run of the pipeline finished, as its pipeline.json records them. */
function finishedBefore(ctx: RunContext): readonly Phase[] {
  try {
    const phases: unknown = JSON.parse(readFileSync(join(ctx.dir, 'pipeline.json'), 'utf8'))
    return Array.isArray(phases) ? (phases as Phase[]) : []
  } catch {
    return []
  }
}

/**
 * Run every phase; `onPhase` hears each finished phase. A phase an earlier run finished (its file was there
 * and pipeline.json records it) keeps its recorded time instead of the time it took to load.
 */
export async function pipeline(ctx: RunContext, o: {
  readonly perCategory?: number
  /** skip stage 1: alignment starts from the model built from the parents (the paper's ablation, Table 7) */
  readonly withoutStage1?: boolean
  readonly onPhase?: (p: Phase) => void
} = {}): Promise<E.Either<string, readonly Phase[]>> {
  mkdirSync(ctx.dir, { recursive: true })
  const before = finishedBefore(ctx)
  const phases: Phase[] = []
  const stopped = () => ctx.shouldStop?.() ?? false
  /**
   * Runs a phase; `run` hears whether an earlier run finished it (then its results are on record already). A
   * phase cut short by a stop is not recorded, so the next run trains it on from its checkpoint.
   */
  const timed = async <T>(name: Step | 'tokenizer' | 'eval', run: (finished: boolean) => Promise<E.Either<string, T>>, describe: (t: T) => Omit<Phase, 'name' | 'seconds'>): Promise<E.Either<string, T>> => {
    const existed = name !== 'eval' && existsSync(pathOf(ctx, name))
    const recorded = existed ? before.find((p) => p.name === name) : undefined
    const started = performance.now()
    const result = await run(recorded !== undefined)
    if (E.isRight(result) && !stopped()) {
      const phase = recorded ?? { name, seconds: (performance.now() - started) / 1000, ...describe(result.right), ...(existed ? { resumed: true as const } : {}) }
      phases.push(phase)
      o.onPhase?.(phase)
      writeFileSync(join(ctx.dir, 'pipeline.json'), `${JSON.stringify(phases, null, 2)}\n`)
    }
    return result
  }
  const tokenizer = await timed('tokenizer', () => trainTokenizer(ctx), (t) => ({ results: { vocabulary: t.vocabSize } }))
  if (E.isLeft(tokenizer)) return tokenizer
  const tok = tokenizer.right
  // a finished parent is loaded, not probed again: its zero-shot accuracy (perplexity) is in pipeline.json
  const teacher = await timed<{ readonly params: Teacher; readonly zeroShot?: Record<string, number> }>('teacher',
    async (finished) => (finished ? E.map((params: Teacher) => ({ params }))(await loadTeacher(ctx.dir, ctx.config)) : pretrainTeacher(ctx, tok)),
    (r) => ({ results: { zeroShot: r.zeroShot } }))
  if (E.isLeft(teacher) || stopped()) return E.isLeft(teacher) ? teacher : E.right(phases)
  const llm = await timed<{ readonly params: Llm.Params; readonly perplexity?: number; readonly perplexityByKind?: Record<string, number> }>('llm',
    async (finished) => (finished ? E.map((params: Llm.Params) => ({ params }))(await loadLlm(ctx.dir, ctx.config)) : pretrainLlm(ctx, tok)),
    (r) => ({ results: { perplexity: r.perplexity, byKind: r.perplexityByKind } }))
  if (E.isLeft(llm) || stopped()) return E.isLeft(llm) ? llm : E.right(phases)
  const parents = { vision: teacher.right.params.vision, llm: llm.right.params }
  let start: Params
  if (o.withoutStage1) start = fromParents(stage1Key(ctx), ctx.config, parents.vision, parents.llm)
  else {
    const stage1 = await timed('stage1', () => trainStage1(ctx, tok, parents),
      (r) => ({ tokensPerSecond: throughput(r.records), results: { finalLoss: r.records.at(-1)?.loss, terms: r.records.at(-1)?.terms } }))
    if (E.isLeft(stage1) || stopped()) return E.isLeft(stage1) ? stage1 : E.right(phases)
    start = handOn(stage1.right.params)
  }
  const aligned = await timed('align', () => trainAlign(ctx, tok, start), (r) => ({ tokensPerSecond: throughput(r.records), results: { finalLoss: r.records.at(-1)?.loss } }))
  if (E.isLeft(aligned) || stopped()) return E.isLeft(aligned) ? aligned : E.right(phases)
  const stage2 = await timed('stage2', () => trainStage2(ctx, tok, aligned.right.params), (r) => ({ tokensPerSecond: throughput(r.records), results: { finalLoss: r.records.at(-1)?.loss } }))
  if (E.isLeft(stage2) || stopped()) return E.isLeft(stage2) ? stage2 : E.right(phases)
  const report = await timed('eval', () => evaluateRun(ctx, tok, o.perCategory), (r) => (r ? { results: r.sets } : {}))
  if (E.isLeft(report)) return report
  return E.right(phases)
}

