/**
 * `npm run bench`: haplovl's kernels beside TensorFlow.js's wasm backend, measured in the same process,
 * row by row (ours, then theirs), and written to BENCHMARKS.md with the machine they ran on.
 *
 * Every time is tinybench's median latency. Matmul rows report GFLOP/s (2·M·N·K per product); the other
 * rows report time per call. Ratios are haplovl/tfjs: for GFLOP/s higher is better, for times lower is better.
 */
import { writeFileSync } from 'node:fs'
import { ops, tensor, valueAndGrad, setBackend, getBackend, type Tensor } from '../src/index.ts'
import { kernel, type KernelThis } from '../kernels/backend.ts'
import { matmul, type MatmulDims } from '../kernels/matmul.ts'
import { threadCount, setThreadCount } from '../kernels/threads.ts'
import { loadTfjs, type Tf } from './tfjs.ts'
import { blockData, haplovlBlock, tfjsBlock, type BlockConfig } from './block.ts'
import { designs } from './designs.ts'
import { machine, loadAverage, otherLoad } from './machine.ts'
import { medianMs, pairMs, budgets, type Budget } from './measure.ts'
import { report, type Results } from './report.ts'

const log = (line: string) => process.stdout.write(line + '\n')

function random(n: number, seed: number): Float32Array {
  let s = seed >>> 0
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1)
}

const layouts = [
  { name: 'A·B', transA: false, transB: false },
  { name: 'A·Bᵀ', transA: false, transB: true },
  { name: 'Aᵀ·B', transA: true, transB: false },
] as const

function matmulBudget(n: number): Budget {
  return n <= 128 ? budgets.quick : n <= 512 ? budgets.medium : budgets.heavy
}

async function matmuls(tf: Tf, results: Results): Promise<void> {
  for (const n of [64, 128, 256, 512, 1024]) {
    for (const l of layouts) {
      const a = random(n * n, n), b = random(n * n, n + 1)
      const d: MatmulDims = { batch: 1, m: n, k: n, n, transA: l.transA, transB: l.transB, batchedA: true, batchedB: true }
      const ta = tf.tensor2d(a, [n, n]), tb = tf.tensor2d(b, [n, n])
      const [ours, theirs] = await pairMs(() => matmul(a, b, d), () => {
        const c = tf.matMul(ta, tb, l.transA, l.transB)
        c.dataSync()
        c.dispose()
      }, matmulBudget(n), n < 1024 ? 2 : 1)
      tf.dispose([ta, tb])
      results.matmul.push({ layout: l.name, n, ours, tfjs: theirs })
      const g = (ms: number) => ((2 * n ** 3) / ms / 1e6).toFixed(2)
      log(`matmul ${l.name} ${n}: ${g(ours)} GFLOP/s, tfjs ${g(theirs)} GFLOP/s`)
    }
  }
}

/** The design steps at 512³ (A·B), the production kernel on one thread and on all, and on the cpu backend. */
async function matmulDesigns(results: Results): Promise<void> {
  const n = 512
  const a = random(n * n, 7), b = random(n * n, 8)
  const d: MatmulDims = { batch: 1, m: n, k: n, n, transA: false, transB: false, batchedA: true, batchedB: true }
  const threads = threadCount()
  const steps: [string, () => unknown][] = [
    ...Object.entries(designs).map(([name, run]) => [name, () => run(a, b, n)] as [string, () => unknown]),
    ['packed A, B as N×K (kernels/matmul.ts), 1 thread', () => {
      setThreadCount(1)
      try {
        return matmul(a, b, d)
      } finally {
        setThreadCount(threads)
      }
    }],
    [`kernels/matmul.ts, ${threads} threads`, () => matmul(a, b, d)],
  ]
  // two rounds over all steps, each keeping its best median, so that a burst of outside load hits one round
  const best = new Map<string, number>()
  for (let round = 0; round < 2; round++)
    for (const [name, run] of steps) best.set(name, Math.min(best.get(name) ?? Infinity, await medianMs(run, budgets.heavy)))
  for (const [name] of steps) results.designs.push({ name, ms: best.get(name)! })
  const backend = getBackend()
  setBackend('cpu')
  try {
    results.designs.push({ name: 'kernels/matmul.ts on the cpu backend', ms: await medianMs(() => matmul(a, b, d), { iterations: 2, time: 0, warmupIterations: 1 }) })
  } finally {
    setBackend(backend)
  }
  for (const r of results.designs) log(`design ${r.name}: ${r.ms.toFixed(1)} ms`)
}

