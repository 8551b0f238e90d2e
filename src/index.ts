/**
 * haplovl: HaploVL, the single-transformer vision-language model, on a small gpu.js autograd engine.
 *
 * @example
 * import { tensor, ops, valueAndGrad } from 'haplovl'
 * const loss = (p: { w: Tensor }, x: Tensor) => ops.sum(ops.mul(ops.matmul(x, p.w), ops.matmul(x, p.w)))
 * const { value, grads } = valueAndGrad(loss)({ w: tensor([1, 2, 3, 4], [2, 2]) }, tensor([1, 1], [1, 2]))
 */
export * from '../autograd/index.ts'
export { setBackend, getBackend, backendNames, type BackendName } from '../kernels/backend.ts'
