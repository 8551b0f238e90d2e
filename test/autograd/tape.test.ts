/** The tape's contract (DESIGN §4 and §7.4): what is recorded, how gradients accumulate, what errors say. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { tensor, ops, valueAndGrad, noGrad, tidy, isRecording, memory, ShapeError, NonFiniteError, defineOp, type Tensor } from '../../src/index.ts'
import * as K from '../../kernels/softmax.ts'
import { checkOp } from '../helpers/opcheck.ts'
import * as R from '../reference/basic.ts'
import { reduction } from '../helpers/close.ts'
import { arrayOf, runs } from '../helpers/arbitraries.ts'
import { assertClose, elementwise } from '../helpers/close.ts'

const vec = (xs: number[]) => tensor(xs, [xs.length])

describe('tape', () => {
  it('a tensor used twice receives both contributions (fan-out accumulates)', () => {
    fc.assert(fc.property(arrayOf([5], 3), (x) => {
      // f(x) = Σ x⊙x + Σ x  ⇒  ∇f = 2x + 1
      const { grads } = valueAndGrad((p: { x: Tensor }) => ops.add(ops.sum(ops.mul(p.x, p.x)), ops.sum(p.x)))({ x: tensor(x.data, [5]) })
      assertClose(grads.x.data, Array.from(x.data, (v) => 2 * Math.fround(v) + 1), elementwise, 'grad')
    }), runs(20))
  })

  it('gradients are linear: ∇(a·f + b·g) = a∇f + b∇g', () => {
    fc.assert(fc.property(arrayOf([2, 3]), arrayOf([3, 2]), fc.float({ min: -2, max: 2, noNaN: true }), fc.float({ min: -2, max: 2, noNaN: true }), (w, x, a, b) => {
      const f = (p: { w: Tensor }) => ops.sum(ops.softmax(ops.matmul(p.w, tensor(x.data, x.shape))))
      const g = (p: { w: Tensor }) => ops.mean(ops.mul(p.w, p.w))
      const params = { w: tensor(w.data, w.shape) }
      const both = valueAndGrad((p: { w: Tensor }) => ops.add(ops.scale(f(p), a), ops.scale(g(p), b)))(params).grads.w.data
      const gf = valueAndGrad(f)(params).grads.w.data, gg = valueAndGrad(g)(params).grads.w.data
      assertClose(both, Array.from(gf, (v, i) => a * v + b * gg[i]!), { atol: 1e-5, rtol: 1e-4 }, 'linearity')
    }), runs(20))
  })

  it('grads have the exact tree shape of params; unused parameters get zeros', () => {
    const params = { used: vec([1, 2]), nested: { unused: tensor([5, 6, 7, 8], [2, 2]), list: [vec([3])] } }
    const { value, grads } = valueAndGrad((p: typeof params) => ops.sum(ops.mul(p.used, p.nested.list[0]!)))(params)
    assert.equal(value, 9)
    assert.deepEqual(Object.keys(grads).sort(), ['nested', 'used'])
    assert.deepEqual(grads.nested.unused.shape, [2, 2])
    assert.deepEqual([...grads.nested.unused.data], [0, 0, 0, 0])
    assert.deepEqual([...grads.used.data], [3, 3])
    assert.deepEqual([...grads.nested.list[0]!.data], [3])
  })

  it('wrt: the chosen leaves get the full gradient, the rest zeros, and no backward runs through frozen-only ops', () => {
    let frozenBackwards = 0
    // y = 2x, counting its backward calls
    const double = defineOp<undefined, undefined>({
      name: 'double-counted',
      forward: ([x]) => ({ out: x!.data.map((v) => 2 * v), shape: x!.shape, saved: undefined }),
      backward: (dy) => (frozenBackwards++, [dy.map((v) => 2 * v)]),
    })
    fc.assert(fc.property(arrayOf([2, 3]), arrayOf([3, 2]), (a, b) => {
      // f = Σ softmax(a · double(b)) ⊙ softmax(a · b), b frozen: the chain double(b) depends on no differentiated leaf
      const params = { a: tensor(a.data, a.shape), frozen: { b: tensor(b.data, b.shape) } }
      const f = (p: typeof params) => ops.sum(ops.mul(ops.softmax(ops.matmul(p.a, double([p.frozen.b], undefined))), ops.softmax(ops.matmul(p.a, p.frozen.b))))
      frozenBackwards = 0
      const full = valueAndGrad(f)(params)
      assert.equal(frozenBackwards, 1, 'the chain runs backward when b is differentiated')
      frozenBackwards = 0
      const some = valueAndGrad(f, (path) => !path.startsWith('frozen.'))(params)
      assert.equal(frozenBackwards, 0)
      assert.equal(some.value, full.value)
      assert.deepEqual([...some.grads.a.data], [...full.grads.a.data])
      assert.deepEqual([...some.grads.frozen.b.data], new Array(6).fill(0))
    }), runs(10))
  })

  it('nothing is recorded outside valueAndGrad, nor inside noGrad', () => {
    assert.equal(isRecording(), false)
    const w = vec([1, 2, 3])
    let inside = false, insideNoGrad = true
    const { grads } = valueAndGrad((p: { w: Tensor }) => {
      inside = isRecording()
      // a detached copy: noGrad stops the gradient through the second factor
      const frozen = noGrad(() => { insideNoGrad = isRecording(); return ops.scale(p.w, 1) })
      return ops.sum(ops.mul(p.w, frozen))
    })({ w })
    assert.equal(inside, true)
    assert.equal(insideNoGrad, false)
    assert.deepEqual([...grads.w.data], [1, 2, 3]) // d/dw Σ w⊙stop(w) = stop(w)
    assert.equal(isRecording(), false)
  })

  it('a non-scalar result and a non-finite loss are refused with clear errors', () => {
    assert.throws(() => valueAndGrad((p: { w: Tensor }) => ops.scale(p.w, 2))({ w: vec([1, 2]) }), (e: Error) => e instanceof ShapeError && /one-element tensor.*\[2\]/.test(e.message))
    assert.throws(() => valueAndGrad((p: { w: Tensor }) => ops.sum(ops.div(p.w, vec([0, 1]))))({ w: vec([1, 2]) }), (e: Error) => e instanceof NonFiniteError && /loss is Infinity/.test(e.message))
  })

  it('HAPLOVL_DEBUG_NUMERICS names the op, the tape position and the first bad index', () => {
    process.env.HAPLOVL_DEBUG_NUMERICS = '1'
    try {
      assert.throws(
        () => valueAndGrad((p: { w: Tensor }) => ops.sum(ops.div(ops.scale(p.w, 1), vec([1, 0, 1]))))({ w: vec([1, 2, 3]) }),
        (e: Error) => e instanceof NonFiniteError && /op 'div' \(tape position 1, shape \[3\]\) is Infinity at flat index 1/.test(e.message),
      )
    } finally {
      delete process.env.HAPLOVL_DEBUG_NUMERICS
    }
  })

  it('shape errors name the op, the input and both shapes', () => {
    assert.throws(() => ops.matmul(tensor([1, 2, 3, 4, 5, 6], [2, 3]), tensor([1, 2, 3, 4], [2, 2])), /matmul: inner dims differ: 'a' has shape \[2, 3\] \(K=3\), 'b' has shape \[2, 2\] \(K=2\)/)
    assert.throws(() => ops.add(tensor([1, 2, 3], [3]), tensor([1, 2], [2])), /add: shapes \[3\] \(input 'a'\) and \[2\] \(input 'b'\) do not broadcast/)
    assert.throws(() => ops.reshape(vec([1, 2, 3]), [2, 2]), /reshape: input 'x' has shape \[3\] \(3 values\), cannot become \[2, 2\]/)
  })

  it('tidy disposes what its result does not hold, and a training loop does not grow live memory', () => {
    let params = { w: vec([0.5, -0.5, 0.25]) }
    const x = vec([1, 2, 3])
    const step = valueAndGrad((p: typeof params) => ops.sum(ops.mul(ops.mul(p.w, x), ops.mul(p.w, x))))
    const lives: number[] = []
    for (let i = 0; i < 5; i++) {
      const next = tidy(() => {
        const { grads } = step(params)
        return { w: ops.sub(params.w, ops.scale(grads.w, 0.01)) }
      })
      params.w.dispose()
      params = next
      lives.push(memory().live)
    }
    assert.ok(lives.every((l) => l === lives[0]), `live tensors grew: ${lives.join(', ')}`)
    const inner = tidy(() => { const kept = ops.scale(x, 2); ops.scale(x, 3); return kept })
    assert.deepEqual([...inner.data], [2, 4, 6])
    let dropped: Tensor | null = null
    tidy(() => { dropped = ops.scale(x, 3); return null })
    assert.throws(() => dropped!.data, /disposed/)
  })

  it('the checking harness itself rejects a planted bug (a softmax backward without the −Σ dy⊙y term)', () => {
    const broken = defineOp<undefined, { rows: number; cols: number }>({
      name: 'softmax-broken',
      forward: ([x]) => ({ out: K.softmaxRows(x!.data, x!.size / x!.shape[1]!, x!.shape[1]!), shape: x!.shape, saved: { rows: x!.size / x!.shape[1]!, cols: x!.shape[1]! } }),
      backward: (dy, _, __, ___, y) => [y.data.map((v, i) => v * dy[i]!)],
    })
    const x = { data: Float64Array.from([0.1, 0.7, -0.3, 1.2, 0.4, -1.0]), shape: [2, 3] }
    checkOp({ name: 'softmax', engine: ([t]) => ops.softmax(t!), reference: R.softmax, tolerance: reduction(3) }, [x], 'webasm')
    assert.throws(() => checkOp({ name: 'softmax-broken', engine: ([t]) => broken([t!], undefined), reference: R.softmax, tolerance: reduction(3) }, [x], 'webasm'), /gradient of input 0/)
  })
})
