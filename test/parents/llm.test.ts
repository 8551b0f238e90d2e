/**
 * The Llama-style LLM learns to read its context: trained on rows "x1 … x6 SEP x1 … x6" of random ids, it
 * predicts the repeated half. Nothing but attention can carry x_i from the first half to the second, so this
 * checks, end to end, that causal attention with RoPE routes information by content (an induction head).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as E from 'fp-ts/lib/Either.js'
import { micro } from '../../src/haplovl/config.ts'
import * as Random from '../../src/data/random.ts'
import * as Llm from '../../src/parents/llm.ts'
import * as Presets from '../../src/optim/presets.ts'
import * as Key from '../../src/random.ts'
import { llmLoss } from '../../src/recipe/pretrain.ts'
import { runStage } from '../../src/train/loop.ts'

const N = 6, IDS = 16, FIRST = 200, SEP = 2, STEPS = 200

/** Row b of step s, as inputs and next-token targets; only the repeated half is scored (−1 elsewhere). */
const copyBatch = (s: number) => {
  const rows = Array.from({ length: 8 }, (_, b) => {
    const rng = Random.stream(Random.hash(5, s, b))
    const xs = Array.from({ length: N }, () => FIRST + rng.int(0, IDS - 1))
    return [1, ...xs, SEP, ...xs]
  })
  return { inputs: rows.map((r) => r.slice(0, -1)), targets: rows.flatMap((r) => r.slice(1).map((t, i) => (i > N ? t : -1))) }
}

describe('LLM', () => {
  it(`learns to copy its context in ${STEPS} steps: loss on the copy far below ln ${IDS}, the floor without reading it`, async () => {
    const losses: number[] = []
    const trained = await runStage({
      name: 'copy', steps: STEPS, hyper: Presets.hyperAt(Presets.scaleToRun(Presets.stage1, { steps: STEPS, batch: 8, lrScale: 30 })),
      trainable: () => true, clipNorm: 1, batchAt: copyBatch, tokensOf: (b) => b.targets.length,
      loss: (p, b) => llmLoss(p, micro, b), onStep: (r) => { losses.push(r.loss) },
    }, Llm.init(Key.key(1), micro.llm))
    assert.ok(E.isRight(trained))
    const last = losses.slice(-10).reduce((a, x) => a + x, 0) / 10
    assert.ok(losses[0]! > Math.log(IDS), `starts above ln ${IDS}: ${losses[0]}`)
    assert.ok(last < 0.25 * Math.log(IDS), `mean loss of the last 10 steps ${last.toFixed(3)}`)
  })
})
