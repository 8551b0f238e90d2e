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
