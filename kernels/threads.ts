/**
 * Synchronous worker threads for large kernels.
 *
 * The engine's API is synchronous, and gpu.js's own thread pool (`asyncMode: true` on webasm) is not: its
 * workers report completion by postMessage, so the caller must return to the event loop (await) before a
 * result exists. A synchronous op cannot do that. Instead, each worker here runs its own gpu.js (webasm)
 * instance and compiles the *same* kernel source with the same settings; the caller splits a kernel's output
 * into parts, posts all but the first part to workers, computes the first part itself, and then blocks in
 * `Atomics.wait` until the workers are done (Node allows blocking waits on the main thread).
 *
 * Messages travel over MessageChannels and are read with `receiveMessageOnPort`, which needs no event loop
 * on either side; a SharedArrayBuffer holds two counters per worker (job posted, job done) to wait on.
 * Every output cell is computed by the same compiled code whichever thread runs it, so results are
 * bit-identical to a single-threaded run.
 *
 * `HAPLOVL_THREADS` sets the thread count (main thread included; default: the available parallelism; 1
 * turns threads off). Workers start lazily and are unref'd, so they never keep the process alive.
 *
 * A blocked main thread cannot hear a worker's 'exit' event, and a worker killed outright (out of memory)
 * never reports. So the caller waits at most `workerTimeout` for a reply; a worker that misses it is
 * terminated, replaced on the next call, and its calls are run here instead (same code, same results).
 * Each side keeps at most KERNELS_PER_THREAD compiled kernels (least recently used destroyed first), so a
 * long run over many sequence lengths does not grow a worker's memory without bound.
 */
import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { createRequire } from 'node:module'
import { kernel, shaped, getBackend, KERNELS_PER_THREAD, type KernelArg } from './backend.ts'

/**
 * An argument: flat data, or the output of an earlier call of the same list (`from`: its index), with dims
 * when the kernel reads it as a 2-D or 3-D array.
 */
export type Arg =
  | { readonly data: Float32Array; readonly dims: readonly number[] | null }
  | { readonly from: number; readonly dims: readonly number[] | null }

/** One kernel call that can run on this thread (through kernels/backend.ts) or on a worker. */
export interface Call {
  /** the kernel cache key, the same on every thread */
  readonly name: string
  readonly key: readonly (number | string | boolean)[]
  /** a kernel function, as kernels/backend.ts takes it */
  readonly source: (this: never, ...args: never[]) => number | number[]
  readonly settings: Parameters<typeof kernel>[3]
  readonly args: readonly Arg[]
}

/** A Call as it crosses threads: source text instead of a function. */
interface RemoteCall {
  readonly key: string
  readonly source: string
  readonly settings: Record<string, unknown>
  readonly args: readonly Arg[]
}

function remoteCall(c: Call): RemoteCall {
  return {
    key: `${c.name}:${c.key.join(',')}`,
    source: c.source.toString(),
    // the settings kernels/backend.ts adds to every kernel
    settings: { precision: 'single', tactic: 'precision', dynamicOutput: false, ...c.settings },
    // a message carries a view's whole buffer: send a part of a larger array as a copy of just that part
    args: c.args.map((a) =>
      'data' in a && a.data.byteLength !== a.data.buffer.byteLength ? { data: a.data.slice(), dims: a.dims } : a),
  }
}

/** Runs a list of calls here, in order (a call may read an earlier one's output); returns every output. */
export function runHere(calls: readonly Call[]): Float32Array[] {
  const outs: Float32Array[] = []
  for (const c of calls) {
    const args: KernelArg[] = c.args.map((a) => {
      const data = 'from' in a ? outs[a.from]! : a.data
      return a.dims ? shaped(data, a.dims as [number, number, number]) : data
    })
    outs.push(kernel(c.name, c.key, c.source as Parameters<typeof kernel>[2], c.settings)(...args))
  }
  return outs
}

