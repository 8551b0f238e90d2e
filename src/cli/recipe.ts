/**
 * The training commands: each will build the RunContext of the run directory, show progress, turn Ctrl-C into
 * a stop after the current step (with a checkpoint), and call the recipe (src/recipe).
 */
import * as E from 'fp-ts/lib/Either.js'
import type { Invocation, Outcome } from './invocation.ts'

const unavailable = (what: string): Outcome => Promise.resolve(E.left(`${what} is not available in this build`))

/** `haplovl pretrain tokenizer|teacher|llm` */
export const pretrain = (a: Invocation): Outcome => unavailable(`pretrain ${a.positionals[0]}`)

/** `haplovl train stage1|align|stage2` */
export const train = (a: Invocation): Outcome => unavailable(`train ${a.positionals[0]}`)

/** `haplovl eval` */
export const evaluate = (_a: Invocation): Outcome => unavailable('eval')

/** `haplovl pipeline` */
export const pipeline = (_a: Invocation): Outcome => unavailable('pipeline')
