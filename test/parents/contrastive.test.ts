/**
 * The teacher's symmetric contrastive loss, written a second time as plain Float64 loops, against the engine:
 * values, and gradients (images, texts, the temperature) against central differences of the Float64 formula.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { tensor, valueAndGrad, type Tensor } from '../../src/index.ts'
import { contrastive, duplicateMask, initialLogitScale } from '../../src/losses/contrastive.ts'
import { maxLogitScale } from '../../src/losses/distillation.ts'
import { arrayOf, runs } from '../helpers/arbitraries.ts'
import { onEachBackend } from '../helpers/backends.ts'
import type { F64 } from '../reference/array.ts'

const rows = (x: F64) => Array.from({ length: x.shape[0]! }, (_, r) => Array.from(x.data.slice(r * x.shape[1]!, (r + 1) * x.shape[1]!)))
const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0))
const unit = (v: number[]) => v.map((x) => x / norm(v))
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0)
const logSumExp = (v: number[]) => { const m = Math.max(...v); return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0)) }

/**
 * (CE over rows + CE over columns) / 2 of exp(min(s, ln 100)) · cos, entries of equal groups off the diagonal
 * left out; hard negatives, when given, are extra columns of the row (image→text) softmax only.
 */
const formula = (groups: number[] | undefined) => ([img, txt, s, neg]: F64[]): number => {
  const u = rows(img!).map(unit), v = rows(txt!).map(unit), h = neg ? rows(neg).map(unit) : [], n = u.length
  const scale = Math.exp(Math.min(s!.data[0]!, maxLogitScale))
  const logit = (i: number, j: number) => scale * dot(u[i]!, v[j]!)
  const kept = (i: number, j: number) => i === j || groups === undefined || groups[i] !== groups[j]
  const idx = Array.from({ length: n }, (_, k) => k)
  const row = (i: number) => [...idx.filter((j) => kept(i, j)).map((j) => logit(i, j)), ...h.map((hk) => scale * dot(u[i]!, hk))]
  const i2t = idx.reduce((acc, i) => acc + logSumExp(row(i)) - logit(i, i), 0) / n
  const t2i = idx.reduce((acc, j) => acc + logSumExp(idx.filter((i) => kept(i, j)).map((i) => logit(i, j))) - logit(j, j), 0) / n
  return (i2t + t2i) / 2
}

function numericGrad(f: (xs: F64[]) => number, xs: F64[], which: number, eps = 1e-6): Float64Array {
  return xs[which]!.data.map((_, k) => {
    const at = (d: number) => f(xs.map((y, j) => (j === which ? { ...y, data: y.data.map((v, m) => (m === k ? v + d : v)) } : y)))
    return (at(eps) - at(-eps)) / (2 * eps)
  })
}

function check(xs: F64[], groups: number[] | undefined) {
  const ts = xs.map((x) => tensor(x.data, x.shape))
  const rounded = ts.map((t) => ({ data: Float64Array.from(t.data), shape: t.shape }))
  const f = formula(groups)
  const { value, grads } = valueAndGrad(([a, b, s, h]: Tensor[]) => contrastive(a!, b!, s!, groups, h).loss)(ts)
  const expected = f(rounded)
  assert.ok(Math.abs(value - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `value ${value}, Float64 formula ${expected}`)
  const differentiable = [0, 1, ...(rounded[2]!.data[0]! < maxLogitScale - 1e-3 ? [2] : []), ...(xs.length > 3 ? [3] : [])]
  for (const i of differentiable) {
    const g = numericGrad(f, rounded, i)
    g.forEach((e, k) => assert.ok(Math.abs(grads[i]!.data[k]! - e) <= 1e-4 + 1e-3 * Math.abs(e), `d/dinput${i}[${k}] = ${grads[i]!.data[k]}, Float64 differences ${e}`))
  }
  if (!differentiable.includes(2)) assert.equal(grads[2]!.data[0], 0, 'no gradient through the clamp above ln 100')
}

/** Pairs of (N, E) embeddings with rows away from zero (the normalisation is not differentiable there). */
const embeddings = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2, max: 5 }))
  .chain(([n, e]) => fc.tuple(arrayOf([n, e], 2), arrayOf([n, e], 2), fc.double({ min: 0, max: 5.5, noNaN: true }), fc.array(fc.integer({ min: 0, max: 2 }), { minLength: n, maxLength: n })))
  .filter(([a, b]) => rows(a).every((r) => norm(r) > 0.2) && rows(b).every((r) => norm(r) > 0.2))

const scalar = (s: number): F64 => ({ data: Float64Array.of(s), shape: [] })

describe('contrastive loss (CLIP, symmetric InfoNCE)', () => {
  it('matches the Float64 formula, value and gradients, with a learnable clamped temperature', () =>
    onEachBackend(() => fc.assert(fc.property(embeddings, ([a, b, s]) => check([a, b, scalar(s)], undefined)), runs(15))))
  it('leaves pairs with identical texts out of each other\'s negatives', () =>
    onEachBackend(() => fc.assert(fc.property(embeddings, ([a, b, s, groups]) => check([a, b, scalar(s)], groups)), runs(15))))
  it('takes hard negatives into the image→text softmax only', () =>
    onEachBackend(() => fc.assert(fc.property(embeddings.chain((x) => fc.tuple(fc.constant(x), fc.integer({ min: 1, max: 3 }).chain((m) => arrayOf([m, x[0].shape[1]!], 2)))).filter(([, h]) => rows(h).every((r) => norm(r) > 0.2)),
      ([[a, b, s, groups], h]) => check([a, b, scalar(s), h], groups)), runs(15))))
  it('is ln N at the start when every embedding is the same, and the temperature starts at 0.07', () => {
    const n = 6, e = tensor(new Float32Array(n * 3).fill(1), [n, 3])
    const t = contrastive(e, e, tensor([initialLogitScale], []))
    assert.ok(Math.abs(t.loss.item() - Math.log(n)) < 1e-5)
    assert.ok(Math.abs(t.scale.item() - 1 / 0.07) < 1e-4)
  })
  it('masks nothing when every text differs, and both off-diagonal entries of a duplicate pair', () => {
    assert.equal(duplicateMask([0, 1, 2]), null)
    const m = duplicateMask([0, 1, 0])!
    assert.deepEqual(Array.from(m.data).map((x) => (x < 0 ? 1 : 0)), [0, 0, 1, 0, 0, 0, 1, 0, 0])
  })
})
