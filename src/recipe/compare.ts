/**
 * The paper's comparison with a compositional model (HaploVL against LLaVA-1.5 built on the same LLM and data,
 * its Tables 4–5) at the run's scale: a LLaVA-style model (src/variants/llava.ts) made from this run's own
 * parents, the teacher's ViT (frozen, as LLaVA's CLIP ViT is) and the LLM, trained on the same data for as many
 * steps as HaploVL, and asked the same questions.
 *
 *   projector   the projector alone, next-token on captions, for as many steps as HaploVL's stage 1 and align
 *               take together (LLaVA's stage 1, `Llava.stages.projector`)
 *   instruct    projector and LLM, next-token on stage 2's own samples: the same curriculum, seed, schedule and
 *               two-part batches as `trainStage2` (LLaVA's stage 2, `Llava.stages.instruct`)
 *   eval        `evaluate`, as for HaploVL
 *
 * Its files go to RUN/llava/: projector.safetensors, instruct.safetensors (with .jsonl logs), eval.json and
 * eval.md. Each step resumes from its checkpoint, as the pipeline's do.
 */
import * as E from 'fp-ts/lib/Either.js'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { noGrad } from '../../autograd/index.ts'
import * as Language from '../data/language.ts'
import type * as Tokenizer from '../data/tokenizer.ts'
import type { Config } from '../haplovl/config.ts'
import type { Batch } from '../haplovl/sequence.ts'
import * as Names from '../haplovl/names.ts'
import * as Key from '../random.ts'
import { runStage } from '../train/loop.ts'
import * as Llava from '../variants/llava.ts'
import { evaluate, table, type Report } from './evaluate.ts'
import { loadLlm, loadTeacher } from './pretrain.ts'
import { type RunContext, pathOf } from './run.ts'
import { batches, partsLoss, schedules, stage2Batches, stageOf } from './stages.ts'
import { specialIds, type World } from './world.ts'

/** The comparison's directory inside a run. */
export const llavaDir = (dir: string): string => join(dir, 'llava')

/** LLaVA at HaploVL's config: its ViT and LLM, the ViT's penultimate layer (LLaVA-1.5's choice), the same longest sequence. */
export const llavaConfig = (c: Config): Llava.Config =>
  ({ name: `llava-${c.name}`, vision: c.vision, llm: c.llm, selectLayer: Math.max(0, c.vision.layers - 2), maxTokens: c.maxTokens })

/** Next-token loss with the frozen ViT's features computed off the tape. */
const lossOf = (cfg: Llava.Config) => (p: Llava.Params, b: Batch) =>
  Llava.loss(p, cfg, b, { features: noGrad(() => Llava.features(p, cfg, b)) })

/**
 * Train (or resume) the LLaVA-style model from the run's parents and evaluate it; writes eval.json and eval.md.
 * Undefined when `ctx.shouldStop` ended a training step early (its checkpoint is saved).
 */
export async function compareLlava(ctx: RunContext, tokenizer: Tokenizer.Tokenizer, o: {
  readonly perCategory?: number
  readonly onItem?: (done: number, total: number) => void
} = {}): Promise<E.Either<string, Report | undefined>> {
  const teacher = await loadTeacher(ctx.dir, ctx.config)
  if (E.isLeft(teacher)) return teacher
  const llm = await loadLlm(ctx.dir, ctx.config)
  if (E.isLeft(llm)) return llm
  const cfg = llavaConfig(ctx.config)
  const valid = Llava.validate(cfg)
  if (E.isLeft(valid)) return valid
  const here: RunContext = { ...ctx, dir: llavaDir(ctx.dir) }
  const w: World = { tokenizer, layout: Llava.layout(cfg) }
  const initial = Llava.fromParents(Key.split(Key.key(ctx.seed), 2)[0]!, cfg, teacher.right.vision, llm.right)

  const projectorSchedule = { ...schedules.align, steps: schedules.stage1.steps + schedules.align.steps }
  const captions = batches(w, ctx.seed + 1, projectorSchedule.batch, Language.captionSample) // align's captions, then more
  const { projector, instruct } = Llava.stages
  const aligned = await runStage(stageOf<Llava.Params, undefined>(here, 'projector', projectorSchedule, projector.preset, projector.trainable,
    captions, lossOf(cfg), Names.llava), initial)
  if (E.isLeft(aligned) || ctx.shouldStop?.()) return E.isLeft(aligned) ? aligned : E.right(undefined)

  const s = schedules.stage2, loss = lossOf(cfg)
  const tuned = await runStage(stageOf<Llava.Params, undefined, readonly Batch[]>(here, 'instruct', s, instruct.preset, instruct.trainable,
    stage2Batches(w, ctx.seed, ctx.steps ?? s.steps), (p, parts) => partsLoss((b) => loss(p, b), parts), Names.llava), aligned.right.params)
  if (E.isLeft(tuned) || ctx.shouldStop?.()) return E.isLeft(tuned) ? tuned : E.right(undefined)

  const report = evaluate(Llava.decoder(tuned.right.params, cfg, specialIds(w)), w, o)
  if (E.isLeft(report)) return report
  writeFileSync(join(here.dir, 'eval.json'), `${JSON.stringify(report.right, null, 2)}\n`)
  writeFileSync(join(here.dir, 'eval.md'), `${table(report.right)}\n`)
  return report
}

/** HaploVL's report of the run beside the comparison's, when the run has one. */
export function haplovlReport(ctx: RunContext): Report | undefined {
  const path = pathOf(ctx, 'eval')
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Report) : undefined
}

/** A markdown table: one row per category and set, one column per model, and the lookup readouts. */
export function sideBySide(models: Readonly<Record<string, Report>>): string {
  const reports = Object.values(models)
  const names = Object.entries(models).map(([name, r]) => `${name} (${Object.values(Object.values(r.sets)[0] ?? {})[0]?.total ?? 0} per cell)`)
  const sets = Object.keys(reports[0]!.sets)
  const percent = (x: number | undefined) => (x === undefined ? '—' : `${(100 * x).toFixed(1)}%`)
  const lookup = (r: Report) => `${r.lookup.target} / ${r.lookup.other} / ${r.lookup.neither}`
  return [
    `| set | category | ${names.join(' | ')} |`, `| --- | --- | ${names.map(() => '---:').join(' | ')} |`,
    ...sets.flatMap((set) => Language.CATEGORIES.map((c) => `| ${set} | ${c} | ${reports.map((r) => percent(r.sets[set]?.[c]?.accuracy)).join(' | ')} |`)),
    `| lookup | asked / other / neither | ${reports.map(lookup).join(' | ')} |`,
  ].join('\n')
}
