/** SOLO: raw patches added to the placeholder embedding, row separators, causal everywhere, everything trains. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isRight } from 'fp-ts/lib/Either.js'
import { noGrad, ops } from '../../src/index.ts'
import * as Random from '../../src/random.ts'
import * as Solo from '../../src/variants/solo.ts'
import * as Linear from '../../src/nn/linear.ts'
import { patchify } from '../../src/parents/patches.ts'
import { Kind, type Sample } from '../../src/haplovl/sequence.ts'
import { special, image, text, right, rowsBefore, rowAt, checkStage, captionSamples, instructionSamples } from './helpers.ts'

const c = Solo.micro
const size = c.imageSize
const params = Solo.init(Random.key(6), c)
const run = (samples: readonly Sample[]) => {
  const batch = right(Solo.assemble(samples, c, special))
  return { batch, out: noGrad(() => Solo.forward(params, c, batch)) }
}

describe('SOLO forward', () => {
  it('gives logits (B, T, V); an image is its patch rows with a separator between rows', () => {
    const g = c.imageSize / c.patch
    assert.equal(Solo.imageTokens(c), g * g + g - 1)
    const { batch, out } = run([[text([4]), { kind: 'image', pixels: image(size, 1) }, text([6], true)], [text([7, 8])]])
    assert.deepEqual(out.logits.shape, [2, batch.t, c.llm.vocab])
    assert.equal(out.caches.length, c.llm.layers)
    // micro: a 2×2 grid → patch, patch, separator, patch, patch
    assert.deepEqual(Array.from(batch.kind.slice(1, 6)), [Kind.patch, Kind.patch, Kind.newline, Kind.patch, Kind.patch])
    assert.deepEqual(Array.from(batch.patchOf.slice(1, 6)), [0, 1, -1, 2, 3])
  })

  it('a patch position holds W[<image>] + W_p · patch, a separator the learned separator, text its W row', () => {
    const batch = right(Solo.assemble([[text([4]), { kind: 'image', pixels: image(size, 2) }]], c, special))
    const x = noGrad(() => Solo.embed(params, c, batch))
    const w = c.llm.width, table = params.llm.embed.weight.data
    const projected = noGrad(() => Linear.apply(params.patch, patchify(batch.images, c.imageSize, c.patch))) // (1, P, C)
    const close = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).forEach((v, j) => assert.ok(Math.abs(v - b[j]!) < 1e-6, `${v} vs ${b[j]}`))
    close(x.data.slice(0, w), table.slice(4 * w, 5 * w))
    close(x.data.slice(2 * w, 3 * w), Array.from(projected.data.slice(w, 2 * w), (v, j) => v + table[special.image * w + j]!)) // patch 1
    close(x.data.slice(3 * w, 4 * w), params.rowSeparator!.data)
  })

  it('is causal everywhere: a pixel of the last patch changes nothing before it, a text token nothing before it', () => {
    const prefix = [4, 5]
    const pixels = image(size, 3), changed = pixels.slice()
    changed[changed.length - 1] = 1 - changed[changed.length - 1]! // bottom-right pixel: the last patch
    const a = run([[text(prefix), { kind: 'image', pixels }, text([6])]]).out
    const b = run([[text(prefix), { kind: 'image', pixels: changed }, text([6])]]).out
    const lastPatch = prefix.length + Solo.imageTokens(c) - 1
    assert.deepEqual(rowsBefore(b.logits, lastPatch), rowsBefore(a.logits, lastPatch))
    assert.notDeepEqual(rowAt(b.logits, lastPatch), rowAt(a.logits, lastPatch))
    const t1 = run([[{ kind: 'image', pixels }, text([4, 5, 6, 7])]]).out
    const t2 = run([[{ kind: 'image', pixels }, text([4, 5, 30, 7])]]).out
    const at = Solo.imageTokens(c) + 2
    assert.deepEqual(rowsBefore(t2.logits, at), rowsBefore(t1.logits, at))
  })

  it('uses no patch positions: the same patch gives the same input row wherever it sits', () => {
    // an image whose four patches are equal: the four patch rows of the input sequence are equal too
    const k = c.patch, pixels = new Float32Array(size * size * 3)
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) for (let ch = 0; ch < 3; ch++) pixels[(y * size + x) * 3 + ch] = ((y % k) * k + (x % k) + ch) / 50
    const batch = right(Solo.assemble([[{ kind: 'image', pixels }]], c, special))
    const x = noGrad(() => ops.reshape(Solo.embed(params, c, batch), [batch.t, c.llm.width]))
    const row = (t: number) => Array.from(x.data.slice(t * c.llm.width, (t + 1) * c.llm.width))
    for (const t of [1, 3, 4]) assert.deepEqual(row(t), row(0))
  })
})

describe('SOLO decoding', () => {
  const prompt: Sample = [{ kind: 'image', pixels: image(size, 7) }, text([11, 3, 9])]
  it('greedy decoding with the KV cache equals recomputing the whole sequence', () => {
    const o = { maxNewTokens: 6, stop: [] as number[] }
    const cached = Solo.generate(params, c, prompt, special, o), full = Solo.generate(params, c, prompt, special, { ...o, useCache: false })
    assert.ok(isRight(cached) && isRight(full))
    assert.equal(cached.right.tokens.length, 6)
    assert.deepEqual(cached.right.tokens, full.right.tokens)
    cached.right.logits.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - full.right.logits[i]![j]!) < 1e-4, `step ${i} logit ${j}`)))
  })
})

describe('SOLO stages', () => {
  it('every stage trains every parameter, on next-token loss over text only; the loss falls', () => {
    const captions = right(Solo.assemble(captionSamples(size), c, special))
    const instructions = right(Solo.assemble(instructionSamples(size), c, special))
    // targets only ever name text tokens that follow (never a patch or separator position's token)
    captions.targets.forEach((t, i) => { if (t >= 0) assert.equal(captions.kind[i + 1], Kind.text) })
    const p1 = checkStage('class names / captions', params, (p) => Solo.loss(p, c, captions), Solo.stages.captions.trainable, { steps: 4, lr: 1e-2, frozen: [] })
    checkStage('instruct', p1, (p) => Solo.loss(p, c, instructions), Solo.stages.instruct.trainable, { steps: 4, lr: 1e-2, frozen: [] })
  })
})
