/** One timing with tinybench: the median latency (ms) of `fn` after a short warm-up. */
import { Bench } from 'tinybench'

export interface Budget {
  /** minimum measured iterations */
  readonly iterations: number
  /** time budget in ms (tinybench runs until both this and `iterations` are reached) */
  readonly time: number
  readonly warmupIterations?: number
}

export const budgets = {
  quick: { iterations: 20, time: 300, warmupIterations: 5 },
  medium: { iterations: 6, time: 400, warmupIterations: 2 },
  heavy: { iterations: 3, time: 0, warmupIterations: 1 },
  tiny: { iterations: 2000, time: 300, warmupIterations: 200 },
} as const satisfies Record<string, Budget>

/**
 * The medians of `ours` and `theirs`, measured alternately `rounds` times; each side keeps its best median,
 * so that a burst of load from other processes during one side's turn does not decide the comparison.
 */
export async function pairMs(ours: () => unknown, theirs: () => unknown, budget: Budget, rounds = 2): Promise<[number, number]> {
  let a = Infinity, b = Infinity
  for (let i = 0; i < rounds; i++) {
    a = Math.min(a, await medianMs(ours, budget))
    b = Math.min(b, await medianMs(theirs, budget))
  }
  return [a, b]
}

export async function medianMs(fn: () => unknown, budget: Budget): Promise<number> {
  const bench = new Bench({
    iterations: budget.iterations,
    time: budget.time,
    warmupIterations: budget.warmupIterations ?? 1,
    warmupTime: 0,
    throws: true,
  })
  bench.add('task', fn)
  await bench.run()
  const result = bench.tasks[0]!.result
  if (result.state !== 'completed') throw new Error(`benchmark ended in state ${result.state}`)
  return result.latency.p50
}
