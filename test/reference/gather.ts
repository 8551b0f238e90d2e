/**
 * Float64 reference for gathering rows of a V×C table by N integer ids: forward and VJP (scatter-add).
 */
import { zeros64 } from './array.ts'
import type { Differentiable } from '../helpers/gradcheck.ts'

export const gatherRows = (ids: readonly number[]): Differentiable => ({
  f: ([table]) => {
    const c = table!.shape[1]!
    const y = zeros64([ids.length, c])
    ids.forEach((id, n) => y.data.set(table!.data.subarray(id * c, (id + 1) * c), n * c))
    return y
  },
  // each output row n adds its cotangent into table row ids[n]
  vjp: ([table], u) => {
    const c = table!.shape[1]!
    const g = zeros64(table!.shape)
    ids.forEach((id, n) => {
      for (let j = 0; j < c; j++) g.data[id * c + j]! += u.data[n * c + j]!
    })
    return [g]
  },
})
