/**
 * The one place that owns a gpu.js instance.
 *
 * - The mode comes from `HAPLOVL_BACKEND` (webasm | cpu | headlessgl, default webasm) or `setBackend`.
 * - Kernels are compiled once per (name, shape key) and cached; loop bounds are baked into `constants`,
 *   because gpu.js silently truncates loops bounded by a kernel argument at `loopMaxIterations`.
 * - After a kernel's first call we assert that the backend asked for is the one that ran: gpu.js falls back
 *   to the cpu backend on unsupported features, and a silent fallback would invalidate every measurement.
 *
 * Every kernel in this folder takes and returns flat row-major Float32Arrays.
 */
import { GPU, Input, WebAssemblyKernel, type IKernelRunShortcut, type IGPUKernelSettings } from 'gpu.js'

export const backendNames = ['webasm', 'cpu', 'headlessgl'] as const
export type BackendName = (typeof backendNames)[number]

/** The gpu.js kernel class each backend must produce. */
const kernelClass: Record<BackendName, string> = {
  webasm: 'WebAssemblyKernel',
  cpu: 'CPUKernel',
  headlessgl: 'HeadlessGLKernel',
}

/**
 * webasm kernels return their output as the flat Float32Array it already is. gpu.js would first nest it in
 * rows of views, one view per cell for `returnType: 'Array(n)'`, only for `flatten` below to undo; on the
 * matmul kernel that cost ~20% of a call with a short reduction. The workers (./threads.ts) do the same.
 */
;(WebAssemblyKernel.prototype as unknown as { _shapeOutput: (data: Float32Array) => Float32Array })._shapeOutput = (data) => data

/** Indices inside kernels are float32 (on webasm and GL): exact up to 2^24. Larger arrays are refused. */
export const maxElements = 2 ** 24

/**
 * What a kernel is called with: flat arrays, and scalars for values that change from call to call.
 * A flat array wrapped by `shaped` is read with 2-D or 3-D indices (`a[z][y][x]`), which webasm turns into
 * integer index arithmetic per axis instead of one float-valued flat index.
 */
export type KernelArg = Float32Array | number | Input

/** `data` viewed with dims `[x, y, z]` (x fastest) inside a kernel; no copy. */
export function shaped(data: Float32Array, dims: [number, number] | [number, number, number]): Input {
  return new Input(data as unknown as number[], dims)
}

/** `this` inside a kernel body, as far as our kernels use it. */
export interface KernelThis<C = Record<string, number>> {
  readonly thread: { readonly x: number; readonly y: number; readonly z: number }
  readonly constants: C
}

function parseBackend(name: string): BackendName {
  if ((backendNames as readonly string[]).includes(name)) return name as BackendName
  throw new Error(`unknown backend '${name}': expected one of ${backendNames.join(', ')}`)
}

let current: BackendName = parseBackend(process.env.HAPLOVL_BACKEND ?? 'webasm')
let gpu: GPU | null = null
/**
 * Compiled kernels kept per thread; beyond this the least recently used is destroyed (sequence lengths vary).
 * Destroying matters: gpu.js keeps every kernel it ever made in its instance's list, on webasm each with its
 * own WebAssembly memory, and a process can reserve only ~13k of those (10 GB of address space apiece).
 * Merely forgetting a kernel leaks it; a whole pipeline leaked enough that new memories failed to allocate.
 */
export const KERNELS_PER_THREAD = 2048
let kernelLimit = KERNELS_PER_THREAD
interface Cached { readonly run: (...args: unknown[]) => unknown; readonly destroy: () => void }
const cache = new Map<string, Cached>() // in order of last use

export function getBackend(): BackendName {
  return current
}

/** Switch backends; compiled kernels of the previous backend are dropped. */
export function setBackend(name: BackendName | string): void {
  const next = parseBackend(name)
  if (next === 'headlessgl' && !GPU.isHeadlessGLSupported)
    throw new Error("backend 'headlessgl' needs the optional 'gl' module and a display (run under xvfb-run)")
  if (next === current) return
  current = next
  for (const c of cache.values()) c.destroy()
  cache.clear()
  gpu = null
}

/** Change how many compiled kernels this thread keeps (tests make it small to exercise eviction). */
export function setKernelLimit(n: number): void {
  kernelLimit = n
  evict()
}

