/** Training stages: exact resume after an interruption, and a stop on a non-finite loss that keeps the last good checkpoint. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { ops, type Tensor } from '../../src/index.ts'
import * as Random from '../../src/random.ts'
import { micro } from '../../src/haplovl/config.ts'
import { assemble, type Batch } from '../../src/haplovl/sequence.ts'
import { fromScratch } from '../../src/haplovl/init.ts'
import { type Params } from '../../src/haplovl/model.ts'
import { stage2Loss } from '../../src/haplovl/objectives.ts'
import * as Names from '../../src/haplovl/names.ts'
import * as Presets from '../../src/optim/presets.ts'
import { runStage, type Stage } from '../../src/train/loop.ts'

const c = micro
/** The batch of step s, from s alone. */
const batchAt = (s: number): Batch => {
  const k = Random.key(1000 + s)
  const pixels = Float32Array.from(Random.uniforms(k, c.vision.imageSize ** 2 * 3))
  const ids = Array.from(Random.uniforms(Random.fold(k, 1), 4), (u) => 2 + Math.floor(u * (c.llm.vocab - 2)))
  const b = assemble([[{ kind: 'image', pixels }, { kind: 'text', ids: ids.slice(0, 2), loss: false }, { kind: 'text', ids: ids.slice(2), loss: true }]], c, { image: 1, pad: 0 })
  if (E.isLeft(b)) throw new Error(b.left)
  return b.right
}

const stage = (path: string, extra: Partial<Stage<Params, Batch, undefined>> = {}): Stage<Params, Batch, undefined> => ({
  name: 'stage2',
  steps: 6,
  hyper: Presets.hyperAt(Presets.scaleToRun(Presets.stage2, { steps: 6, batch: 1, lrScale: 50 })),
  trainable: () => true,
  clipNorm: 1,
  batchAt,
  loss: (p, b) => stage2Loss(p, c, b),
  checkpoint: { path, every: 2, names: Names.haplovl },
  ...extra,
})

describe('training stages', () => {
  it('an interrupted and resumed run has exactly the losses of an uninterrupted one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haplovl-resume-'))
    try {
      const init = fromScratch(Random.key(5), c)
      const straight = await runStage(stage(join(dir, 'a.safetensors')), init)
      assert.ok(E.isRight(straight), E.isLeft(straight) ? straight.left : '')
      let steps = 0
      const first = await runStage(stage(join(dir, 'b.safetensors'), { shouldStop: () => ++steps === 3 }), init)
      assert.ok(E.isRight(first) && first.right.stopped === 'interrupted' && first.right.records.length === 3)
      const second = await runStage(stage(join(dir, 'b.safetensors')), fromScratch(Random.key(99), c)) // a different init: the file must win
      assert.ok(E.isRight(second), E.isLeft(second) ? second.left : '')
      assert.equal(second.right.resumedFrom, 3)
      const losses = (r: typeof straight) => (E.isRight(r) ? r.right.records.map((x) => x.loss) : [])
      assert.deepEqual([...losses(first), ...losses(second)], losses(straight))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a non-finite loss stops the stage before the update and names the last good checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haplovl-nan-'))
    try {
      const path = join(dir, 'c.safetensors')
      // the batch of step 3 yields a NaN loss
      const batches = Array.from({ length: 6 }, (_, s) => batchAt(s))
      const loss = (p: Params, b: Batch): Tensor => (b === batches[3] ? ops.scale(stage2Loss(p, c, b), NaN) : stage2Loss(p, c, b))
      const result = await runStage({ ...stage(path), batchAt: (s) => batches[s]!, loss }, fromScratch(Random.key(5), c))
      assert.ok(E.isLeft(result))
      assert.match(result.left, /stage2: stopped at step 3: valueAndGrad: the loss is NaN; the last good checkpoint is .*c\.safetensors \(step 2\)/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
