/**
 * The training commands: each builds the RunContext of the run directory, shows progress, turns Ctrl-C into a
 * stop after the current step (with a checkpoint), and calls the recipe (src/recipe). A step needs the files
 * of the steps before it in the run directory: the tokenizer, the parents, the previous stage's checkpoint.
 */
import * as E from 'fp-ts/lib/Either.js'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as Tokenizer from '../data/tokenizer.ts'
import { entries } from '../../autograd/index.ts'
import * as Heads from '../haplovl/heads.ts'
import { fromScratch } from '../haplovl/init.ts'
import { under } from '../optim/presets.ts'
import * as Random from '../random.ts'
import { table } from '../recipe/evaluate.ts'
import * as Compare from '../recipe/compare.ts'
import type { Design } from '../recipe/compare.ts'
import { evaluateRun, pipeline as runPipeline, type Phase } from '../recipe/pipeline.ts'
import * as Pretrain from '../recipe/pretrain.ts'
import type { RunContext } from '../recipe/run.ts'
import { pathOf } from '../recipe/run.ts'
import * as Stages from '../recipe/stages.ts'
import type { StepRecord } from '../train/loop.ts'
import type { Invocation, Outcome } from './invocation.ts'
import { onInterrupt, EXIT_INTERRUPTED } from './interrupt.ts'
import { drawRun, defaultOut } from './plot.ts'
import * as Progress from './progress.ts'

/**
 * Run `body` with a RunContext wired to a progress reporter and to Ctrl-C. The outcome is 0, or 130 when the
 * user interrupted: training stops after its current step (with a checkpoint), evaluation after its current
 * question, the body returns early, and `stopped` tells the user what happens next.
 */
async function withContext<T>(
  a: Invocation, body: (ctx: RunContext, progress: Progress.Reporter) => Promise<E.Either<string, T>>, report: (value: T) => void | Promise<void> = () => {},
  stopped = 'stopped; run the same command again to resume from the checkpoint',
): Outcome {
  const progress = Progress.reporter({ write: a.io.write, tty: a.io.tty, columns: a.io.columns })
  const interrupt = onInterrupt((line) => (progress.finish(), a.io.err(line)))
  const ctx: RunContext = {
    dir: a.dir, config: a.config, seed: a.seed, ...(a.steps === undefined ? {} : { steps: a.steps }),
    onStep: progress.step, onItem: progress.items, shouldStop: interrupt.shouldStop,
  }
  try {
    const result = await body(ctx, progress)
    progress.finish()
    if (E.isLeft(result)) return result
    if (interrupt.shouldStop()) {
      a.io.err(stopped)
      return E.right(EXIT_INTERRUPTED)
    }
    await report(result.right)
    return E.right(0)
  } finally {
    progress.finish()
    interrupt.dispose()
  }
}

const percent = (x: number) => `${(100 * x).toFixed(1)}%`

/** The run's tokenizer, which every step after `pretrain tokenizer` needs. */
const tokenizerOf = (ctx: RunContext) =>
  Tokenizer.load(pathOf(ctx, 'tokenizer'))().then(E.mapLeft((e) => (e.endsWith('no such file') ? `${e} (run haplovl pretrain tokenizer first)` : e)))

/** The last loss of a stage's records. */
const lastLoss = (records: readonly StepRecord<unknown>[]): string => records.at(-1)?.loss.toFixed(4) ?? '?'

// ---------------------------------------------------------------------------------------------------------------
// pretrain
// ---------------------------------------------------------------------------------------------------------------

/** `haplovl pretrain tokenizer|teacher|llm` */
export function pretrain(a: Invocation): Outcome {
  const target = a.positionals[0] as 'tokenizer' | 'teacher' | 'llm'
  if (target === 'tokenizer')
    return withContext(a, Pretrain.trainTokenizer, (tok) => a.io.out(`tokenizer: ${tok.vocabSize} ids in ${pathOf({ dir: a.dir } as RunContext, 'tokenizer')}`))
  if (target === 'teacher')
    return withContext(a, async (ctx) => {
      const tok = await Pretrain.trainTokenizer(ctx)
      return E.isLeft(tok) ? tok : Pretrain.pretrainTeacher(ctx, tok.right)
    }, ({ zeroShot = {} }) => { // (a stopped run, which has no probes, ends before its report)
      a.io.out('teacher zero-shot accuracy on held-out scenes:')
      for (const [probe, acc] of Object.entries(zeroShot)) a.io.out(`  ${probe.padEnd(26)} ${percent(acc)}`)
    })
  return withContext(a, async (ctx) => {
    const tok = await Pretrain.trainTokenizer(ctx)
    return E.isLeft(tok) ? tok : Pretrain.pretrainLlm(ctx, tok.right)
  }, ({ perplexity = NaN, perplexityByKind = {} }) =>
    a.io.out(`llm: held-out perplexity ${perplexity.toFixed(2)} (${Object.entries(perplexityByKind).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')})`))
}

// ---------------------------------------------------------------------------------------------------------------
// train
// ---------------------------------------------------------------------------------------------------------------