function evict(): void {
  for (const [id, c] of cache) {
    if (cache.size <= kernelLimit) break
    cache.delete(id)
    c.destroy()
  }
}

/** The gpu.js instance's list of the kernels it made (not in its typings). */
const madeKernels = (): unknown[] => (gpu as unknown as { kernels?: unknown[] } | null)?.kernels ?? []

/** Kernels the gpu.js instance holds (compiled and not yet released). */
export const liveKernelCount = (): number => madeKernels().length

/** Frees a compiled kernel: its WebAssembly memory (webasm's destroy) and gpu.js's reference to it (every backend). */
function release(compiled: IKernelRunShortcut): void {
  compiled.destroy()
  const list = madeKernels(), at = list.indexOf(compiled.kernel)
  if (at >= 0) list.splice(at, 1)
}

function instance(): GPU {
  gpu ??= new GPU({ mode: current })
  return gpu
}

/** Number of compiled kernels in the cache (for tests of the cache itself). */
export function cachedKernelCount(): number {
  return cache.size
}

/**
 * A compiled kernel for `name` and `key` (the shapes and constants that make it distinct).
 * The returned function always yields a flat Float32Array, whatever the output rank.
 */
export function kernel<C extends object>(
  name: string,
  key: readonly (number | string | boolean)[],
  source: (this: KernelThis<C>, ...args: never[]) => number | number[],
  settings: Omit<IGPUKernelSettings, 'constants'> & {
    readonly constants?: C
    /** 'Array(n)': each thread returns n values, stored innermost in the flat output */
    readonly returnType?: 'Number' | 'Array(2)' | 'Array(3)' | 'Array(4)'
  },
): (...args: KernelArg[]) => Float32Array {
  const id = `${name}:${key.join(',')}`
  const outputSize = ((settings.output ?? []) as number[]).reduce((p, d) => p * d, 1)
  if (outputSize > maxElements)
    throw new Error(`kernel '${name}': output of ${outputSize} values; kernels index in float32, exact only up to 2^24 = ${maxElements}`)
  const hit = cache.get(id)
  if (hit) {
    cache.delete(id)
    cache.set(id, hit)
    return hit.run as (...args: KernelArg[]) => Float32Array
  }
  const compiled: IKernelRunShortcut = instance().createKernel(source as never, {
    precision: 'single',
    tactic: 'precision',
    dynamicOutput: false,
    ...(settings as IGPUKernelSettings),
  })
  let checked = false
  const run = (...args: KernelArg[]): Float32Array => {
    for (const a of args)
      if (a instanceof Float32Array && a.length > maxElements)
        throw new Error(`kernel '${name}': an input holds ${a.length} values; kernels index in float32, exact only up to 2^24 = ${maxElements}`)
    const out = compiled(...(args as never[])) as unknown
    if (!checked) {
      checked = true
      const ran = (compiled as unknown as { kernel: { constructor: { name: string }; fallbackReason?: string | null } }).kernel
      if (ran.constructor.name !== kernelClass[current])
        throw new Error(
          `kernel '${name}' ran on ${ran.constructor.name}, not on backend '${current}'` +
            (ran.fallbackReason ? ` (${ran.fallbackReason})` : ''),
        )
    }
    return flatten(out)
  }
  cache.set(id, { run: run as (...args: unknown[]) => unknown, destroy: () => release(compiled) })
  evict()
  return run
}

/**
 * webasm's output arrives flat (see `_shapeOutput` above). The other backends return nested arrays (rows, and
 * layers of rows) whose leaves are Float32Arrays: one per row for numbers, one per cell for
 * `returnType: 'Array(n)'`. Copy the leaves out in order: row-major, components innermost.
 */
function flatten(out: unknown): Float32Array {
  if (out instanceof Float32Array) return out
  const leaves: Float32Array[] = []
  const collect = (node: unknown): void => {
    if (node instanceof Float32Array) leaves.push(node)
    else for (const child of node as unknown[]) collect(child)
  }
  collect(out)
  const flat = new Float32Array(leaves.reduce((n, leaf) => n + leaf.length, 0))
  let at = 0
  for (const leaf of leaves) flat.set(leaf, at), (at += leaf.length)
  return flat
}
