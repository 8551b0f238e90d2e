/**
 * Learning-rate schedules: pure functions from the number of updates already done (`state.step`, from 0)
 * to the learning rate of the next update.
 *
 * Warm-up then cosine, with W warm-up steps, T total steps, peak η and floor η_min:
 *
 *   s < W:       η(s) = η · s / W                                          linear from 0
 *   W ≤ s < T:   η(s) = η_min + (η − η_min) · ½ · (1 + cos(π · (s − W) / (T − W)))
 *   s ≥ T:       η(s) = η_min                                              (the limit of the line above)
 *
 * This is the shape of Hugging Face's `get_cosine_schedule_with_warmup` (which LLaVA's and HaploVL's
 * training scripts use) with a floor added: the first update runs at lr 0 when W > 0, η(W) = η, η(T) = η_min,
 * and halfway through the decay the rate is (η + η_min)/2.
 *
 * @example
 * const lr = warmupCosine({ peak: 1e-4, warmupSteps: 2000, totalSteps: 40000, floor: 0 })
 * lr(0)      // 0
 * lr(2000)   // 1e-4
 * lr(21000)  // 5e-5
 * lr(40000)  // 0
 */

export type Schedule = (step: number) => number

export interface WarmupCosine {
  /** The rate at the end of warm-up. */
  readonly peak: number
  /** Steps of linear warm-up from 0 to `peak` (0: start at `peak`). */
  readonly warmupSteps: number
  /** The step at which the cosine reaches `floor`; later steps stay there. */
  readonly totalSteps: number
  /** The final rate (0 in the paper's and LLaVA's runs). */
  readonly floor: number
}

/** The same rate at every step. */
export const constant = (lr: number): Schedule => {
  if (!(lr >= 0 && Number.isFinite(lr))) throw new RangeError(`constant: lr must be a finite number ≥ 0, got ${lr}`)
  return () => lr
}

/** Linear warm-up, then cosine decay to a floor (formula above). */
export function warmupCosine({ peak, warmupSteps, totalSteps, floor }: WarmupCosine): Schedule {
  if (!(peak >= 0 && Number.isFinite(peak))) throw new RangeError(`warmupCosine: peak must be a finite number ≥ 0, got ${peak}`)
  if (!(floor >= 0 && floor <= peak)) throw new RangeError(`warmupCosine: floor must lie in [0, peak = ${peak}], got ${floor}`)
  if (!(Number.isInteger(totalSteps) && totalSteps >= 1)) throw new RangeError(`warmupCosine: totalSteps must be an integer ≥ 1, got ${totalSteps}`)
  if (!(Number.isInteger(warmupSteps) && warmupSteps >= 0 && warmupSteps <= totalSteps))
    throw new RangeError(`warmupCosine: warmupSteps must be an integer in [0, totalSteps = ${totalSteps}], got ${warmupSteps}`)
  const decaySteps = totalSteps - warmupSteps
  return (step) => {
    if (step < warmupSteps) return (peak * step) / warmupSteps
    if (step >= totalSteps) return floor
    const progress = (step - warmupSteps) / decaySteps // in [0, 1): here s < T, so T − W > 0
    return floor + (peak - floor) * 0.5 * (1 + Math.cos(Math.PI * progress))
  }
}
