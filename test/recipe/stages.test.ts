/** The recipe's training stages on the micro preset: each runs, learns, logs and checkpoints. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { leaves } from '../../src/index.ts'
import * as Tokenizer from '../../src/data/tokenizer.ts'
import * as Language from '../../src/data/language.ts'
import * as Key from '../../src/random.ts'
import { micro } from '../../src/haplovl/config.ts'
import * as VisionTower from '../../src/parents/vision-tower.ts'
import * as Llm from '../../src/parents/llm.ts'
import { trainStage1, trainAlign, trainStage2, loadModel, handOn, partsLoss } from '../../src/recipe/stages.ts'
import { batchOf, partsOf, tokensIn, worldOf } from '../../src/recipe/world.ts'
import { fromScratch } from '../../src/haplovl/init.ts'
import { stage2Loss } from '../../src/haplovl/objectives.ts'
import { valueAndGrad } from '../../autograd/index.ts'

describe('recipe stages (micro)', () => {
  it('stage 1, alignment and stage 2 run in order, log JSON lines, checkpoint, and stage 1 freezes W', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haplovl-stages-'))
    try {
      const tokenizer = Tokenizer.train(Language.corpus(60_000), { vocabSize: 300 })
      // micro's vocabulary must hold the tokenizer's: widen it for this test
      const config = { ...micro, llm: { ...micro.llm, vocab: tokenizer.vocabSize }, vision: { ...micro.vision, imageSize: 8 }, maxTokens: 96 }
      const ctx = { dir, config, seed: 1, steps: 6 }
      const [kv, kl] = Key.split(Key.key(4), 2)
      const parents = { vision: VisionTower.init(kv!, config.vision), llm: Llm.init(kl!, config.llm) }
      const s1 = await trainStage1(ctx, tokenizer, parents)
      assert.ok(E.isRight(s1), E.isLeft(s1) ? s1.left : '')
      assert.equal(s1.right.records.length, 6)
      assert.ok(s1.right.records.every((r) => r.terms && Number.isFinite(r.terms.vision + r.terms.feature + r.terms.currentToken)))
      assert.equal(s1.right.params.model.embed.tokens, parents.llm.embed.weight, 'W must stay frozen (the same tensor)')
      const lines = readFileSync(join(dir, 'stage1.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
      assert.deepEqual(lines.map((l) => l.step), [0, 1, 2, 3, 4, 5])
      // stage 1 hands on its model without heads, the connector started from the text head's weight
      const handed = await loadModel(ctx, 'stage1', s1.right.params.model)
      assert.ok(E.isRight(handed), E.isLeft(handed) ? handed.left : '')
      assert.deepEqual(Array.from(handed.right.connector.weight.data), Array.from(s1.right.params.heads.text.weight.data))
      assert.deepEqual(Object.keys(handed.right).sort(), ['connector', 'embed', 'postDecoder', 'preDecoder'])
      const aligned = await trainAlign(ctx, tokenizer, handOn(s1.right.params))
      assert.ok(E.isRight(aligned), E.isLeft(aligned) ? aligned.left : '')
      const same = leaves(aligned.right.params.preDecoder).every((t, i) => t === leaves(s1.right.params.model.preDecoder)[i])
      assert.ok(same, 'alignment trains the connector only')
      assert.notEqual(aligned.right.params.connector.weight, s1.right.params.model.connector.weight)
      const s2 = await trainStage2(ctx, tokenizer, aligned.right.params)
      assert.ok(E.isRight(s2), E.isLeft(s2) ? s2.left : '')
      const loaded = await loadModel(ctx, 'stage2', aligned.right.params)
      assert.ok(E.isRight(loaded), E.isLeft(loaded) ? loaded.left : '')
      assert.deepEqual(Array.from(loaded.right.connector.weight.data), Array.from(s2.right.params.connector.weight.data))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('stage 2\'s batch in parts of similar lengths has the loss and the gradients of one batch, with less padding', () => {
    const tokenizer = Tokenizer.train(Language.corpus(30_000), { vocabSize: 300 })
    const config = { ...micro, llm: { ...micro.llm, vocab: tokenizer.vocabSize }, maxTokens: 128 }
    const w = worldOf(tokenizer, config)
    const samples = [Language.instructionSample(3), Language.dialogueSample(4), Language.captionSample(5), Language.instructionSample(6, { categories: ['color'], turns: [5, 6] }), Language.dialogueSample(7)]
    const one = batchOf(w, samples), parts = partsOf(w, samples, 2)
    assert.ok(E.isRight(one) && E.isRight(parts))
    assert.deepEqual(parts.right.map((b) => b.b), [3, 2])
    assert.ok(parts.right[0]!.t <= parts.right[1]!.t, 'the shorter samples come first')
    assert.ok(parts.right.reduce((n, b) => n + b.b * b.t, 0) < one.right.b * one.right.t, 'less padding')
    assert.equal(parts.right.reduce((n, b) => n + tokensIn(b), 0), tokensIn(one.right))
    const params = fromScratch(Key.key(2), config)
    const whole = valueAndGrad((p: typeof params) => stage2Loss(p, config, one.right))(params)
    const split = valueAndGrad((p: typeof params) => partsLoss((b) => stage2Loss(p, config, b), parts.right))(params)
    assert.ok(Math.abs(whole.value - split.value) < 1e-5 * Math.abs(whole.value), `${whole.value} vs ${split.value}`)
    const [a, b] = [leaves(whole.grads), leaves(split.grads)]
    a.forEach((g, i) => {
      const x = g.toFloat32Array(), y = b[i]!.toFloat32Array(), scale = Math.max(1e-6, ...x.map(Math.abs))
      x.forEach((v, j) => assert.ok(Math.abs(v - y[j]!) <= 1e-4 * scale, `gradient ${i}[${j}]: ${v} vs ${y[j]}`))
    })
  })
})
