/**
 * valueAndGrad on a small function: a least-squares fit y ≈ x·w + b by plain gradient descent.
 * Run: npx tsx examples/01-value-and-grad.ts
 */
import { tensor, ops, valueAndGrad, getBackend, type Tensor } from '../src/index.ts'

const steps = 50, learningRate = 0.1

type Params = { readonly w: Tensor; readonly b: Tensor }
const x = tensor([0, 1, 2, 3, 4, 5, 6, 7], [4, 2])
const y = tensor([1, 3, 5, 7], [4, 1]) // y = x₀ · 0.5 + x₁ · 0.5 + 0.5, exactly representable

const loss = (p: Params, x: Tensor, y: Tensor) => ops.mean(ops.mul(ops.sub(ops.add(ops.matmul(x, p.w), p.b), y), ops.sub(ops.add(ops.matmul(x, p.w), p.b), y)))

let params: Params = { w: tensor([0, 0], [2, 1]), b: tensor([0], [1]) }
const step = valueAndGrad(loss)
for (let i = 0; i < steps; i++) {
  const { value, grads } = step(params, x, y)
  params = { w: ops.sub(params.w, ops.scale(grads.w, learningRate / 10)), b: ops.sub(params.b, ops.scale(grads.b, learningRate)) }
  if (i % 10 === 0 || i === steps - 1) console.log(JSON.stringify({ step: i, loss: value }))
}
console.log(`backend ${getBackend()}: w = [${params.w.toFloat32Array().join(', ')}], b = ${params.b.item()}`)
