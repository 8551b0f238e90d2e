/** fast-check generators for shapes and float32 values. Float bounds are float32 (Math.fround). */
import fc from 'fast-check'
import { type F64, f64, size } from '../reference/array.ts'

/** Values in [−bound, bound], never NaN. */
export const values = (n: number, bound = 4): fc.Arbitrary<number[]> =>
  fc.array(fc.float({ min: Math.fround(-bound), max: Math.fround(bound), noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n })

export const arrayOf = (shape: readonly number[], bound = 4): fc.Arbitrary<F64> => values(size(shape), bound).map((v) => f64(v, shape))

/** A shape of the given rank with dims in [1, max]. */
export const shape = (rank: number, max = 6): fc.Arbitrary<number[]> => fc.array(fc.integer({ min: 1, max }), { minLength: rank, maxLength: rank })

/** Property-test settings: a fixed seed (reproducible on CI) unless FC_SEED is given, and a modest run count. */
export const runs = (numRuns = 25): fc.Parameters<unknown> => ({
  numRuns,
  seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : 20250601,
})
