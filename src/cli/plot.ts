/**
 * `haplovl plot [RUN_DIR]`: every JSON-lines log of a run in one picture, a panel per stage, in the recipe's
 * order (teacher, llm, stage1, align, stage2, then any other log by name).
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as Curves from '../plot/curves.ts'
import { files } from '../recipe/run.ts'
import type { Invocation, Outcome } from './invocation.ts'
import { save } from './output.ts'

const ORDER = ['teacher', 'llm', 'stage1', 'align', 'stage2']

/** Log file names in recipe order. */
export const orderLogs = (names: readonly string[]): string[] => {
  const rank = (n: string) => { const k = ORDER.indexOf(n.replace(/\.jsonl$/, '')); return k < 0 ? ORDER.length : k }
  return names.filter((n) => n.endsWith('.jsonl')).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0))
}

/** Draw every log of a run directory into `out`; returns the panels drawn. */
export async function drawRun(dir: string, out: string, smooth: number): Promise<E.Either<string, readonly Curves.Panel[]>> {
  let names: string[]
  try {
    names = orderLogs(await readdir(dir))
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return E.left(`cannot read run directory "${dir}": ${code === 'ENOENT' ? 'no such directory' : code === 'ENOTDIR' ? 'not a directory' : String(e)}`)
  }
  if (names.length === 0) return E.left(`no training logs (*.jsonl) in "${dir}"`)
  const records: Curves.LogRecord[] = []
  for (const name of names) {
    const log = await Curves.readLog(join(dir, name))()
    if (E.isLeft(log)) return log
    records.push(...log.right)
  }
  const panels = Curves.panelsOf(records)
  if (panels.length === 0) return E.left(`the logs in "${dir}" hold no steps yet`)
  const saved = await save(out, await Curves.curvesPng(panels, { smooth, title: `loss curves of ${dir}` }))
  return E.isLeft(saved) ? saved : E.right(panels)
}

export const defaultOut = (dir: string): string => join(dir, files.plots, 'losses.png')

export async function plot(a: Invocation): Outcome {
  const dir = a.positionals[0] ?? a.dir
  const out = a.get('out', defaultOut(dir))
  const drawn = await drawRun(dir, out, a.get('smooth', 0.6))
  if (E.isLeft(drawn)) return drawn
  for (const p of drawn.right) a.io.out(`${p.stage}: ${p.series[0]!.steps.length} steps, last loss ${p.series[0]!.values.at(-1)?.toFixed(4) ?? '?'}`)
  a.io.out(`wrote ${out}`)
  return E.right(0)
}
