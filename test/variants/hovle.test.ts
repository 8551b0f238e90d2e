/** HoVLE: the pixel shuffle, the holistic embedding module, causality, distillation targets and the three stages. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isRight } from 'fp-ts/lib/Either.js'
import { noGrad, ops, Tensor } from '../../src/index.ts'
import * as Random from '../../src/random.ts'
import * as Hovle from '../../src/variants/hovle.ts'
import * as Llava from '../../src/variants/llava.ts'
import * as Linear from '../../src/nn/linear.ts'
import * as Mlp from '../../src/nn/mlp.ts'
import * as VisionTower from '../../src/parents/vision-tower.ts'
import { patchify } from '../../src/parents/patches.ts'
import type { Sample } from '../../src/haplovl/sequence.ts'
import { special, image, text, right, rowsBefore, rowAt, checkStage, captionSamples, instructionSamples } from './helpers.ts'

const c = Hovle.micro
const size = c.imageSize
const params = Hovle.init(Random.key(7), c)
const run = (samples: readonly Sample[]) => {
  const batch = right(Hovle.assemble(samples, c, special))
  return { batch, out: noGrad(() => Hovle.forward(params, c, batch)) }
}

describe('HoVLE pixel shuffle', () => {
  it('blockOrder is InternVL pixel_shuffle: reshape / permute / reshape / permute of a (g, g, C) grid', () => {
    assert.deepEqual(Hovle.blockOrder(4, 2), [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15])
    const g = 6, ch = 3
    const grid = new Tensor(Float32Array.from({ length: g * g * ch }, (_, i) => i), [1, g, g, ch])
    // InternVL: (n, w, h, c) → (n, w, h/2, 2c) → permute(0, 2, 1, 3) → (n, h/2, w/2, 4c) → permute(0, 2, 1, 3) → (n, hw/4, 4c)
    const s1 = ops.transpose(ops.reshape(grid, [1, g, g / 2, 2 * ch]), [0, 2, 1, 3])
    const s2 = ops.reshape(ops.transpose(ops.reshape(s1, [1, g / 2, g / 2, 4 * ch]), [0, 2, 1, 3]), [g * g / 4, 4 * ch])
    const ours = ops.reshape(ops.gatherRows(ops.reshape(grid, [g * g, ch]), Hovle.blockOrder(g, 2)), [g * g / 4, 4 * ch])
    assert.deepEqual(Array.from(ours.data), Array.from(s2.data))
  })

  it('an image token is MLP(concat of its 2×2 patches, each linear + position), in raster order', () => {
    const e = params.embedding, w = c.llm.width, gp = Hovle.patchGrid(c)
    const images = [image(size, 1)]
    const tokens = noGrad(() => Hovle.imageEmbeddings(e, c, images)) // (G², C)
    assert.deepEqual(tokens.shape, [Hovle.grid(c) ** 2, w])
    const patches = noGrad(() => ops.add(Linear.apply(e.patch, patchify(images, c.imageSize, c.patch)), e.position)).data // (P, C)
    const token = 3, i = 1, j = 1 // bottom-right token of the 2×2 grid: patches (2,2) (2,3) (3,2) (3,3)
    const concat = [[2 * i, 2 * j], [2 * i, 2 * j + 1], [2 * i + 1, 2 * j], [2 * i + 1, 2 * j + 1]].flatMap(([y, x]) => Array.from(patches.slice((y! * gp + x!) * w, (y! * gp + x! + 1) * w)))
    const expected = noGrad(() => Linear.apply(e.shuffle!.fc2, Mlp.activate(Linear.apply(e.shuffle!.fc1, new Tensor(Float32Array.from(concat), [1, 4 * w])), 'gelu')))
    Array.from(expected.data).forEach((v, k) => assert.ok(Math.abs(v - tokens.data[token * w + k]!) < 1e-5))
  })
})

describe('HoVLE forward', () => {
  it('gives the module output (B, T, Cllm), logits (B, T, V) and caches for module and LLM layers', () => {
    assert.equal(Hovle.imageTokens(c), (c.imageSize / c.patch / 2) ** 2)
    const { batch, out } = run([[text([4, 5]), { kind: 'image', pixels: image(size, 1) }, text([6], true)], [text([7])]])
    assert.deepEqual(out.hidden.shape, [2, batch.t, c.llm.width])
    assert.deepEqual(out.logits!.shape, [2, batch.t, c.llm.vocab])
    assert.equal(out.caches.length, c.embedLayers + c.llm.layers)
    const only = noGrad(() => Hovle.forward(params, c, batch, { embeddingOnly: true }))
    assert.equal(only.logits, undefined)
    assert.deepEqual(Array.from(only.hidden.data), Array.from(out.hidden.data))
  })

  it('starts its text table as a copy of the LLM table, not the same tensor', () => {
    assert.notEqual(params.embedding.tokens, params.llm.embed.weight)
    assert.deepEqual(Array.from(params.embedding.tokens.data), Array.from(params.llm.embed.weight.data))
  })

  it('is causal everywhere, inside images too, in the module and in the LLM', () => {
    const pixels = image(size, 3), changed = pixels.slice()
    changed[changed.length - 1] = 1 - changed[changed.length - 1]! // bottom-right pixel: the last merged token
    const a = run([[text([4, 5]), { kind: 'image', pixels }, text([6])]]).out
    const b = run([[text([4, 5]), { kind: 'image', pixels: changed }, text([6])]]).out
    const last = 2 + Hovle.imageTokens(c) - 1
    for (const x of ['hidden', 'logits'] as const) {
      assert.deepEqual(rowsBefore(b[x]!, last), rowsBefore(a[x]!, last), x)
      assert.notDeepEqual(rowAt(b[x]!, last), rowAt(a[x]!, last), x)
    }
    const t1 = run([[{ kind: 'image', pixels }, text([4, 5, 6, 7])]]).out
    const t2 = run([[{ kind: 'image', pixels }, text([4, 30, 6, 7])]]).out
    const at = Hovle.imageTokens(c) + 1
    assert.deepEqual(rowsBefore(t2.logits!, at), rowsBefore(t1.logits!, at))
    assert.deepEqual(rowsBefore(t2.hidden, at), rowsBefore(t1.hidden, at))
  })
})

describe('HoVLE decoding', () => {
  const prompt: Sample = [text([4, 9]), { kind: 'image', pixels: image(size, 7) }, text([11, 3])]
  // the module's table as training leaves it, apart from the LLM's (a new token must be read from the module's)
  const trained: Hovle.Params = { ...params, embedding: { ...params.embedding, tokens: Random.normal(Random.key(70), params.embedding.tokens.shape, 0.1) } }
  it('greedy decoding with the KV cache (module and LLM layers) equals recomputing the whole sequence', () => {
    const o = { maxNewTokens: 6, stop: [] as number[] }
    const cached = Hovle.generate(trained, c, prompt, special, o), full = Hovle.generate(trained, c, prompt, special, { ...o, useCache: false })
    assert.ok(isRight(cached) && isRight(full))
    assert.equal(cached.right.tokens.length, 6)
    assert.deepEqual(cached.right.tokens, full.right.tokens)
    cached.right.logits.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - full.right.logits[i]![j]!) < 1e-4, `step ${i} logit ${j}`)))
  })
})

describe('HoVLE distillation targets', () => {
  const llava = Llava.init(Random.key(8), Llava.micro)

  it('the LLaVA teacher gives one visual token per module image token (micro: both 2×2 grids)', () => {
    const batch = right(Hovle.assemble([[{ kind: 'image', pixels: image(size, 4) }, text([5])], [{ kind: 'image', pixels: image(size, 5) }]], c, special))
    const targets = Hovle.imageTargets(Hovle.llavaTeacher(llava, Llava.micro), c, batch)!
    const direct = Llava.visualTokens(llava, Llava.micro, batch.images)
    assert.deepEqual(targets.shape, [2 * Hovle.imageTokens(c), c.llm.width])
    assert.deepEqual(Array.from(targets.data), Array.from(direct.data))
  })

  it('a teacher grid twice as fine is average-pooled over 2×2 blocks (tiny: 64 LLaVA tokens → 16)', () => {
    const w = 3, fine = 4, g = Hovle.grid(c) // teacher 4×4, module 2×2
    const values = Float32Array.from({ length: fine * fine * w }, (_, i) => Math.sin(i))
    const teacher = () => new Tensor(values, [1, fine * fine, w])
    const batch = right(Hovle.assemble([[{ kind: 'image', pixels: image(size, 6) }]], c, special))
    const pooled = Hovle.imageTargets(teacher, c, batch)!
    assert.deepEqual(pooled.shape, [g * g, w])
    for (let i = 0; i < g; i++)
      for (let j = 0; j < g; j++)
        for (let k = 0; k < w; k++) {
          const cells = [[0, 0], [0, 1], [1, 0], [1, 1]].map(([dy, dx]) => values[((2 * i + dy!) * fine + 2 * j + dx!) * w + k]!)
          assert.ok(Math.abs(pooled.data[(i * g + j) * w + k]! - cells.reduce((a, b) => a + b) / 4) < 1e-6)
        }
  })

  it('the fallback teacher is the ViT layer features through a fixed projection to Cllm', () => {
    const vit = VisionTower.init(Random.key(3), Llava.micro.vision)
    const teacher = Hovle.projectedTeacher(Random.key(4), vit, Llava.micro.vision, 1, c.llm.width)
    const images = [image(size, 9)]
    const a = teacher(images), b = teacher(images)
    assert.deepEqual(a.shape, [1, 4, c.llm.width])
    assert.deepEqual(Array.from(a.data), Array.from(b.data))
  })
})

describe('HoVLE stages', () => {
  it('(a) distillation and (b) alignment train the module alone, (c) everything but the LLM table; each loss falls', () => {
    const llava = Llava.init(Random.key(8), Llava.micro)
    // unpaired random images and random token ids: the targets are context-free
    const ids = (seed: number, n: number) => Array.from(Random.uniforms(Random.key(seed), n), (u) => 2 + Math.floor(u * (c.llm.vocab - 2)))
    const random = right(Hovle.assemble([
      [text(ids(1, 5)), { kind: 'image', pixels: image(size, 21) }, text(ids(2, 3))],
      [{ kind: 'image', pixels: image(size, 22) }, text(ids(3, 6))],
    ], c, special))
    const targets = Hovle.imageTargets(Hovle.llavaTeacher(llava, Llava.micro), c, random)
    const s = Hovle.stages
    const pa = checkStage('distill', params, (p) => Hovle.distillLoss(p, c, random, targets), s.distill.trainable, { steps: 4, lr: 1e-2, frozen: ['llm'] })
    const captions = right(Hovle.assemble(captionSamples(size), c, special))
    const pb = checkStage('align', pa, (p) => Hovle.loss(p, c, captions), s.align.trainable, { steps: 4, lr: 1e-2, frozen: ['llm'] })
    const instructions = right(Hovle.assemble(instructionSamples(size), c, special))
    checkStage('finetune', pb, (p) => Hovle.loss(p, c, instructions), s.finetune.trainable, { steps: 4, lr: 1e-2, frozen: ['llm.embed'] })
  })
})
