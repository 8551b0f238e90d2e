/** The LLaVA-style baseline: shapes, causality, cached decoding, its two stages and what they freeze. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isRight } from 'fp-ts/lib/Either.js'
import { noGrad, Tensor } from '../../src/index.ts'
import * as Random from '../../src/random.ts'
import * as Llava from '../../src/variants/llava.ts'
import * as VisionTower from '../../src/parents/vision-tower.ts'
import * as Llm from '../../src/parents/llm.ts'
import type { Sample } from '../../src/haplovl/sequence.ts'
import { special, image, text, right, rowsBefore, rowAt, checkStage, captionSamples, instructionSamples } from './helpers.ts'

const c = Llava.micro
const size = c.vision.imageSize
const params = Llava.init(Random.key(5), c)
const run = (samples: readonly Sample[]) => {
  const batch = right(Llava.assemble(samples, c, special))
  return { batch, out: noGrad(() => Llava.forward(params, c, batch)) }
}

describe('LLaVA forward', () => {
  it('gives logits (B, T, V) with one position per ViT patch and a cache per LLM layer', () => {
    const { batch, out } = run([[text([4, 5]), { kind: 'image', pixels: image(size, 1) }, text([6], true)], [text([7])]])
    assert.equal(Llava.imageTokens(c), (c.vision.imageSize / c.vision.patch) ** 2)
    assert.equal(batch.t, 2 + Llava.imageTokens(c) + 1)
    assert.deepEqual(out.logits.shape, [2, batch.t, c.llm.vocab])
    assert.equal(out.caches.length, c.llm.layers)
    assert.ok(out.logits.data.every(Number.isFinite))
  })

  it('inherits the ViT and the LLM as they are; the projector maps Cvit → Cllm → Cllm', () => {
    const [kv, kl, k] = Random.split(Random.key(9), 3)
    const vit = VisionTower.init(kv!, c.vision), llm = Llm.init(kl!, c.llm)
    const p = Llava.fromParents(k!, c, vit, llm)
    assert.equal(p.vision, vit)
    assert.equal(p.llm, llm)
    assert.deepEqual(p.projector.fc1.weight.shape, [c.llm.width, c.vision.width])
    assert.deepEqual(p.projector.fc2.weight.shape, [c.llm.width, c.llm.width])
  })

  it('changing a text token leaves every earlier output unchanged', () => {
    const ids = [4, 5, 6, 7, 8]
    for (const at of [1, 3, 4]) {
      const changed = ids.map((id, i) => (i === at ? 20 : id))
      const a = run([[{ kind: 'image', pixels: image(size, 2) }, text(ids)]]).out
      const b = run([[{ kind: 'image', pixels: image(size, 2) }, text(changed)]]).out
      const before = Llava.imageTokens(c) + at
      assert.deepEqual(rowsBefore(b.logits, before), rowsBefore(a.logits, before))
      assert.notDeepEqual(rowAt(b.logits, before), rowAt(a.logits, before))
    }
  })

  it('is causal inside an image at the LLM; the ViT alone sees the whole image at once', () => {
    const samples: Sample[] = [[text([4, 5]), { kind: 'image', pixels: image(size, 3) }, text([6, 7])]]
    const { batch, out } = run(samples)
    // the LLM: perturb the input embedding of the second image token; the first one and the text before stay put
    const x = noGrad(() => Llava.embed(params, c, batch))
    const data = Float32Array.from(x.data), w = c.llm.width, second = 2 + 1
    for (let j = 0; j < w; j++) data[second * w + j]! += 0.5
    const perturbed = noGrad(() => Llava.decode(params, c, new Tensor(data, x.shape), batch.mask, batch.positions))
    assert.deepEqual(rowsBefore(perturbed.logits, second), rowsBefore(out.logits, second))
    assert.notDeepEqual(rowAt(perturbed.logits, second), rowAt(out.logits, second))
    // a pixel of the last patch reaches the first image token through the (bidirectional) ViT, never the text before
    const pixels = image(size, 3).slice()
    pixels[pixels.length - 1] = 1 - pixels[pixels.length - 1]!
    const other = run([[text([4, 5]), { kind: 'image', pixels }, text([6, 7])]]).out
    assert.deepEqual(rowsBefore(other.logits, 2), rowsBefore(out.logits, 2))
    assert.notDeepEqual(rowAt(other.logits, 2), rowAt(out.logits, 2))
  })
})

describe('LLaVA decoding', () => {
  const prompt: Sample = [text([4, 9]), { kind: 'image', pixels: image(size, 7) }, text([11, 3])]
  it('greedy decoding with the KV cache equals recomputing the whole sequence', () => {
    const o = { maxNewTokens: 6, stop: [] as number[] }
    const cached = Llava.generate(params, c, prompt, special, o), full = Llava.generate(params, c, prompt, special, { ...o, useCache: false })
    assert.ok(isRight(cached) && isRight(full))
    assert.equal(cached.right.tokens.length, 6)
    assert.deepEqual(cached.right.tokens, full.right.tokens)
    cached.right.logits.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - full.right.logits[i]![j]!) < 1e-4, `step ${i} logit ${j}`)))
  })
})

describe('LLaVA stages', () => {
  it('stage 1 trains the projector alone, stage 2 the projector and the LLM; the ViT never moves; both losses fall', () => {
    const captions = right(Llava.assemble(captionSamples(size), c, special))
    const instructions = right(Llava.assemble(instructionSamples(size), c, special))
    // the ViT is frozen, so its features are computed once per batch
    const f1 = Llava.features(params, c, captions), f2 = Llava.features(params, c, instructions)
    const s = Llava.stages
    const p1 = checkStage('projector', params, (p) => Llava.loss(p, c, captions, { features: f1 }), s.projector.trainable, { steps: 4, lr: 1e-2, frozen: ['vision', 'llm'] })
    checkStage('instruct', p1, (p) => Llava.loss(p, c, instructions, { features: f2 }), s.instruct.trainable, { steps: 4, lr: 1e-2, frozen: ['vision'] })
  })
})
