/**
 * AdamW over trees, against its formula written out in Float64 here (PyTorch's AdamW: bias-corrected moments,
 * decoupled decay p·(1 − lr·wd)), decay only on rank ≥ 2, frozen leaves untouched; plus an optimisation that
 * converges and a training loop whose live-tensor count stays flat.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { tensor, ops, valueAndGrad, tidy, memory, entries, leaves, type Tensor } from '../../src/index.ts'
import * as AdamW from '../../src/optim/adamw.ts'
import { warmupCosine } from '../../src/optim/schedule.ts'
import { values, runs } from '../helpers/arbitraries.ts'
import { assertClose } from '../helpers/close.ts'

// ---------------------------------------------------------------------------------------------------------------
// the Float64 oracle
// ---------------------------------------------------------------------------------------------------------------

interface Leaf64 { p: Float64Array; m: Float64Array; v: Float64Array; rank: number }

/** One AdamW step at step t (from 1), in place, in Float64. */
function step64(x: Leaf64, g: ArrayLike<number>, h: AdamW.Hyper, t: number): void {
  const wd = x.rank >= 2 ? h.weightDecay : 0
  for (let i = 0; i < x.p.length; i++) {
    x.m[i] = h.beta1 * x.m[i]! + (1 - h.beta1) * g[i]!
    x.v[i] = h.beta2 * x.v[i]! + (1 - h.beta2) * g[i]! * g[i]!
    const mHat = x.m[i]! / (1 - h.beta1 ** t)
    const vHat = x.v[i]! / (1 - h.beta2 ** t)
    x.p[i] = x.p[i]! * (1 - h.lr * wd) - (h.lr * mHat) / (Math.sqrt(vHat) + h.eps)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// a tree with every kind of leaf: matrices, a vector, a scalar, an array of tensors, a frozen subtree
// ---------------------------------------------------------------------------------------------------------------

// a type alias, not an interface: only type literals satisfy Tree's index signature
type P = {
  readonly layer: { readonly w: Tensor; readonly b: Tensor }
  readonly temperature: Tensor
  readonly frozen: { readonly table: Tensor }
  readonly blocks: readonly { readonly w: Tensor; readonly gain: Tensor }[]
}

const shapesOf = (r: number, c: number) => ({
  layer: { w: [r, c], b: [c] },
  temperature: [],
  frozen: { table: [3, c] },
  blocks: [{ w: [c, r], gain: [r] }, { w: [2, 2, c], gain: [c] }],
})

/** Fill the tree of `shapesOf(r, c)` from a flat list, in path order. */
function build(r: number, c: number, flat: readonly number[]): P {
  let offset = 0
  const fill = (s: unknown): unknown => {
    if (Array.isArray(s) && s.every((d) => typeof d === 'number')) {
      const n = (s as number[]).reduce((a, d) => a * d, 1)
      return tensor(flat.slice(offset, (offset += n)), s as number[])
    }
    if (Array.isArray(s)) return s.map(fill)
    return Object.fromEntries(Object.entries(s as object).map(([k, v]) => [k, fill(v)]))
  }
  return fill(shapesOf(r, c)) as P
}
const sizeOfTree = (r: number, c: number) => r * c + c + 1 + 3 * c + c * r + r + 4 * c + c

const hyper = (decay: boolean) =>
  fc.record({
    lr: fc.double({ min: 1e-3, max: 0.1, noNaN: true }),
    beta1: fc.double({ min: 0.8, max: 0.95, noNaN: true }),
    beta2: fc.double({ min: 0.9, max: 0.999, noNaN: true }),
    eps: fc.constantFrom(1e-8, 1e-6),
    weightDecay: decay ? fc.double({ min: 1e-3, max: 0.5, noNaN: true }) : fc.constant(0),
  })

const problem = (decay: boolean) =>
  fc.record({ r: fc.integer({ min: 1, max: 4 }), c: fc.integer({ min: 1, max: 4 }), steps: fc.integer({ min: 1, max: 6 }) }).chain(({ r, c, steps }) =>
    fc.record({
      r: fc.constant(r),
      c: fc.constant(c),
      params: values(sizeOfTree(r, c), 2).map((v) => build(r, c, v)),
      grads: fc.array(values(sizeOfTree(r, c), 4).map((v) => build(r, c, v)), { minLength: steps, maxLength: steps }),
      hypers: fc.array(hyper(decay), { minLength: steps, maxLength: steps }),
    }),
  )

const notFrozen = (path: string) => !path.startsWith('frozen')
const tolerance = { atol: 1e-5, rtol: 1e-4 }

function checkAgainstOracle({ params, grads, hypers }: { params: P; grads: P[]; hypers: AdamW.Hyper[] }): void {
  const oracle = new Map(entries(params).map(([path, t]) => [path, {
    p: Float64Array.from(t.data), m: new Float64Array(t.size), v: new Float64Array(t.size), rank: t.rank,
  }]))
  let state = AdamW.init(params), current = params
  grads.forEach((g, k) => {
    const gs = new Map(entries(g))
    for (const [path, x] of oracle) if (notFrozen(path)) step64(x, gs.get(path)!.data, hypers[k]!, k + 1)
    ;({ params: current, state } = AdamW.update(current, g, state, hypers[k]!, notFrozen))
  })
  assert.equal(state.step, grads.length)
  const [ps, ms, vs] = [new Map(entries(current)), new Map(entries(state.m)), new Map(entries(state.v))]
  for (const [path, x] of oracle) {
    assertClose(ps.get(path)!.data, x.p, tolerance, `param ${path}`)
    assertClose(ms.get(path)!.data, x.m, tolerance, `m ${path}`)
    assertClose(vs.get(path)!.data, x.v, tolerance, `v ${path}`)
  }
}

// ---------------------------------------------------------------------------------------------------------------

describe('AdamW', () => {
  it('init: step 0 and zero moments with the structure and shapes of the parameters', () => {
    const params = build(2, 3, Array.from({ length: sizeOfTree(2, 3) }, (_, i) => i))
    const state = AdamW.init(params)
    assert.equal(state.step, 0)
    for (const tree of [state.m, state.v]) {
      assert.equal(tree.blocks.length, 2)
      assert.deepEqual(entries(tree).map(([p, t]) => [p, t.shape]), entries(params).map(([p, t]) => [p, t.shape]))
      for (const t of leaves(tree)) assert.ok(t.data.every((x) => x === 0))
    }
  })

  it('matches the Float64 formula over several steps without weight decay', () => {
    fc.assert(fc.property(problem(false), checkAgainstOracle), runs(25))
  })

  it('matches the Float64 formula over several steps with weight decay (rank ≥ 2 only)', () => {
    fc.assert(fc.property(problem(true), checkAgainstOracle), runs(25))
  })

  it('one step from zero moments: p·(1 − lr·wd) − lr·g/(|g| + eps) on a matrix, no decay on a vector or scalar', () => {
    // At t = 1 the bias correction makes m̂ = g and v̂ = g² exactly, whatever the betas.
    const h = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5 }
    const params = { w: tensor([1, -2, 3, 0.5], [2, 2]), b: tensor([1, -2], [2]), s: tensor([2.5], []) }
    const grads = { w: tensor([0.5, 0.5, -1, 0], [2, 2]), b: tensor([0.5, 0], [2]), s: tensor([0], []) }
    const { params: out } = AdamW.update(params, grads, AdamW.init(params), h)
    const expect = (p: number, g: number, wd: number) => p * (1 - h.lr * wd) - (h.lr * g) / (Math.abs(g) + h.eps)
    assertClose(out.w.data, [0, 1, 2, 3].map((i) => expect(params.w.data[i]!, grads.w.data[i]!, h.weightDecay)), tolerance, 'w')
    assertClose(out.b.data, [0, 1].map((i) => expect(params.b.data[i]!, grads.b.data[i]!, 0)), tolerance, 'b')
    assert.equal(out.s.data[0], 2.5) // zero gradient, rank 0: no decay, no move
    assert.notEqual(out.w.data[3], 0.5) // zero gradient, rank 2: decay alone moves it
    assertClose([out.w.data[3]!], [0.5 * (1 - h.lr * h.weightDecay)], tolerance, 'decay alone')
  })

  it('returns the exact structure; frozen leaves and their moments are the same objects; inputs are not changed', () => {
    fc.assert(fc.property(problem(true), ({ params, grads, hypers }) => {
      const before = leaves(params).map((t) => t.toFloat32Array())
      const state = AdamW.init(params)
      const { params: next, state: after } = AdamW.update(params, grads[0]!, state, hypers[0]!, notFrozen)
      for (const tree of [next, after.m, after.v]) {
        assert.deepEqual(Object.keys(tree).sort(), Object.keys(params).sort())
        assert.ok(Array.isArray(tree.blocks))
        assert.deepEqual(entries(tree).map(([p, t]) => [p, t.shape]), entries(params).map(([p, t]) => [p, t.shape]))
      }
      assert.equal(next.frozen.table, params.frozen.table)
      assert.equal(after.m.frozen.table, state.m.frozen.table)
      assert.equal(after.v.frozen.table, state.v.frozen.table)
      assert.notEqual(next.layer.w, params.layer.w)
      leaves(params).forEach((t, i) => assert.deepEqual(t.data, before[i], `input leaf ${i} changed`))
      assert.ok(state.m.layer.w.data.every((x) => x === 0), 'input state changed')
    }), runs(10))
  })

  it('skips undefined entries (a linear layer without bias)', () => {
    const params = { w: tensor([1, 2], [1, 2]), bias: undefined }
    const { params: out } = AdamW.update(params, { w: tensor([1, 1], [1, 2]), bias: undefined }, AdamW.init(params), { lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0 })
    assert.equal(out.bias, undefined)
    assert.deepEqual(out.w.shape, [1, 2])
  })

  it('gradients that do not match the parameters are refused naming the path', () => {
    const params = { a: { w: tensor([1, 2, 3, 4], [2, 2]) } }
    const h = { lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0 }
    assert.throws(() => AdamW.update(params, { a: { w: tensor([1, 2, 3, 4], [4, 1]) } }, AdamW.init(params), h), /grad of 'a\.w' has shape \[4, 1\], param has \[2, 2\]/)
    assert.throws(() => AdamW.update(params, { a: {} } as never, AdamW.init(params), h), /grads has 0 leaves, params has 1/)
  })

  it('minimises a least-squares problem driven by valueAndGrad', () => {
    // y = x·W* + b*: the loss mean((x·W + b − y)²) has its minimum 0 at (W*, b*).
    const x = tensor([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, -1, 2, -0.5, 2, 1], [6, 3])
    const wStar = tensor([0.5, -1, 2, 0.25, -1.5, 1], [3, 2]), bStar = tensor([0.3, -0.7], [2])
    const y = ops.add(ops.matmul(x, wStar), bStar)
    const loss = (p: { w: Tensor; b: Tensor }) => {
      const d = ops.sub(ops.add(ops.matmul(x, p.w), p.b), y)
      return ops.mean(ops.mul(d, d))
    }
    const lr = warmupCosine({ peak: 0.05, warmupSteps: 20, totalSteps: 600, floor: 0 })
    let params = { w: tensor([0, 0, 0, 0, 0, 0], [3, 2]), b: tensor([0, 0], [2]) }
    let state = AdamW.init(params)
    const first = valueAndGrad(loss)(params).value
    let last = first
    for (let s = 0; s < 600; s++) {
      const { value, grads } = valueAndGrad(loss)(params)
      last = value
      ;({ params, state } = AdamW.update(params, grads, state, { lr: lr(s), beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 }))
    }
    assert.ok(first > 1, `initial loss ${first}`)
    assert.ok(last < 1e-5, `final loss ${last} (from ${first})`)
    assertClose(params.w.data, wStar.data, { atol: 1e-2, rtol: 0 }, 'W')
    assertClose(params.b.data, bStar.data, { atol: 1e-2, rtol: 0 }, 'b')
  })

  it('a training loop under tidy with disposeReplaced keeps the live-tensor count flat', () => {
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3])
    const loss = (p: { w: Tensor; b: Tensor; frozen: Tensor }) => ops.mean(ops.mul(ops.add(ops.matmul(x, p.w), p.b), p.frozen))
    let params = { w: tensor([1, 2, 3, 4, 5, 6], [3, 2]), b: tensor([0, 0], [2]), frozen: tensor([1, -1], [2]) }
    let state = AdamW.init(params)
    const trainable = (path: string) => path !== 'frozen'
    const h = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }
    const counts: number[] = []
    for (let s = 0; s < 5; s++) {
      const next = tidy(() => AdamW.update(params, valueAndGrad(loss)(params).grads, state, h, trainable))
      AdamW.disposeReplaced([params, state.m, state.v], [next.params, next.state.m, next.state.v])
      ;({ params, state } = next)
      counts.push(memory().live)
    }
    assert.ok(!params.frozen.disposed)
    assert.deepEqual(counts, counts.map(() => counts[0]), `live tensors per step: ${counts.join(', ')}`)
  })
})
