/** The progress reporter: plain periodic lines off a terminal, one redrawn bar on it. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Progress from '../../src/cli/progress.ts'
import type { StepRecord } from '../../src/train/loop.ts'

const rec = (stage: string, step: number, loss = 2.5, tokens = 100, seconds = 1): StepRecord<unknown> =>
  ({ stage, step, loss, lr: 1e-3, gradNorm: 1, tokens, seconds })

/** A reporter on a fake clock that advances one second per step. */
const harness = (tty: boolean, every = 10) => {
  const written: string[] = []
  let t = 100
  const r = Progress.reporter({ write: (s) => void written.push(s), tty, columns: 100, every, now: () => t })
  return { written, r, tick: (s = 1) => void (t += s) }
}

describe('formatting', () => {
  it('clock and count', () => {
    assert.deepEqual([0, 9.4, 75, 3600 + 62, undefined].map(Progress.clock), ['0:00', '0:09', '1:15', '1:01:02', '?'])
    assert.deepEqual([950, 1234, 45678, 4.56e6].map(Progress.count), ['950', '1.23k', '45.7k', '4.56M'])
  })

  it('a plain line names the stage, step/total, loss, tokens/s, elapsed and time left', () => {
    const s: Progress.State = { stage: 'stage1', done: 20, total: 300, loss: Math.PI, tokensPerSecond: 1234, elapsed: 12, left: 168 }
    assert.equal(Progress.plainLine(s), 'stage1 step 20/300 loss 3.1416 tokens/s 1.23k elapsed 0:12 left 2:48')
  })

  it('a bar fits the terminal width and fills with progress', () => {
    const s: Progress.State = { stage: 'llm', done: 50, total: 100, loss: 1, tokensPerSecond: 10, elapsed: 5, left: 5 }
    for (const columns of [40, 80, 200]) assert.ok(Progress.barLine(s, columns).length <= columns - 1)
    const bar = Progress.barLine(s, 80)
    assert.match(bar, /^llm █+░+ 50\/100 loss 1\.0000 10 tok\/s 0:05<0:05$/)
    assert.ok(Math.abs((bar.match(/█/g) ?? []).length - (bar.match(/░/g) ?? []).length) <= 1)
  })
})

describe('plain mode (not a terminal)', () => {
  it('prints the first step, one line per `every` seconds, and the last step', () => {
    const { written, r, tick } = harness(false, 3)
    for (let s = 0; s < 10; s++) (tick(), r.step(rec('stage2', s), 10))
    r.finish()
    assert.ok(written.every((l) => l.endsWith('\n') && !l.includes('\r') && !l.includes('\x1b')))
    assert.deepEqual(written.map((l) => /step (\d+)\//.exec(l)![1]), ['1', '4', '7', '10'])
    // 1 s per step from the first step's start: at step 4, 4 s elapsed, 400 tokens, 6 steps of 1 s left
    assert.equal(written[1], 'stage2 step 4/10 loss 2.5000 tokens/s 100 elapsed 0:04 left 0:06\n')
    assert.equal(written[3], 'stage2 step 10/10 loss 2.5000 tokens/s 100 elapsed 0:10 left 0:00\n')
  })

  it('starts afresh at a new stage, and counts a resumed stage from where it resumed', () => {
    const { written, r, tick } = harness(false, 100)
    for (let s = 0; s < 3; s++) (tick(), r.step(rec('a', s), 3))
    for (let s = 5; s < 8; s++) (tick(2), r.step(rec('b', s, 1, 50, 2), 10))
    assert.deepEqual(written, [
      'a step 1/3 loss 2.5000 tokens/s 100 elapsed 0:01 left 0:02\n',
      'a step 3/3 loss 2.5000 tokens/s 100 elapsed 0:03 left 0:00\n',
      // resumed at step 5: the first step took 2 s; 4 steps left at 2 s each
      'b step 6/10 loss 1.0000 tokens/s 25 elapsed 0:02 left 0:08\n',
    ])
  })

  it('finish() prints the last step when a stage stops between periodic lines (Ctrl-C)', () => {
    const { written, r, tick } = harness(false, 100)
    for (let s = 0; s < 4; s++) (tick(), r.step(rec('stage1', s), 50))
    r.finish()
    r.finish()
    assert.deepEqual(written.map((l) => /step (\d+)\//.exec(l)![1]), ['1', '4'])
  })
})

describe('other work', () => {
  it('items report count and time without loss or throughput', () => {
    const { written, r, tick } = harness(false, 100)
    for (let k = 1; k <= 4; k++) (tick(), r.items('eval', k, 4))
    assert.deepEqual(written, ['eval 1/4 elapsed 0:01 left 0:03\n', 'eval 4/4 elapsed 0:04 left 0:00\n'])
  })
})

describe('terminal mode', () => {
  it('redraws one line in place and ends it at the last step', () => {
    const { written, r, tick } = harness(true)
    for (let s = 0; s < 5; s++) (tick(), r.step(rec('stage1', s), 5))
    assert.ok(written.slice(0, -1).every((w) => w.startsWith('\r') && w.endsWith('\x1b[K')))
    assert.equal(written.at(-1), '\n')
    assert.match(written.at(-2)!, /5\/5/)
    r.finish() // nothing more to end
    assert.equal(written.at(-1), '\n')
    assert.equal(written.filter((w) => w === '\n').length, 1)
  })

  it('finish() ends an open bar so other output starts on its own line', () => {
    const { written, r, tick } = harness(true)
    tick(), r.step(rec('x', 0), 10)
    r.finish()
    assert.deepEqual(written.slice(-1), ['\n'])
  })
})
