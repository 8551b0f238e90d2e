/** HaploVL's forward pass: shapes, what each position may depend on, inheritance from the parents, decoding. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { isRight } from 'fp-ts/lib/Either.js'
import { noGrad, type Tensor } from '../../src/index.ts'
import * as Random from '../../src/random.ts'
import { micro, imageTokens, type Config } from '../../src/haplovl/config.ts'
import { assemble, type Sample } from '../../src/haplovl/sequence.ts'
import { forward, type Params } from '../../src/haplovl/model.ts'
import { fromParents, fromScratch } from '../../src/haplovl/init.ts'
import { generate } from '../../src/haplovl/generate.ts'
import * as VisionTower from '../../src/parents/vision-tower.ts'
import * as Llm from '../../src/parents/llm.ts'
import { runs } from '../helpers/arbitraries.ts'

const special = { image: 1, pad: 0 }
const c: Config = micro
const params: Params = fromScratch(Random.key(3), c)
const image = (seed: number) => Float32Array.from(Random.uniforms(Random.key(seed), c.vision.imageSize ** 2 * 3))

const run = (samples: readonly Sample[]) => {
  const batch = assemble(samples, c, special)
  assert.ok(isRight(batch))
  return { batch: batch.right, out: noGrad(() => forward(params, c, batch.right)) }
}

/** Rows [0, upTo) of a (1, T, C) tensor. */
const rowsBefore = (x: Tensor, upTo: number) => Array.from(x.data.slice(0, upTo * x.shape[2]!))

describe('HaploVL forward', () => {
  it('produces the pre-decoder states and logits with the documented shapes', () => {
    const { batch, out } = run([[{ kind: 'text', ids: [4, 5], loss: false }, { kind: 'image', pixels: image(1) }, { kind: 'text', ids: [6], loss: true }], [{ kind: 'text', ids: [7], loss: false }]])
    assert.deepEqual(out.preHidden.shape, [2, batch.t, c.vision.width])
    assert.deepEqual(out.logits!.shape, [2, batch.t, c.llm.vocab])
    assert.equal(out.caches.length, c.vision.layers + c.llm.layers)
    assert.ok(out.logits!.data.every(Number.isFinite))
  })

  it('returns the attention of every layer, pre- then post-decoder, each row a distribution over what the mask allows', () => {
    const batch = assemble([[{ kind: 'text', ids: [4, 5], loss: false }, { kind: 'image', pixels: image(1) }, { kind: 'text', ids: [6, 8], loss: false }]], c, special)
    assert.ok(isRight(batch))
    const b = batch.right, t = b.t
    const out = noGrad(() => forward(params, c, b, { withAttention: true }))
    assert.equal(out.attention!.length, c.vision.layers + c.llm.layers)
    out.attention!.forEach((a, l) => {
      const heads = l < c.vision.layers ? c.vision.heads : c.llm.heads
      assert.deepEqual(a.shape, [1, heads, t, t])
      for (let h = 0; h < heads; h++)
        for (let i = 0; i < t; i++) {
          const row = a.data.subarray((h * t + i) * t, (h * t + i + 1) * t)
          assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-5, `layer ${l} head ${h} row ${i} sums to 1`)
          row.forEach((v, j) => { if (b.mask.data[i * t + j] === -Infinity) assert.equal(v, 0, `layer ${l}: query ${i} must not see key ${j}`) })
        }
    })
  })

  it('changing a text token never changes any output before it', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 2, max: c.llm.vocab - 1 }), { minLength: 2, maxLength: 6 }), fc.nat(), fc.integer({ min: 2, max: c.llm.vocab - 1 }), fc.boolean(), (ids, at, replacement, withImage) => {
      const p = at % ids.length
      const changed = ids.map((id, i) => (i === p ? replacement : id))
      const prefix: Sample = withImage ? [{ kind: 'image', pixels: image(2) }] : []
      const a = run([[...prefix, { kind: 'text', ids, loss: false }]]).out
      const b = run([[...prefix, { kind: 'text', ids: changed, loss: false }]]).out
      const before = (withImage ? imageTokens(c) : 0) + p
      assert.deepEqual(rowsBefore(b.logits!, before), rowsBefore(a.logits!, before))
      assert.deepEqual(rowsBefore(b.preHidden, before), rowsBefore(a.preHidden, before))
    }), runs(10))
  })

  it('changing one pixel changes its whole image (bidirectional) but nothing before it', () => {
    const text: Sample = [{ kind: 'text', ids: [4, 5, 6], loss: false }]
    const last = image(5), changed = last.slice()
    changed[changed.length - 1] = 1 - changed[changed.length - 1]! // a pixel of the last patch
    const a = run([[...text, { kind: 'image', pixels: last }]]).out
    const b = run([[...text, { kind: 'image', pixels: changed }]]).out
    assert.deepEqual(rowsBefore(b.preHidden, 3), rowsBefore(a.preHidden, 3))
    const width = c.vision.width, firstPatchRow = (x: Tensor) => Array.from(x.data.slice(3 * width, 4 * width))
    assert.notDeepEqual(firstPatchRow(b.preHidden), firstPatchRow(a.preHidden), 'the first patch must see the last patch of its image')
  })

  it('initialised from its parents, it holds their weights where the paper says it inherits them', () => {
    const [kv, kl, k] = Random.split(Random.key(9), 3)
    const vit = VisionTower.init(kv!, c.vision), llm = Llm.init(kl!, c.llm)
    const p = fromParents(k!, c, vit, llm)
    assert.equal(p.embed.patch, vit.patchEmbed)
    assert.deepEqual(Array.from(p.embed.position.data), Array.from(vit.position.data.slice(c.vision.width)))
    assert.equal(p.embed.tokens, llm.embed.weight)
    assert.equal(p.preDecoder, vit.blocks)
    assert.equal(p.postDecoder.blocks, llm.blocks)
    assert.equal(p.postDecoder.lmHead, llm.lmHead)
    assert.deepEqual(p.connector.weight.shape, [c.llm.width, c.vision.width])
    assert.deepEqual(p.embed.textProjector.weight.shape, [c.vision.width, c.llm.width])
  })
})

