/**
 * Progress of training steps. On a terminal: one bar redrawn in place (carriage return, ANSI erase-line), with
 * step/total, loss, tokens per second, elapsed and remaining time. Elsewhere (a log file, CI): plain lines, the
 * first and last step of a stage and one line every `every` seconds in between.
 *
 * Times are wall-clock from just before a stage's first step (its first record's own duration is added back),
 * so checkpoint writes count; the time left assumes the remaining steps run at the average pace so far.
 */
import type { StepRecord } from '../train/loop.ts'

export interface State {
  readonly stage: string
  /** steps finished (the last record's step + 1) */
  readonly done: number
  readonly total: number
  /** absent for work that is not training (evaluation items) */
  readonly loss?: number
  readonly tokensPerSecond?: number
  readonly elapsed: number
  /** seconds, unknown before the first step */
  readonly left: number | undefined
}

/** m:ss, or h:mm:ss from an hour on; '?' when unknown. */
export function clock(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '?'
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`
}

/** 950, 12.3k, 4.56M */
export function count(n: number): string {
  if (!Number.isFinite(n)) return '?'
  if (n < 1000) return String(Math.round(n))
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 2 : 1)}k`
  return `${(n / 1e6).toFixed(2)}M`
}

const lossText = (loss: number): string => (Number.isFinite(loss) ? loss.toFixed(4) : String(loss))

/** The plain line of a state: `stage1 step 20/300 loss 3.1416 tokens/s 1.23k elapsed 0:12 left 2:48`. */
export const plainLine = (s: State): string =>
  `${s.stage} ${s.loss === undefined ? '' : 'step '}${s.done}/${s.total}${s.loss === undefined ? '' : ` loss ${lossText(s.loss)}`}` +
  `${s.tokensPerSecond === undefined ? '' : ` tokens/s ${count(s.tokensPerSecond)}`} elapsed ${clock(s.elapsed)} left ${clock(s.left)}`

/** The terminal bar of a state, fitted to `columns`: `stage1 ███████░░░░░ 20/300 loss 3.1416 1.23k tok/s 0:12<2:48`. */
export function barLine(s: State, columns = 80): string {
  const tail = ` ${s.done}/${s.total}${s.loss === undefined ? '' : ` loss ${lossText(s.loss)}`}` +
    `${s.tokensPerSecond === undefined ? '' : ` ${count(s.tokensPerSecond)} tok/s`} ${clock(s.elapsed)}<${clock(s.left)}`
  const room = Math.max(0, Math.min(40, columns - 1 - s.stage.length - 1 - tail.length))
  const filled = s.total > 0 ? Math.round((room * Math.min(s.done, s.total)) / s.total) : 0
  return `${s.stage} ${'█'.repeat(filled)}${'░'.repeat(room - filled)}${tail}`.slice(0, Math.max(0, columns - 1))
}

export interface Options {
  readonly write: (text: string) => void
  /** a terminal: redraw one bar; otherwise plain lines */
  readonly tty: boolean
  readonly columns?: number
  /** seconds between plain lines (default 10) */
  readonly every?: number
  /** clock in seconds (default performance.now() / 1000) */
  readonly now?: () => number
}

export interface Reporter {
  readonly step: (record: StepRecord<unknown>, total: number) => void
  /** `done` of `total` items of some other work (e.g. evaluation questions) */
  readonly items: (label: string, done: number, total: number) => void
  /** end the current bar's line, or print the last step if a plain line has not shown it (call before printing anything else) */
  readonly finish: () => void
}

export function reporter(o: Options): Reporter {
  const now = o.now ?? (() => performance.now() / 1000)
  let stage: string | undefined
  let startedAt = 0, firstDone = 0, tokens = 0, lastShown = -Infinity, open = false
  let unshown: State | undefined // the latest state, when no plain line has shown it yet
  let lastReport = now() // items date their stage's start from the report before them
  const finish = () => {
    if (open) o.write('\n')
    if (unshown) o.write(`${plainLine(unshown)}\n`)
    open = false
    unshown = undefined
  }
  /** one unit of work done: `seconds` is its own duration (to date the start of a stage from its first report) */
  const advance = (label: string, at: number, total: number, seconds: number, training?: { loss: number; tokens: number }) => {
    const t = now()
    lastReport = t
    if (label !== stage) {
      finish()
      stage = label
      startedAt = t - seconds
      firstDone = at // a resumed stage starts past 0
      tokens = 0
      lastShown = -Infinity
    }
    tokens += training?.tokens ?? 0
    const done = at + 1, elapsed = Math.max(t - startedAt, 1e-9), ran = done - firstDone
    const state: State = {
      stage: label, done, total, elapsed, left: ran > 0 ? ((total - done) * elapsed) / ran : undefined,
      ...(training ? { loss: training.loss, tokensPerSecond: tokens / elapsed } : {}),
    }
    const last = done >= total
    if (o.tty) {
      if (!last && t - lastShown < 0.1) return // at most ten redraws a second
      o.write(`\r${barLine(state, o.columns ?? 80)}\x1b[K`)
      open = true
      if (last) finish()
    } else {
      unshown = state
      if (!last && ran !== 1 && t - lastShown < (o.every ?? 10)) return
      o.write(`${plainLine(state)}\n`)
      unshown = undefined
    }
    lastShown = t
  }
  const step = (r: StepRecord<unknown>, total: number) => advance(r.stage, r.step, total, r.seconds, { loss: r.loss, tokens: r.tokens })
  const items = (label: string, done: number, total: number) => advance(label, done - 1, total, now() - lastReport)
  return { step, items, finish }
}