// tf.tidy must not return the Float32Array that dataSync gives: tidy walks its result looking for tensors,
// one element at a time (≈ 0.8 s for a million values), hence the `void`s below.
async function pointwise(tf: Tf, results: Results): Promise<void> {
  // softmax over rows of a 1024×1024 matrix
  {
    const n = 1024
    const xs = random(n * n, 3), us = random(n * n, 4)
    const x = tensor(xs, [n, n]), u = tensor(us, [n, n])
    const tx = tf.tensor2d(xs, [n, n]), tu = tf.tensor2d(us, [n, n])
    const fwdBwd = valueAndGrad((p: { x: Tensor }) => ops.sum(ops.mul(ops.softmax(p.x), u)))
    const tfFwdBwd = tf.grad((v) => tf.sum(tf.mul(tf.softmax(v), tu)))
    const [fo, ft] = await pairMs(() => ops.softmax(x), () => tf.tidy(() => void tf.softmax(tx).dataSync()), budgets.medium)
    results.ops.push({ name: 'softmax 1024×1024, forward', ours: fo, tfjs: ft })
    const [bo, bt] = await pairMs(() => fwdBwd({ x }), () => tf.tidy(() => void tfFwdBwd(tx).dataSync()), budgets.medium)
    results.ops.push({ name: 'softmax 1024×1024, forward + backward', ours: bo, tfjs: bt })
    tf.dispose([tx, tu])
  }
  // GELU (exact erf form) on a million values; tfjs has no GELU op, so it is composed from erf
  {
    const n = 1 << 20
    const xs = random(n, 5).map((v) => v * 4), us = random(n, 6)
    const x = tensor(xs, [n]), u = tensor(us, [n])
    const tx = tf.tensor1d(xs), tu = tf.tensor1d(us)
    const tfGelu = (v: ReturnType<Tf['tensor1d']>) => tf.mul(tf.mul(v, 0.5), tf.add(tf.erf(tf.mul(v, Math.SQRT1_2)), 1))
    const fwdBwd = valueAndGrad((p: { x: Tensor }) => ops.sum(ops.mul(ops.gelu(p.x), u)))
    const tfFwdBwd = tf.grad((v) => tf.sum(tf.mul(tfGelu(v as ReturnType<Tf['tensor1d']>), tu)))
    const [fo, ft] = await pairMs(() => ops.gelu(x), () => tf.tidy(() => void tfGelu(tx).dataSync()), budgets.medium)
    results.ops.push({ name: 'GELU, 1M values, forward', ours: fo, tfjs: ft })
    const [bo, bt] = await pairMs(() => fwdBwd({ x }), () => tf.tidy(() => void tfFwdBwd(tx).dataSync()), budgets.medium)
    results.ops.push({ name: 'GELU, 1M values, forward + backward', ours: bo, tfjs: bt })
    tf.dispose([tx, tu])
  }
  for (const r of results.ops.slice(-4)) log(`${r.name}: ${r.ours.toFixed(2)} ms, tfjs ${r.tfjs.toFixed(2)} ms`)
}

function tinyAdd(this: KernelThis, a: Float32Array, b: Float32Array): number {
  return a[this.thread.x]! + b[this.thread.x]!
}

async function overhead(tf: Tf, results: Results): Promise<void> {
  const a = Float32Array.of(1, 2, 3, 4), b = Float32Array.of(5, 6, 7, 8)
  const raw = kernel('bench-tiny-add', [4], tinyAdd, { output: [4] })
  const ta = tf.tensor1d(a), tb = tf.tensor1d(b)
  const x = tensor(a, [4]), y = tensor(b, [4])
  const us = (ms: number) => ms * 1000
  const [kernelMs, tfjsMs] = await pairMs(() => raw(a, b), () => tf.tidy(() => void tf.add(ta, tb).dataSync()), budgets.tiny)
  results.overhead = { kernel: us(kernelMs), op: us(await medianMs(() => ops.add(x, y), budgets.tiny)), tfjs: us(tfjsMs) }
  tf.dispose([ta, tb])
  log(`overhead: kernel ${results.overhead.kernel.toFixed(1)} µs, op ${results.overhead.op.toFixed(1)} µs, tfjs ${results.overhead.tfjs.toFixed(1)} µs`)
}

async function block(tf: Tf, results: Results): Promise<void> {
  const config: BlockConfig = { batch: 8, tokens: 256, width: 128, heads: 4, hidden: 512 }
  const data = blockData(config)
  const ours = haplovlBlock(config, data)
  const theirs = tfjsBlock(tf, config, data)
  const lossOurs = ours(), lossTheirs = theirs.run()
  const [o, t] = await pairMs(ours, theirs.run, budgets.heavy)
  results.block = { config, ours: o, tfjs: t, losses: [lossOurs, lossTheirs] }
  theirs.dispose()
  log(`block: ${results.block.ours.toFixed(0)} ms, tfjs ${results.block.tfjs.toFixed(0)} ms (losses ${lossOurs} / ${lossTheirs})`)
}

async function main(): Promise<void> {
  const started = Date.now()
  const loadBefore = loadAverage()
  const tf = await loadTfjs()
  const results: Results = { matmul: [], designs: [], ops: [], overhead: null, block: null }
  const { cores: others } = await otherLoad(async () => {
    await matmuls(tf, results)
    await matmulDesigns(results)
    await pointwise(tf, results)
    await overhead(tf, results)
    await block(tf, results)
  })
  const minutes = (Date.now() - started) / 60000
  const text = report(results, {
    machine: machine(),
    backend: getBackend(),
    threads: threadCount(),
    command: 'npm run bench   (runs: tsx bench/run.ts)',
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    loadBefore,
    loadAfter: loadAverage(),
    others,
    minutes,
    simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
  })
  writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), text)
  log(`wrote BENCHMARKS.md in ${minutes.toFixed(1)} min`)
}

await main()
