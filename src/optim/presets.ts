/**
 * The paper's optimiser settings as data, and how to shrink them to a small run.
 *
 * Sources: HaploVL paper (Yang et al., ICML 2025) §4.1 "Implementation details" and App. C.1 Tables 8–9;
 * the connector-only alignment stage follows LLaVA-1.5's projector stage (the paper: "For HaploVL-7B, we
 * align it with LLaVA"); where the paper is silent the comment says so and what was chosen.
 *
 * Every preset uses AdamW with a linear warm-up and cosine decay (`schedule.ts`), and names which
 * parameters it trains as a rule over dotted paths. The rule takes the prefixes as a parameter, because
 * the prefixes depend on the model's tree layout:
 *
 * @example
 * const run = scaleToRun(stage1, { steps: 300, batch: 8, lrScale: 10 })
 * const trainable = run.trainable.of(['postDecoder', 'embed.text.table'])  // frozen in stage 1
 * const hyper = hyperAt(run)                                              // step → AdamW.Hyper
 * ;({ params, state } = AdamW.update(params, grads, state, hyper(state.step), trainable))
 */
import type { Hyper, Trainable } from './adamw.ts'
import { warmupCosine, type Schedule } from './schedule.ts'

// ---------------------------------------------------------------------------------------------------------------
// trainable-parameter rules
// ---------------------------------------------------------------------------------------------------------------

/** Is `path` the leaf `prefix` or inside the subtree `prefix`? ("connector" covers "connector.w", not "connectorX"). */
export const under = (path: string, prefix: string): boolean => path === prefix || path.startsWith(`${prefix}.`)

/** Every leaf except those under one of the prefixes (an empty list trains everything). */
export const allExcept = (prefixes: readonly string[]): Trainable => (path) => !prefixes.some((p) => under(path, p))

/** Only the leaves under one of the prefixes. */
export const only = (prefixes: readonly string[]): Trainable => (path) => prefixes.some((p) => under(path, p))

export interface TrainableRule {
  /** 'all-except': the prefixes name what is frozen; 'only': the prefixes name what is trained. */
  readonly kind: 'all-except' | 'only'
  readonly of: (prefixes: readonly string[]) => Trainable
}

const rules = {
  allExcept: { kind: 'all-except', of: allExcept },
  only: { kind: 'only', of: only },
} as const satisfies Record<string, TrainableRule>

// ---------------------------------------------------------------------------------------------------------------
// presets
// ---------------------------------------------------------------------------------------------------------------

export interface Preset {
  readonly name: string
  /** The paper's peak learning rate. */
  readonly paperLr: number
  /** The multiplier this run applies to it (1 for the paper's runs); see `scaleToRun`. */
  readonly lrScale: number
  /** The peak learning rate used: paperLr · lrScale. */
  readonly lr: number
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  /** Decoupled weight decay, applied to tensors of rank ≥ 2 only (see `adamw.ts`). */
  readonly weightDecay: number
  /** Samples per optimizer step. */
  readonly batch: number
  /** Optimizer steps of the whole stage (the cosine reaches its floor here). */
  readonly steps: number
  /** Warm-up length as a fraction of `steps`; the warm-up is ⌈fraction · steps⌉ steps (Hugging Face's rounding). */
  readonly warmupFraction: number
  /** The final learning rate as a fraction of the peak (0: cosine to zero, as in the sources). */
  readonly floorFraction: number
  readonly trainable: TrainableRule
}

/**
 * Stage 1, modal expansion of the pre-decoder. Table 8: AdamW, base lr 1e-4, weight decay 1e-4,
 * β = (0.9, 0.95) (β2 lowered for stability, as SigLIP), batch 256, cosine decay. §4.1: 40K steps with
 * 2K warm-up steps. eps: not given; PyTorch's default 1e-8.
 * Trains everything except the frozen parts (pass them: the LLM embedding table W, the post-decoder that
 * stage 1 does not run, and the teacher if it sits in the same tree).
 */
export const stage1: Preset = {
  name: 'stage1',
  paperLr: 1e-4,
  lrScale: 1,
  lr: 1e-4,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 1e-4,
  batch: 256,
  steps: 40_000,
  warmupFraction: 2_000 / 40_000,
  floorFraction: 0,
  trainable: rules.allExcept,
}

