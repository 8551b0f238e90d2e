/** Every differentiable op, as one namespace: `import { ops } from 'haplovl'`. */
export { add, sub, mul, div, scale, neg, broadcastShapes } from './arithmetic.ts'
export { matmul } from './matmul.ts'
export { softmax } from './softmax.ts'
export { sum, mean } from './reduce.ts'
export { reshape, transpose, slice, concat } from './layout.ts'
export { gelu, quickGelu, silu, exp, log, clamp, type GeluOptions } from './activations.ts'
export { layerNorm, rmsNorm } from './norms.ts'
export { rope } from './rope.ts'
