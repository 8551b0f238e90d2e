/**
 * The tape: a flat list of op applications recorded while `valueAndGrad` evaluates a function.
 *
 * Recording is on only inside `valueAndGrad`, and only for ops with at least one input that depends on the
 * parameters (a "tracked" tensor). Backward walks the list in reverse, accumulating gradients per tensor,
 * so a tensor used twice receives both contributions. Backward functions call raw kernels and are not
 * themselves recorded: gradients are first order.
 */
import { Tensor, shapeText } from './tensor.ts'
import { binary } from '../kernels/elementwise.ts'
import { entries, treeMap, type Tree } from './tree.ts'

// ---------------------------------------------------------------------------------------------------------------
// op declaration
// ---------------------------------------------------------------------------------------------------------------

/** What a forward pass returns: the output values and shape, and whatever its backward needs. */
export interface Forward<S> {
  readonly out: Float32Array
  readonly shape: readonly number[]
  readonly saved: S
}

export interface OpSpec<A, S> {
  readonly name: string
  /** Throws a ShapeError for inputs it cannot take; computes the output with kernels. */
  readonly forward: (inputs: readonly Tensor[], attrs: A) => Forward<S>
  /** Vector–Jacobian product: the gradient of each input given dy (null where an input takes none). */
  readonly backward: (dy: Float32Array, saved: S, inputs: readonly Tensor[], attrs: A, out: Tensor) => readonly (Float32Array | null)[]
}

interface Entry {
  readonly op: string
  readonly inputs: readonly Tensor[]
  readonly output: Tensor
  readonly backward: (dy: Float32Array) => readonly (Float32Array | null)[]
}

interface Recording {
  readonly entries: Entry[]
  readonly tracked: Set<Tensor>
}

let recording: Recording | null = null
const scopes: Set<Tensor>[] = []

export class ShapeError extends Error {
  override name = 'ShapeError'
}

export class NonFiniteError extends Error {
  override name = 'NonFiniteError'
}

/** Throw a ShapeError naming the op, the input and the shapes involved. */
export function shapeError(op: string, input: string, found: readonly number[], expected: string): never {
  throw new ShapeError(`${op}: input '${input}' has shape ${shapeText(found)}, expected ${expected}`)
}

const debugNumerics = (): boolean => process.env.HAPLOVL_DEBUG_NUMERICS === '1'

function checkFinite(values: Float32Array, what: string, op: string, position: number, shape: readonly number[]): void {
  for (let i = 0; i < values.length; i++)
    if (!Number.isFinite(values[i]!))
      throw new NonFiniteError(
        `${what} of op '${op}' (tape position ${position}, shape ${shapeText(shape)}) is ${values[i]} at flat index ${i}`,
      )
}

/** A new tensor, registered with the innermost `tidy` scope. */
export function track(data: Float32Array, shape: readonly number[]): Tensor {
  const t = new Tensor(data, shape)
  scopes[scopes.length - 1]?.add(t)
  return t
}

/** Declare a differentiable op from its forward and backward; returns the function users call. */
export function defineOp<A = undefined, S = undefined>(declared: OpSpec<A, S>): (inputs: readonly Tensor[], attrs: A) => Tensor {
  return (inputs, attrs) => {
    const spec = (substitutes?.get(declared.name) as OpSpec<A, S> | undefined) ?? declared
    const started = profile ? performance.now() : 0
    const { out, shape, saved } = spec.forward(inputs, attrs)
    if (profile) charge(`${spec.name} forward`, started)
    const output = track(out, shape)
    const position = recording?.entries.length ?? -1
    if (debugNumerics()) checkFinite(out, 'output', spec.name, position, shape)
    if (recording && inputs.some((t) => recording!.tracked.has(t))) {
      recording.tracked.add(output)
      recording.entries.push({
        op: spec.name,
        inputs,
        output,
        backward: (dy) => {
          const began = profile ? performance.now() : 0
          const grads = spec.backward(dy, saved, inputs, attrs, output)
          if (profile) charge(`${spec.name} backward`, began)
          return grads
        },
      })
    }
    return output
  }
}

// HAPLOVL_PROFILE=1: time spent per op and direction, printed when the process exits.
const profile = process.env.HAPLOVL_PROFILE === '1'
const spent = new Map<string, { ms: number; calls: number }>()
function charge(what: string, started: number): void {
  const entry = spent.get(what) ?? { ms: 0, calls: 0 }
  entry.ms += performance.now() - started
  entry.calls++
  spent.set(what, entry)
}
if (profile)
  process.on('exit', () => {
    const rows = [...spent].sort((a, b) => b[1].ms - a[1].ms)
    const total = rows.reduce((s, [, e]) => s + e.ms, 0)
    console.error(`op time (HAPLOVL_PROFILE), ${total.toFixed(0)} ms in all:`)
    for (const [what, e] of rows) console.error(`  ${what.padEnd(28)} ${e.ms.toFixed(1).padStart(9)} ms ${(100 * e.ms / total).toFixed(1).padStart(5)}%  ${e.calls} calls`)
  })

let substitutes: ReadonlyMap<string, OpSpec<never, unknown>> | null = null

/**
 * Run fn with other numerics for the named ops: same tape, same model code, different arithmetic.
 * The test suite uses it to run whole models on its Float64 reference implementations (the golden runs);
 * every op that fn reaches must have a substitute then, or it throws naming the op.
 */
