/**
 * The training commands: each builds the RunContext of the run directory, shows progress, turns Ctrl-C into a
 * stop after the current step (with a checkpoint), and calls the recipe (src/recipe).
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Pretrain from '../recipe/pretrain.ts'
import type { RunContext } from '../recipe/run.ts'
import { pathOf } from '../recipe/run.ts'
import type { Invocation, Outcome } from './invocation.ts'
import { onInterrupt, EXIT_INTERRUPTED } from './interrupt.ts'
import * as Progress from './progress.ts'

/**
 * Run `body` with a RunContext wired to a progress reporter and to Ctrl-C. The outcome is 0, or 130 when the
 * user interrupted (the stage saved its checkpoint and returned early).
 */
async function withContext<T>(a: Invocation, body: (ctx: RunContext) => Promise<E.Either<string, T>>, report: (value: T) => void = () => {}): Outcome {
  const progress = Progress.reporter({ write: a.io.write, tty: a.io.tty, columns: a.io.columns })
  const interrupt = onInterrupt((line) => (progress.finish(), a.io.err(line)))
  const ctx: RunContext = {
    dir: a.dir, config: a.config, seed: a.seed, ...(a.steps === undefined ? {} : { steps: a.steps }),
    onStep: progress.step, shouldStop: interrupt.shouldStop,
  }
  try {
    const result = await body(ctx)
    progress.finish()
    if (E.isLeft(result)) return result
    if (interrupt.shouldStop()) {
      a.io.err('stopped; run the same command again to resume from the checkpoint')
      return E.right(EXIT_INTERRUPTED)
    }
    report(result.right)
    return E.right(0)
  } finally {
    progress.finish()
    interrupt.dispose()
  }
}

const percent = (x: number) => `${(100 * x).toFixed(1)}%`

/** `haplovl pretrain tokenizer|teacher|llm` */
export function pretrain(a: Invocation): Outcome {
  const target = a.positionals[0] as 'tokenizer' | 'teacher' | 'llm'
  if (target === 'tokenizer')
    return withContext(a, Pretrain.trainTokenizer, (tok) => a.io.out(`tokenizer: ${tok.vocabSize} ids, saved in ${a.dir}`))
  if (target === 'teacher')
    return withContext(a, async (ctx) => {
      const tok = await Pretrain.trainTokenizer(ctx)
      return E.isLeft(tok) ? tok : Pretrain.pretrainTeacher(ctx, tok.right)
    }, (r) => {
      a.io.out('teacher zero-shot accuracy on held-out scenes:')
      for (const [probe, acc] of Object.entries(r.zeroShot)) a.io.out(`  ${probe.padEnd(26)} ${percent(acc)}`)
    })
  return withContext(a, async (ctx) => {
    const tok = await Pretrain.trainTokenizer(ctx)
    return E.isLeft(tok) ? tok : Pretrain.pretrainLlm(ctx, tok.right)
  }, (r) => a.io.out(`llm: held-out perplexity ${r.perplexity.toFixed(2)} (${Object.entries(r.perplexityByKind).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}), saved in ${pathOf({ dir: a.dir } as RunContext, 'llm')}`))
}

const unavailable = (what: string): Outcome => Promise.resolve(E.left(`${what} is not available in this build`))

/** `haplovl train stage1|align|stage2` */
export const train = (a: Invocation): Outcome => unavailable(`train ${a.positionals[0]}`)

/** `haplovl eval` */
export const evaluate = (_a: Invocation): Outcome => unavailable('eval')

/** `haplovl pipeline` */
export const pipeline = (_a: Invocation): Outcome => unavailable('pipeline')