// The worker body: plain CommonJS, evaluated as a string (`eval: true`), so it needs no TypeScript loader.
const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads')
const { GPU, Input, WebAssemblyKernel } = require(workerData.gpuPath)
WebAssemblyKernel.prototype._shapeOutput = (data) => data // flat outputs, as in kernels/backend.ts
const gpu = new GPU({ mode: 'webasm' })
const kernels = new Map() // in order of last use
function kernelFor(call) {
  let run = kernels.get(call.key)
  if (run) kernels.delete(call.key)
  else run = gpu.createKernel(call.source, call.settings)
  kernels.set(call.key, run)
  if (kernels.size > workerData.maxKernels) {
    const oldest = kernels.keys().next().value
    kernels.get(oldest).destroy() // see KERNELS_PER_THREAD: forgetting a gpu.js kernel does not free it
    kernels.delete(oldest)
  }
  return run
}
const state = new Int32Array(workerData.state)
const port = workerData.port
// a worker that dies answers -1, so the caller never waits for it forever
process.on('exit', () => {
  Atomics.store(state, 1, -1)
  Atomics.notify(state, 1)
})
let seen = 0
for (;;) {
  Atomics.wait(state, 0, seen)
  seen = Atomics.load(state, 0)
  // the counter can run ahead of the message it announces: poll for the message every 1 ms
  let message = receiveMessageOnPort(port)
  while (message === undefined) {
    Atomics.wait(state, 2, 0, 1)
    message = receiveMessageOnPort(port)
  }
  try {
    const outs = []
    for (const call of message.message) {
      const run = kernelFor(call)
      const args = call.args.map((a) => {
        const data = a.from === undefined ? a.data : outs[a.from]
        return a.dims ? new Input(data, a.dims) : data
      })
      outs.push(run(...args)) // flat (see _shapeOutput above)
      if (run.kernel.constructor.name !== 'WebAssemblyKernel') throw new Error('worker kernel ran on ' + run.kernel.constructor.name)
    }
    port.postMessage({ outs }, outs.map((out) => out.buffer))
  } catch (e) {
    port.postMessage({ error: String((e && e.stack) || e) })
  }
  Atomics.store(state, 1, seen)
  Atomics.notify(state, 1)
}
`

interface Remote {
  readonly worker: Worker
  readonly port: MessagePort
  /** [posted, done, scratch] job counters */
  readonly state: Int32Array
  posted: number
}

const remotes: (Remote | undefined)[] = []

function parseThreads(text: string | undefined): number {
  if (text === undefined || text === '') return availableParallelism()
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new Error(`HAPLOVL_THREADS must be a positive integer, got '${text}'`)
  return n
}

let threads = parseThreads(process.env.HAPLOVL_THREADS)

/** Threads a kernel may be split over, the calling thread included. */
export function threadCount(): number {
  return threads
}

/** Change the thread count (1 = no workers). Workers beyond the new count stay idle. */
export function setThreadCount(n: number): void {
  threads = parseThreads(String(n))
}

/** How long the caller waits for a worker's reply before running its calls itself, in ms. */
let workerTimeout = 20_000 // the longest part a worker runs takes well under a second

/** Change the reply timeout (tests make it short to exercise the fallback). */
export function setWorkerTimeout(ms: number): void {
  workerTimeout = ms
}

function remote(i: number): Remote {
  const existing = remotes[i]
  if (existing) return existing
  const { port1, port2 } = new MessageChannel()
  const state = new Int32Array(new SharedArrayBuffer(12))
  const gpuPath = createRequire(import.meta.url).resolve('gpu.js')
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { gpuPath, state: state.buffer, port: port2, maxKernels: KERNELS_PER_THREAD },
    transferList: [port2],
  })
  worker.unref()
  port1.unref()
  remotes[i] = { worker, port: port1, state, posted: 0 }
  return remotes[i]
}

/** Stops worker `i`; the next call to it starts a fresh one. */
function retire(i: number): void {
  void remotes[i]?.worker.terminate()
  remotes[i] = undefined
}

/** Starts `calls` (run in order) on worker `i` and returns at once; `collect(i)` waits for their results. */
export function post(i: number, calls: readonly Call[]): void {
  const r = remote(i)
  r.port.postMessage(calls.map(remoteCall))
  r.posted++
  Atomics.store(r.state, 0, r.posted)
  Atomics.notify(r.state, 0)
}

/**
 * Blocks until worker `i` has finished the calls posted last, and returns their flat outputs; or null when it
 * has exited or not answered within the timeout (it is then retired).
 */
export function collect(i: number): Float32Array[] | null {
  const r = remotes[i]!
  const deadline = performance.now() + workerTimeout
  for (;;) {
    const done = Atomics.load(r.state, 1)
    if (done === r.posted) break
    const left = deadline - performance.now()
    if (done === -1 || left <= 0) {
      retire(i)
      return null
    }
    Atomics.wait(r.state, 1, done, left)
  }
  const reply = receiveMessageOnPort(r.port)?.message as { outs?: Float32Array[]; error?: string } | undefined
  if (!reply) throw new Error(`worker thread ${i} finished without a reply`)
  if (reply.error !== undefined) throw new Error(`worker thread ${i}: ${reply.error}`)
  return reply.outs!
}

let warned = false

/**
 * Runs `remote[w]` on worker w (all posted first) and `local()` on the calling thread meanwhile, then waits
 * for every worker; a worker that exited or timed out has its calls run here. Each worker is collected even
 * when something throws, so no reply is left behind to be mistaken for a later call's; the first error is
 * rethrown after that.
 */
export function fanOut<T>(remote: readonly (readonly Call[])[], local: () => T): { local: T; remote: Float32Array[][] } {
  remote.forEach((calls, w) => post(w, calls))
  let failure: { error: unknown } | null = null
  let mine: T | undefined
  try {
    mine = local()
  } catch (error) {
    failure = { error }
  }
  const theirs: Float32Array[][] = []
  for (let w = 0; w < remote.length; w++) {
    try {
      const outs = collect(w)
      if (outs === null && !warned) {
        warned = true
        process.stderr.write(`haplovl: worker thread ${w} did not answer within ${workerTimeout / 1000} s; it was restarted and its part ran on the main thread\n`)
      }
      theirs.push(outs ?? runHere(remote[w]!))
    } catch (error) {
      failure ??= { error }
    }
  }
  if (failure) throw failure.error
  return { local: mine as T, remote: theirs }
}

/**
 * Splits rows [0, rows) into contiguous parts of whole `unit`s, one per thread when there are at least
 * `minElements` elements (else one part on this thread), runs `calls(r0, r1)` for each part (parts after the
 * first on workers) and concatenates output `pick` of every part's list in row order.
 */
export function splitRows(rows: number, unit: number, elements: number, minElements: number,
  calls: (r0: number, r1: number) => Call[], pick: number): Float32Array {
  const units = rows / unit
  const parts = getBackend() === 'webasm' && elements >= minElements ? Math.max(1, Math.min(threads, units)) : 1
  const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.floor((i * units) / parts) * unit)
  const lists = Array.from({ length: parts }, (_, i) => calls(bounds[i]!, bounds[i + 1]!))
  const { local, remote } = fanOut(lists.slice(1), () => runHere(lists[0]!))
  if (parts === 1) return local[pick]!
  const outs = [local[pick]!, ...remote.map((r) => r[pick]!)]
  const joined = new Float32Array(outs.reduce((n, o) => n + o.length, 0))
  let at = 0
  for (const o of outs) joined.set(o, at), (at += o.length)
  return joined
}
