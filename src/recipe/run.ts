/**
 * What every step of the recipe (parents' pre-training, the stages, evaluation) is given, and where it keeps
 * its files. One run directory holds a whole reproduction:
 *
 *   tokenizer.json                 the BPE tokenizer trained on the world's corpus
 *   teacher.safetensors  .jsonl    the CLIP-style teacher (vision tower + text tower), contrastive
 *   llm.safetensors      .jsonl    the Llama-style LLM, next-token on text and captions
 *   stage1.safetensors   .jsonl    HaploVL after modal expansion (with the stage-1 heads)
 *   align.safetensors    .jsonl    after the connector-only alignment step
 *   stage2.safetensors   .jsonl    after full fine-tuning: the model `ask` and `eval` use
 *   eval.json                      accuracy per category, the retention probe
 *   plots/                         loss curves and attention pictures
 */
import { join } from 'node:path'
import type { Config } from '../haplovl/config.ts'
import type { StepRecord } from '../train/loop.ts'

export const files = {
  tokenizer: 'tokenizer.json',
  teacher: 'teacher.safetensors',
  llm: 'llm.safetensors',
  stage1: 'stage1.safetensors',
  align: 'align.safetensors',
  stage2: 'stage2.safetensors',
  eval: 'eval.json',
  plots: 'plots',
} as const

export type Step = 'teacher' | 'llm' | 'stage1' | 'align' | 'stage2'

export interface RunContext {
  readonly dir: string
  readonly config: Config
  readonly seed: number
  /** override a step's number of optimizer steps (tests and quick runs) */
  readonly steps?: number
  /** each finished optimizer step, for progress bars and JSON-lines logs */
  readonly onStep?: (record: StepRecord<unknown>, total: number) => void
  /** each piece of other long work done, for progress bars: `done` of `total` questions of an evaluation, rows of a probe */
  readonly onItem?: (label: string, done: number, total: number) => void
  /** polled after every step: true ends the step with a checkpoint (Ctrl-C) */
  readonly shouldStop?: () => boolean
  /** train only the parameters under these dotted prefixes ("connector", "postDecoder.blocks.0"), not the stage's own choice */
  readonly learn?: readonly string[]
}

/**
 * Between two pieces of work that never yield by themselves (asking the model questions, probing it): let the
 * event loop run, so that a Ctrl-C is heard, and tell whether to stop.
 */
export const stopHere = async (shouldStop: (() => boolean) | undefined): Promise<boolean> => {
  await new Promise((resolve) => setImmediate(resolve))
  return shouldStop?.() ?? false
}

export const pathOf = (ctx: RunContext, file: keyof typeof files | Step): string => join(ctx.dir, files[file])
export const logOf = (ctx: RunContext, step: string): string => join(ctx.dir, `${step}.jsonl`)
