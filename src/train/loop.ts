/**
 * One training stage: AdamW steps over a parameter tree, with a learning-rate schedule, global-norm clipping,
 * a frozen-parameter rule, JSON-ready step records, periodic checkpoints and exact resume.
 *
 * Exact resume rests on one rule: the batch of step s is a pure function of s (`batchAt`), and so is the
 * learning rate. A checkpoint then needs only the parameters, the AdamW moments and the step count; a resumed
 * run takes the same batches, in the same order, with the same state, and reproduces the same losses bit for bit.
 *
 * A non-finite loss stops the stage before the optimizer runs, keeping the last good checkpoint on disk.
 * `shouldStop` (e.g. set by Ctrl-C) ends the stage after the current step, with a checkpoint.
 */
import { existsSync } from 'node:fs'
import * as E from 'fp-ts/lib/Either.js'
import { valueAndGrad, tidy, NonFiniteError, type Tensor, type Tree, type WithAux } from '../../autograd/index.ts'
import * as AdamW from '../optim/adamw.ts'
import { clipByGlobalNorm } from '../optim/clip.ts'
import { saveCheckpoint, loadCheckpoint, type RunInfo } from '../io/checkpoint.ts'
import type { Names } from '../io/safetensors.ts'

export interface StepRecord<A> {
  readonly stage: string
  readonly step: number
  readonly loss: number
  /** the separate loss terms, when the loss reports them */
  readonly terms?: A
  readonly lr: number
  readonly gradNorm: number
  readonly tokens: number
  readonly seconds: number
}

export interface Stage<P extends Tree, B, A> {
  readonly name: string
  readonly steps: number
  readonly hyper: (step: number) => AdamW.Hyper
  readonly trainable: AdamW.Trainable
  /** clip the global gradient norm to this (none when absent) */
  readonly clipNorm?: number
  /** the batch of step s: must depend on s alone */
  readonly batchAt: (step: number) => B
  /** tokens in a batch, for throughput */
  readonly tokensOf?: (batch: B) => number
  readonly loss: (params: P, batch: B) => Tensor | WithAux<A>
  readonly checkpoint?: {
    readonly path: string
    /** save every this many steps (and at the end, and when stopped) */
    readonly every: number
    readonly names?: Names
    readonly metadata?: RunInfo
    /** continue from the file at `path` when it exists (default true) */
    readonly resume?: boolean
  }
  readonly onStep?: (record: StepRecord<A>) => void
  readonly shouldStop?: () => boolean
}

export interface Result<P extends Tree, A> {
  readonly params: P
  readonly state: AdamW.State<P>
  readonly records: readonly StepRecord<A>[]
  /** why the stage ended early, if it did */
  readonly stopped?: 'interrupted'
  /** the step it resumed from (0 for a fresh start) */
  readonly resumedFrom: number
}

export async function runStage<P extends Tree, B, A = undefined>(stage: Stage<P, B, A>, initial: P): Promise<E.Either<string, Result<P, A>>> {
  let params = initial
  let state = AdamW.init(params)
  const ckpt = stage.checkpoint
  if (ckpt && (ckpt.resume ?? true) && existsSync(ckpt.path)) {
    const loaded = await loadCheckpoint(ckpt.path, params, ckpt.names ? { names: ckpt.names } : {})()
    if (E.isLeft(loaded)) return E.left(`${stage.name}: cannot resume: ${loaded.left}`)
    if (!loaded.right.optimizer) return E.left(`${stage.name}: cannot resume: ${ckpt.path} holds no optimizer state`)
    params = loaded.right.params
    state = loaded.right.optimizer
  }
  const resumedFrom = state.step
  let savedStep: number | null = resumedFrom > 0 ? resumedFrom : null
  const save = async (): Promise<E.Either<string, void>> => {
    if (!ckpt) return E.right(undefined)
    const metadata = { ...(ckpt.metadata ?? {}), stage: stage.name, step: state.step }
    const saved = await saveCheckpoint(ckpt.path, { params, optimizer: state, metadata }, ckpt.names ? { names: ckpt.names } : {})()
    if (E.isRight(saved)) savedStep = state.step
    return saved
  }

  const records: StepRecord<A>[] = []
  const step = valueAndGrad(stage.loss, stage.trainable) // frozen layers get no backward pass
  while (state.step < stage.steps) {
    const started = performance.now()
    const s = state.step
    const batch = stage.batchAt(s)
    const h = stage.hyper(s)
    let outcome: { value: number; aux: A; norm: number }
    try {
      outcome = tidy(() => {
        const { value, grads, aux } = step(params, batch)
        const clipped = stage.clipNorm === undefined ? { grads, norm: NaN } : clipByGlobalNorm(grads, stage.clipNorm, stage.trainable)
        const next = AdamW.update(params, clipped.grads, state, h, stage.trainable)
        if (stage.clipNorm !== undefined && !Number.isFinite(clipped.norm)) throw new NonFiniteError(`the gradient norm is ${clipped.norm}`)
        params = next.params
        state = next.state
        return { value, aux, norm: clipped.norm, keep: [params, state.m, state.v] }
      })
    } catch (e) {
      if (e instanceof NonFiniteError)
        return E.left(`${stage.name}: stopped at step ${s}: ${e.message}` + (ckpt && savedStep !== null ? `; the last good checkpoint is ${ckpt.path} (step ${savedStep})` : ''))
      throw e
    }
    const record: StepRecord<A> = {
      stage: stage.name, step: s, loss: outcome.value, ...(outcome.aux === undefined ? {} : { terms: outcome.aux }),
      lr: h.lr, gradNorm: outcome.norm, tokens: stage.tokensOf?.(batch) ?? 0, seconds: (performance.now() - started) / 1000,
    }
    records.push(record)
    stage.onStep?.(record)
    await new Promise((resolve) => setImmediate(resolve)) // let signal handlers (Ctrl-C) run between steps
    const interrupted = stage.shouldStop?.() ?? false
    if (ckpt && (state.step % ckpt.every === 0 || state.step === stage.steps || interrupted)) {
      const saved = await save()
      if (E.isLeft(saved)) return saved
    }
    if (interrupted) return E.right({ params, state, records, stopped: 'interrupted', resumedFrom })
  }
  return E.right({ params, state, records, resumedFrom })
}