/**
 * Connector-only alignment (HaploVL-7B, "we first tune the connector … using 558K caption data"). The paper
 * gives no optimiser for it; it follows LLaVA-1.5's projector stage (MODEL_SPEC §4): lr 1e-3, weight decay 0,
 * batch 256, 3% warm-up, cosine, one epoch over the 558K captions (⌈558 000 / 256⌉ = 2180 steps).
 * β and eps: LLaVA's trainer defaults, (0.9, 0.999) and 1e-8. Trains only the prefixes given (the connector).
 */
export const align: Preset = {
  name: 'align',
  paperLr: 1e-3,
  lrScale: 1,
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  batch: 256,
  steps: Math.ceil(558_000 / 256),
  warmupFraction: 0.03,
  floorFraction: 0,
  trainable: rules.only,
}

/**
 * Stage 2, full fine-tuning. Table 9: AdamW, base lr 2e-5, weight decay 0, β = (0.9, 0.98), batch 128,
 * cosine decay. §4.1: the best model runs 1 epoch over 4M instructions, "30K steps" (ablations: 5K steps).
 * Warm-up: not given in the paper; 3% as LLaVA-1.5's stage 2. eps: not given; 1e-8.
 * Trains everything (pass [] or whatever must stay frozen, e.g. a teacher kept in the same tree).
 */
export const stage2: Preset = {
  name: 'stage2',
  paperLr: 2e-5,
  lrScale: 1,
  lr: 2e-5,
  beta1: 0.9,
  beta2: 0.98,
  eps: 1e-8,
  weightDecay: 0,
  batch: 128,
  steps: 30_000,
  warmupFraction: 0.03,
  floorFraction: 0,
  trainable: rules.allExcept,
}

export const presets = { stage1, align, stage2 } as const

// ---------------------------------------------------------------------------------------------------------------
// small runs
// ---------------------------------------------------------------------------------------------------------------

export interface Run {
  /** Optimizer steps of the small run. */
  readonly steps: number
  /** Its batch size (the learning rate is not rescaled for it: that is `lrScale`'s job, done explicitly). */
  readonly batch: number
  /**
   * Peak learning rate = the paper's · lrScale (default 1). Tiny models train well at rates far above a 7B
   * model's (fewer, narrower layers; fewer steps), so a small run picks its multiplier here, in the open.
   */
  readonly lrScale?: number
}

/**
 * The preset for a run of a different length and batch: the warm-up fraction, betas, eps, weight decay,
 * floor and trainable rule are kept; the peak learning rate becomes paperLr · lrScale.
 */
export function scaleToRun(preset: Preset, { steps, batch, lrScale = 1 }: Run): Preset {
  if (!(Number.isInteger(steps) && steps >= 1)) throw new RangeError(`scaleToRun: steps must be an integer ≥ 1, got ${steps}`)
  if (!(Number.isInteger(batch) && batch >= 1)) throw new RangeError(`scaleToRun: batch must be an integer ≥ 1, got ${batch}`)
  if (!(lrScale > 0 && Number.isFinite(lrScale))) throw new RangeError(`scaleToRun: lrScale must be a finite number > 0, got ${lrScale}`)
  return { ...preset, steps, batch, lrScale, lr: preset.paperLr * lrScale }
}

/** Warm-up steps: ⌈warmupFraction · steps⌉ (the 1e-9 absorbs rounding in fractions such as 0.03 · 30000). */
export const warmupSteps = (p: Preset): number => Math.ceil(p.warmupFraction * p.steps - 1e-9)

/** The preset's learning rate per step: warm-up, then cosine from `lr` to `floorFraction · lr` at `steps`. */
export const schedule = (p: Preset): Schedule =>
  warmupCosine({ peak: p.lr, warmupSteps: warmupSteps(p), totalSteps: p.steps, floor: p.floorFraction * p.lr })

/** AdamW's hyper-parameters at each step (pass `state.step`, the updates done so far). */
export function hyperAt(p: Preset): (step: number) => Hyper {
  const lr = schedule(p)
  return (step) => ({ lr: lr(step), beta1: p.beta1, beta2: p.beta2, eps: p.eps, weightDecay: p.weightDecay })
}
