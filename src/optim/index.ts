/**
 * Optimisation over parameter trees: AdamW (init/update), learning-rate schedules, global-norm clipping and
 * the paper's presets.
 *
 * @example
 * import { AdamW, Presets, Clip } from './optim/index.ts'
 */
export * as AdamW from './adamw.ts'
export * as Schedule from './schedule.ts'
export * as Clip from './clip.ts'
export * as Presets from './presets.ts'
