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
import { GPU, type IKernelRunShortcut, type IGPUKernelSettings } from 'gpu.js'

export const backendNames = ['webasm', 'cpu', 'headlessgl'] as const
export type BackendName = (typeof backendNames)[number]

/** The gpu.js kernel class each backend must produce. */
const kernelClass: Record<BackendName, string> = {
  webasm: 'WebAssemblyKernel',
  cpu: 'CPUKernel',
  headlessgl: 'HeadlessGLKernel',
}

/** What a kernel is called with: flat arrays, and scalars for values that change from call to call. */
export type KernelArg = Float32Array | number

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
const cache = new Map<string, (...args: unknown[]) => unknown>()

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
  cache.clear()
  gpu = null
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
  source: (this: KernelThis<C>, ...args: never[]) => number,
  settings: Omit<IGPUKernelSettings, 'constants'> & { readonly constants?: C },
): (...args: KernelArg[]) => Float32Array {
  const id = `${name}:${key.join(',')}`
  const hit = cache.get(id)
  if (hit) return hit as (...args: KernelArg[]) => Float32Array
  const compiled: IKernelRunShortcut = instance().createKernel(source as never, {
    precision: 'single',
    tactic: 'precision',
    dynamicOutput: false,
    ...(settings as IGPUKernelSettings),
  })
  let checked = false
  const run = (...args: KernelArg[]): Float32Array => {
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
  cache.set(id, run as (...args: unknown[]) => unknown)
  return run
}

/** gpu.js returns rows of Float32Arrays for 2-D outputs; concatenate them into one row-major array. */
function flatten(out: unknown): Float32Array {
  if (out instanceof Float32Array) return out
  const rows = out as Float32Array[]
  const width = rows[0]?.length ?? 0
  const flat = new Float32Array(rows.length * width)
  for (let r = 0; r < rows.length; r++) flat.set(rows[r]!, r * width)
  return flat
}
