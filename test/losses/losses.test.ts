/**
 * The paper's losses, written a second time in plain Float64 loops straight from eqs. 1–4, against the engine:
 * values, and gradients against central differences of the Float64 formulas.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { tensor, valueAndGrad, type Tensor } from '../../src/index.ts'
import { visionDistillation, textFeature, currentToken, maxLogitScale } from '../../src/losses/distillation.ts'
import { nextToken } from '../../src/losses/next-token.ts'
import { arrayOf, runs } from '../helpers/arbitraries.ts'
import { onEachBackend } from '../helpers/backends.ts'
import type { F64 } from '../reference/array.ts'

const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0))
const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0) / (Math.max(norm(a), 1e-8) * Math.max(norm(b), 1e-8))
const rows = (x: F64) => Array.from({ length: x.shape[0]! }, (_, r) => Array.from(x.data.slice(r * x.shape[1]!, (r + 1) * x.shape[1]!)))
const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length
const logSumExp = (v: number[]) => { const m = Math.max(...v); return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0)) }

/** eq. 2 */
const lv = ([p, t]: F64[]) => 1 - mean(rows(p!).map((r, i) => cos(r, rows(t!)[i]!)))
/** eq. 3, unsquared norm */
const lfeat = ([p, t]: F64[]) => 1 + mean(rows(p!).map((r, i) => norm(r.map((x, j) => x - rows(t!)[i]![j]!)) - cos(r, rows(t!)[i]!)))
/** eq. 4: CE(exp(min(s, ln 100)) · p Wᵀ, current token) */
const lctp = (ids: number[]) => ([p, w, s]: F64[]) => {
  const scale = Math.exp(Math.min(s!.data[0]!, maxLogitScale))
  return mean(rows(p!).map((r, i) => {
    const logits = rows(w!).map((wr) => scale * r.reduce((acc, x, j) => acc + x * wr[j]!, 0))
    return logSumExp(logits) - logits[ids[i]!]!
  }))
}
/** eq. 1 over kept targets */
const lntp = (targets: number[]) => ([logits]: F64[]) => {
  const kept = rows(logits!).flatMap((r, i) => (targets[i]! >= 0 ? [logSumExp(r) - r[targets[i]!]!] : []))
  return kept.length ? mean(kept) : 0
}

/** Central differences of a Float64 scalar function, one input at a time. */
function numericGrad(f: (xs: F64[]) => number, xs: F64[], which: number, eps = 1e-6): Float64Array {
  const x = xs[which]!
  return x.data.map((_, k) => {
    const at = (d: number) => f(xs.map((y, j) => (j === which ? { ...y, data: y.data.map((v, m) => (m === k ? v + d : v)) } : y)))
    return (at(eps) - at(-eps)) / (2 * eps)
  })
}

function check(name: string, f64: (xs: F64[]) => number, engine: (ts: Tensor[]) => Tensor, xs: F64[], differentiable: number[]) {
  const ts = xs.map((x) => tensor(x.data, x.shape))
  const rounded = ts.map((t) => ({ data: Float64Array.from(t.data), shape: t.shape }))
  const { value, grads } = valueAndGrad((p: Tensor[]) => engine(p))(ts)
  const expected = f64(rounded)
  assert.ok(Math.abs(value - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `${name}: value ${value}, Float64 formula ${expected}`)
  for (const i of differentiable) {
    const g = numericGrad(f64, rounded, i)
    g.forEach((e, k) => assert.ok(Math.abs(grads[i]!.data[k]! - e) <= 1e-4 + 1e-3 * Math.abs(e), `${name}: d/dinput${i}[${k}] = ${grads[i]!.data[k]}, Float64 differences ${e}`))
  }
}

/** Prediction/target pairs away from the points where cosine and distance are not differentiable (zero rows, p = t). */
const pair = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2, max: 6 }))
  .chain(([n, c]) => fc.tuple(arrayOf([n, c], 2), arrayOf([n, c], 2)))
  .filter(([p, t]) => rows(p).every((r, i) => norm(r) > 0.1 && norm(rows(t)[i]!) > 0.1 && norm(r.map((x, j) => x - rows(t)[i]![j]!)) > 0.1))

describe('stage-1 and stage-2 losses against the paper\'s equations', () => {
  it('L_v (eq. 2): one minus the mean cosine to the teacher features', () =>
    onEachBackend(() => fc.assert(fc.property(pair, ([p, t]) => check('L_v', lv, ([a, b]) => visionDistillation(a!, b!), [p, t], [0])), runs(15))))
  it('L_feat (eq. 3): one plus the mean of the unsquared distance minus the cosine', () =>
    onEachBackend(() => fc.assert(fc.property(pair, ([p, t]) => check('L_feat', lfeat, ([a, b]) => textFeature(a!, b!), [p, t], [0])), runs(15))))
  it('L_ctp (eq. 4): current-token cross-entropy against frozen W with a clamped learnable scale', () =>
    onEachBackend(() => fc.assert(fc.property(
      fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 2, max: 7 })).chain(([n, c, v]) =>
        fc.tuple(arrayOf([n, c], 1), arrayOf([v, c], 1), fc.array(fc.integer({ min: 0, max: v - 1 }), { minLength: n, maxLength: n }), fc.double({ min: 0, max: 5.5, noNaN: true }))),
      ([p, w, ids, s]) => check('L_ctp', lctp(ids), ([a, b, sc]) => currentToken(a!, b!, ids, sc!), [p, w, { data: Float64Array.of(s), shape: [] }], s < maxLogitScale - 1e-3 ? [0, 2] : [0]),
    ), runs(15))))
  it('next-token prediction (eq. 1) averages only over kept targets', () =>
    onEachBackend(() => fc.assert(fc.property(
      fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 2, max: 7 })).chain(([n, v]) =>
        fc.tuple(arrayOf([n, v], 3), fc.array(fc.integer({ min: -1, max: v - 1 }), { minLength: n, maxLength: n }))),
      ([logits, targets]) => check('next-token', lntp(targets), ([l]) => nextToken(l!, targets), [logits], [0]),
    ), runs(15))))
})
