/** What the numbers were measured on: CPU model, cores, load, runtime and library versions. */
import { readFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly node: string
  readonly gpujs: string
  readonly tfjs: string
  readonly load: string
}

export function machine(): Machine {
  let cpu = cpus()[0]?.model ?? 'unknown'
  try {
    cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu
  } catch {
    // not Linux: keep os.cpus()'s model
  }
  const version = (name: string) => (require(`${name}/package.json`) as { version: string }).version
  return {
    cpu,
    cores: availableParallelism(),
    node: process.version,
    gpujs: version('gpu.js'),
    tfjs: `${version('@tensorflow/tfjs-core')} (wasm backend ${version('@tensorflow/tfjs-backend-wasm')})`,
    load: loadAverage(),
  }
}

/** The 1-minute load average, as a measure of how busy the cores were with other processes. */
export function loadAverage(): string {
  return loadavg()[0]!.toFixed(2)
}

/** Busy CPU time of the whole machine so far, in seconds (Linux /proc/stat), or null elsewhere. */
function machineBusySeconds(): number | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    const [user, nice, system, , , irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number]
    return (user + nice + system + irq + softirq + (steal ?? 0)) / 100 // USER_HZ is 100 on Linux
  } catch {
    return null
  }
}

/**
 * Measures how many cores other processes kept busy while `fn` ran: the machine's busy time minus this
 * process's own (main thread and workers), divided by the wall time.
 */
export async function otherLoad<T>(fn: () => Promise<T>): Promise<{ result: T; cores: number | null }> {
  const busy0 = machineBusySeconds(), own0 = process.cpuUsage(), t0 = performance.now()
  const result = await fn()
  const busy1 = machineBusySeconds(), own = process.cpuUsage(own0), wall = (performance.now() - t0) / 1000
  if (busy0 === null || busy1 === null) return { result, cores: null }
  const mine = (own.user + own.system) / 1e6
  return { result, cores: Math.max(0, (busy1 - busy0 - mine) / wall) }
}