/** Stage 1 from the run's parents; align from stage 1; stage 2 from align. */
async function trainStep(ctx: RunContext, step: 'stage1' | 'align' | 'stage2'): Promise<E.Either<string, readonly StepRecord<unknown>[]>> {
  const tok = await tokenizerOf(ctx)
  if (E.isLeft(tok)) return tok
  if (step === 'stage1') {
    const teacher = await Pretrain.loadTeacher(ctx.dir, ctx.config)
    if (E.isLeft(teacher)) return teacher
    const llm = await Pretrain.loadLlm(ctx.dir, ctx.config)
    if (E.isLeft(llm)) return llm
    return E.map((r: { records: readonly StepRecord<unknown>[] }) => r.records)(await Stages.trainStage1(ctx, tok.right, { vision: teacher.right.vision, llm: llm.right }))
  }
  const from = step === 'align' ? 'stage1' : 'align'
  const model = await Stages.loadModel(ctx, from, fromScratch(Random.key(0), ctx.config))
  if (E.isLeft(model)) return E.left(`${step} starts from ${from}: ${model.left}`)
  const result = step === 'align' ? await Stages.trainAlign(ctx, tok.right, model.right) : await Stages.trainStage2(ctx, tok.right, model.right)
  return E.map((r: { records: readonly StepRecord<unknown>[] }) => r.records)(result)
}

/**
 * `--learn a,b`: the dotted prefixes of the parameters that learn, each checked against the stage's parameter
 * tree (stage 1 trains the model and its heads: "model.preDecoder", "heads"). Undefined without the flag.
 */
function learnOf(a: Invocation, step: 'stage1' | 'align' | 'stage2'): E.Either<string, readonly string[] | undefined> {
  const text = a.get<string>('learn', '')
  if (text === '') return E.right(undefined)
  const prefixes = text.split(',').map((p) => p.trim()).filter((p) => p !== '')
  const model = fromScratch(Random.key(0), a.config)
  const paths = entries(step === 'stage1' ? { model, heads: Heads.init(Random.key(0), a.config) } : model).map(([path]) => path)
  const unknown = prefixes.find((p) => !paths.some((path) => under(path, p)))
  if (prefixes.length > 0 && unknown === undefined) return E.right(prefixes)
  const parts = [...new Set(paths.map((path) => path.split('.').slice(0, step === 'stage1' ? 3 : 2).join('.')))]
  return E.left(`--learn: ${unknown === undefined ? 'no prefix given' : `'${unknown}' names no parameter of ${step}`}; its parameters are under ${parts.join(', ')}`)
}

/** `haplovl train stage1|align|stage2` */
export function train(a: Invocation): Outcome {
  const step = a.positionals[0] as 'stage1' | 'align' | 'stage2'
  const learn = learnOf(a, step)
  if (E.isLeft(learn)) return Promise.resolve(learn)
  return withContext(a, (ctx) => trainStep(learn.right ? { ...ctx, learn: learn.right } : ctx, step), (records) =>
    a.io.out(records.length === 0 ? `${step}: already trained (${pathOf({ dir: a.dir } as RunContext, step)})` : `${step}: final loss ${lastLoss(records)}, saved in ${pathOf({ dir: a.dir } as RunContext, step)}`))
}

// ---------------------------------------------------------------------------------------------------------------
// eval and pipeline
// ---------------------------------------------------------------------------------------------------------------

/** `haplovl eval` */
export function evaluate(a: Invocation): Outcome {
  const perCategory = a.get('questions', 40)
  return withContext(a, async (ctx) => {
    const tok = await tokenizerOf(ctx)
    return E.isLeft(tok) ? tok : evaluateRun(ctx, tok.right, perCategory)
  }, (report) => {
    if (!report) return // stopped: withContext has said so
    a.io.out(table(report))
    a.io.out(`wrote ${pathOf({ dir: a.dir } as RunContext, 'eval')}`)
  }, 'stopped before the end; nothing written')
}

/** `haplovl compare llava|solo|hovle` */
export function compare(a: Invocation): Outcome {
  const design = a.positionals[0] as Design
  const perCategory = a.get('questions', 40)
  return withContext(a, async (ctx) => {
    const tok = await tokenizerOf(ctx)
    return E.isLeft(tok) ? tok : Compare.compare(ctx, tok.right, design, { perCategory })
  }, async (report) => {
    if (!report) return // stopped: withContext has said how to resume
    a.io.out(table(report))
    a.io.out(`wrote ${join(Compare.designDir(a.dir, design), 'eval.json')}`)
    const side = Compare.sideBySide(Compare.reports({ dir: a.dir } as RunContext))
    await writeFile(join(a.dir, 'compare.md'), `${side}\n`)
    a.io.out(side)
    a.io.out(`wrote ${join(a.dir, 'compare.md')}`)
  })
}

const phaseLine = (p: Phase): string =>
  `${p.name}: done in ${p.seconds.toFixed(0)} s${p.tokensPerSecond === undefined ? '' : `, ${Progress.count(p.tokensPerSecond)} tokens/s`}`

/** `haplovl pipeline` */
export function pipeline(a: Invocation): Outcome {
  const perCategory = a.get('questions', 40)
  const withoutStage1 = a.get('without-stage1', false)
  return withContext(a, (ctx, progress) => runPipeline(ctx, { perCategory, withoutStage1, onPhase: (p) => (progress.finish(), a.io.out(phaseLine(p))) }), async (phases) => {
    const total = Math.round(phases.reduce((t, p) => t + p.seconds, 0))
    a.io.out(`pipeline: ${Math.floor(total / 60)} min ${total % 60} s in all${phases.some((p) => p.resumed) ? ' (a resumed phase counts only its last run)' : ''}`)
    if (phases.some((p) => p.name === 'eval')) {
      const md = await readFile(join(a.dir, 'eval.md'), 'utf8').catch(() => '')
      if (md !== '') a.io.out(md.trimEnd())
    }
    const out = defaultOut(a.dir)
    const drawn = await drawRun(a.dir, out, 0.6)
    a.io.out(E.isLeft(drawn) ? `no loss curves: ${drawn.left}` : `wrote ${out}`)
  })
}
