/** The autograd engine: tensors, the tape and the differentiable ops. */
export { Tensor, tensor, zeros, full, scalar, memory, sizeOf, shapeText } from './tensor.ts'
export { defineOp, withSubstitutes, valueAndGrad, noGrad, stopGradient, tidy, isRecording, ShapeError, NonFiniteError, type ValueAndGrad, type WithAux } from './tape.ts'
export { leaves, entries, treeMap, treeZip, type Tree } from './tree.ts'
export * as ops from './ops/index.ts'