export function withSubstitutes<T>(specs: ReadonlyMap<string, OpSpec<never, unknown>>, fn: () => T): T {
  const saved = substitutes
  substitutes = specs
  try {
    return fn()
  } finally {
    substitutes = saved
  }
}

// ---------------------------------------------------------------------------------------------------------------
// differentiation
// ---------------------------------------------------------------------------------------------------------------

export interface ValueAndGrad<P, A = undefined> {
  readonly value: number
  readonly grads: P
  /** whatever else f returned beside the loss (JAX's has_aux), e.g. the separate loss terms */
  readonly aux: A
}

/** A loss with auxiliary outputs that are not differentiated. */
export interface WithAux<A> {
  readonly loss: Tensor
  readonly aux: A
}

/**
 * Transform f(params, ...args) → scalar Tensor (or { loss, aux }) into a function returning its value and d value / d params,
 * the gradients in a tree of the same type as `params`. Parameters that f does not use get zeros.
 * Only the leaves whose dotted path passes `wrt` are differentiated; the others get zeros too, and an op none of
 * whose inputs depends on a differentiated leaf is not recorded, so no backward pass runs through frozen layers.
 * A non-finite value throws NonFiniteError before any gradient is computed.
 */
export function valueAndGrad<P extends Tree, Args extends unknown[], A = undefined>(
  f: (params: P, ...args: Args) => Tensor | WithAux<A>,
  wrt: (path: string) => boolean = () => true,
): (params: P, ...args: Args) => ValueAndGrad<P, A> {
  return (params, ...args) => {
    if (recording) throw new Error('valueAndGrad: nested differentiation is not supported (gradients are first order)')
    const rec: Recording = { entries: [], tracked: new Set(entries(params).flatMap(([path, t]) => (wrt(path) ? [t] : []))) }
    let result: Tensor | WithAux<A>
    recording = rec
    try {
      result = f(params, ...args)
    } finally {
      recording = null
    }
    const [loss, aux] = result instanceof Tensor ? [result, undefined as A] : [result.loss, result.aux]
    if (!(loss instanceof Tensor) || loss.size !== 1)
      throw new ShapeError(`valueAndGrad: the function must return a one-element tensor, got ${loss instanceof Tensor ? shapeText(loss.shape) : typeof loss}`)
    const value = loss.data[0]!
    if (!Number.isFinite(value)) throw new NonFiniteError(`valueAndGrad: the loss is ${value}`)

    const grad = new Map<Tensor, Float32Array>([[loss, Float32Array.of(1)]])
    for (let i = rec.entries.length - 1; i >= 0; i--) {
      const e = rec.entries[i]!
      const dy = grad.get(e.output)
      if (!dy) continue
      grad.delete(e.output) // an op output's gradient is complete once its op is reached
      const dxs = e.backward(dy)
      e.inputs.forEach((x, j) => {
        const dx = dxs[j]
        if (!dx || !rec.tracked.has(x)) return
        if (dx.length !== x.size)
          throw new ShapeError(`backward of '${e.op}': gradient for input ${j} has ${dx.length} values, input has shape ${shapeText(x.shape)}`)
        if (debugNumerics()) checkFinite(dx, `gradient for input ${j}`, e.op, i, x.shape)
        const prev = grad.get(x)
        grad.set(x, prev ? accumulate(prev, dx, x.shape) : dx)
      })
    }
    const grads = treeMap(params, (p) => track(grad.get(p) ?? new Float32Array(p.size), p.shape))
    return { value, grads, aux }
  }
}

/** prev + dx; in plain Float64 when a substitute produced Float64 gradients. */
function accumulate(prev: Float32Array, dx: Float32Array, shape: readonly number[]): Float32Array {
  if (!(prev instanceof Float64Array || dx instanceof Float64Array)) return binary('add', prev, shape, dx, shape, shape)
  const sum = new Float64Array(prev.length)
  for (let i = 0; i < sum.length; i++) sum[i] = prev[i]! + dx[i]!
  return sum as unknown as Float32Array
}

/** Evaluate fn with recording off (inference, frozen teachers, metrics). */
export function noGrad<T>(fn: () => T): T {
  const saved = recording
  recording = null
  try {
    return fn()
  } finally {
    recording = saved
  }
}

/** The same values as a new tensor through which no gradient flows (JAX's stop_gradient). */
export function stopGradient(x: Tensor): Tensor {
  return track(x.data, x.shape)
}

/** True while a tape is recording (for tests of "nothing is recorded outside valueAndGrad"). */
export function isRecording(): boolean {
  return recording !== null
}

/**
 * Run fn and dispose every tensor created inside it that its result does not hold.
 * The result may be a Tensor, a tree of Tensors, or an object whose values are such trees.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>()
  scopes.push(scope)
  let result: T
  try {
    result = fn()
  } finally {
    scopes.pop()
  }
  const keep = new Set<Tensor>()
  const collect = (v: unknown): void => {
    if (v instanceof Tensor) keep.add(v)
    else if (Array.isArray(v)) v.forEach(collect)
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(collect)
  }
  collect(result)
  const parent = scopes[scopes.length - 1]
  for (const t of scope) {
    if (keep.has(t)) parent?.add(t)
    else t.dispose()
  }
  return result
}