describe('decoding', () => {
  const prompt: Sample = [{ kind: 'text', ids: [4, 9], loss: false }, { kind: 'image', pixels: image(7) }, { kind: 'text', ids: [11, 3], loss: false }]
  it('greedy decoding with the KV cache equals recomputing the whole sequence', () => {
    const o = { maxNewTokens: 8, stop: [] as number[] }
    const cached = generate(params, c, prompt, special, o), full = generate(params, c, prompt, special, { ...o, useCache: false })
    assert.ok(isRight(cached) && isRight(full))
    assert.deepEqual(cached.right.tokens, full.right.tokens)
    assert.equal(cached.right.tokens.length, 8)
    cached.right.logits.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - full.right.logits[i]![j]!) < 1e-4, `step ${i} logit ${j}`)))
  })
  it('seeded sampling is reproducible, differs across keys, and equals its uncached form', () => {
    const o = (seed: number, useCache = true) => ({ maxNewTokens: 6, stop: [] as number[], temperature: 1.5, topP: 0.9, key: Random.key(seed), useCache })
    const a = generate(params, c, prompt, special, o(1)), b = generate(params, c, prompt, special, o(1)), u = generate(params, c, prompt, special, o(1, false))
    assert.ok(isRight(a) && isRight(b) && isRight(u))
    assert.deepEqual(a.right.tokens, b.right.tokens)
    assert.deepEqual(a.right.tokens, u.right.tokens)
    const others = [2, 3, 4, 5].map((s) => generate(params, c, prompt, special, o(s))).map((r) => (isRight(r) ? r.right.tokens.join(',') : ''))
    assert.ok(others.some((t) => t !== a.right.tokens.join(',')), 'different keys should sample differently')
  })
})
