/** The teacher's zero-shot retention probe and the zero-shot probes with an injected image embedder (micro). */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Tensor, zeros } from '../../autograd/index.ts'
import * as Language from '../../src/data/language.ts'
import * as Random from '../../src/data/random.ts'
import * as Scene from '../../src/data/scene.ts'
import * as Tokenizer from '../../src/data/tokenizer.ts'
import { micro } from '../../src/haplovl/config.ts'
import * as Heads from '../../src/haplovl/heads.ts'
import { fromParents } from '../../src/haplovl/init.ts'
import * as Llm from '../../src/parents/llm.ts'
import * as Key from '../../src/random.ts'
import { embedImages, embedTexts, initTeacher, photoOf, zeroShot, type Teacher } from '../../src/recipe/pretrain.ts'
import { retention } from '../../src/recipe/retention.ts'

const tokenizer = Tokenizer.train(Language.corpus(60_000), { vocabSize: 300 })
const config = { ...micro, llm: { ...micro.llm, vocab: tokenizer.vocabSize } }
const teacher = initTeacher(Key.key(7), config)

const classes = Scene.SIZES.flatMap((size) => Scene.COLORS.flatMap((color) => Scene.SHAPES.map((shape) => ({ size, color, shape }))))
const classOf = (s: Scene.Scene) => classes.findIndex((k) => photoOf(k) === photoOf(s.objects[0]!))
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, j) => s + x * b[j]!, 0)
const argmax = (xs: readonly number[]) => xs.reduce((best, x, i) => (x > xs[best]! ? i : best), 0)

/** The first n held-out scenes with one object: the images `zeroShot` classifies. */
function singles(n: number): Scene.Scene[] {
  const out: Scene.Scene[] = []
  for (let i = 0; out.length < n; i++) if (Scene.sceneAt('eval', i).objects.length === 1) out.push(Scene.sceneAt('eval', i))
  return out
}

/** The teacher with every vision block's residual branches zeroed: each block passes its input through. */
function passThrough(t: Teacher): Teacher {
  const zero = (x: Tensor) => zeros(x.shape)
  const blocks = t.vision.blocks.map((b) => ({
    ...b,
    attn: { ...b.attn, o: { weight: zero(b.attn.o.weight), ...(b.attn.o.bias ? { bias: zero(b.attn.o.bias) } : {}) } },
    mlp: { ...b.mlp, fc2: { weight: zero(b.mlp.fc2.weight), ...(b.mlp.fc2.bias ? { bias: zero(b.mlp.fc2.bias) } : {}) } },
  }))
  return { ...t, vision: { ...t.vision, blocks } }
}

describe('zero-shot probes with an injected image embedder', () => {
  it("with the teacher's own embedder, scores what the embeddings give by hand, on the scenes it hands the embedder", () => {
    const n = 40
    const seen: Scene.Scene[][] = []
    const r = zeroShot((scenes) => (seen.push([...scenes]), embedImages(teacher, config, scenes)), teacher, config, tokenizer, { images: n, retrieval: 10 })
    assert.deepEqual(seen.map((s) => s.length), [n, 10])
    assert.deepEqual(seen[0], singles(n))
    const images = embedImages(teacher, config, singles(n)), prompts = embedTexts(teacher, config, tokenizer, classes.map(photoOf))
    const predicted = images.map((im) => argmax(prompts.map((t) => dot(im, t))))
    assert.equal(r['size-color-shape'], predicted.filter((k, i) => k === classOf(singles(n)[i]!)).length / n)
    const colorOf = (k: number) => classes[k]!.color
    const colorEnsemble = Scene.COLORS.map((v) => {
      const members = prompts.filter((_, k) => colorOf(k) === v)
      const mean = members.reduce((acc, t) => acc.map((x, j) => x + t[j]!), new Float32Array(members[0]!.length))
      return mean.map((x) => x / Math.sqrt(dot(mean, mean)))
    })
    const byColor = images.map((im) => Scene.COLORS[argmax(colorEnsemble.map((e) => dot(im, e)))])
    assert.equal(r['color-ensemble'], byColor.filter((v, i) => v === singles(n)[i]!.objects[0]!.color).length / n)
    assert.ok('retrieval-image-to-text' in r && 'retrieval-text-to-image' in r)
    assert.ok(!('retrieval-image-to-text' in zeroShot((s) => embedImages(teacher, config, s), teacher, config, tokenizer, { images: 5, retrieval: 0 })))
  })

  it('an image embedded as its own class prompt is always right; random embeddings score near chance', () => {
    const prompts = embedTexts(teacher, config, tokenizer, classes.map(photoOf))
    const oracle = zeroShot((scenes) => scenes.map((s) => prompts[classOf(s)]!), teacher, config, tokenizer, { images: 60, retrieval: 0 })
    assert.equal(oracle['size-color-shape'], 1)

    const rng = Random.stream(11)
    const random = (scenes: readonly Scene.Scene[]) => scenes.map(() => {
      const v = Float32Array.from({ length: config.vision.embedWidth }, () => rng.float() - 0.5)
      return v.map((x) => x / Math.sqrt(dot(v, v)))
    })
    const r = zeroShot(random, teacher, config, tokenizer, { images: 200, retrieval: 0 })
    // chance: 1/80, 1/8, 1/5, 1/2
    assert.ok(r['size-color-shape']! < 0.06, `size-color-shape ${r['size-color-shape']}`)
    assert.ok(r['color-ensemble']! < 0.25, `color-ensemble ${r['color-ensemble']}`)
    assert.ok(r['shape-ensemble']! < 0.35, `shape-ensemble ${r['shape-ensemble']}`)
    assert.ok(r['size-ensemble']! < 0.65, `size-ensemble ${r['size-ensemble']}`)
  })
})

describe('retention probe', () => {
  it("a pre-decoder and head that reproduce the teacher's patch features score exactly the teacher's row", async () => {
    // Blocks that pass their input through are the same with or without RoPE and the class token, so the model
    // built from this teacher computes the teacher's patch features; the head is the identity.
    const t = passThrough(teacher)
    const model = fromParents(Key.key(1), config, t.vision, Llm.init(Key.key(2), config.llm))
    const w = config.vision.width
    const identity = new Tensor(Float32Array.from({ length: w * w }, (_, k) => (k % (w + 1) === 0 ? 1 : 0)), [w, w])
    const heads = { ...Heads.init(Key.key(3), config), vision: { weight: identity, bias: zeros([w]) } }
    const rows = (await retention(t, tokenizer, config, { stage1: { model, heads } }))!
    assert.deepEqual(Object.keys(rows), ['teacher', 'stage1 (vision head)', 'stage1 pre-decoder (direct)'])
    assert.deepEqual(rows['stage1 (vision head)'], rows.teacher)
    assert.deepEqual(rows['stage1 pre-decoder (direct)'], rows.teacher)
    for (const [probe, accuracy] of Object.entries(rows.teacher!)) assert.ok(accuracy >= 0 && accuracy <= 1, probe)
  })

  it('without heads there is no vision-head row; a stop asked for ends the probe with no rows', async () => {
    const model = fromParents(Key.key(1), config, teacher.vision, Llm.init(Key.key(2), config.llm))
    assert.deepEqual(Object.keys((await retention(teacher, tokenizer, config, { final: { model } }))!), ['teacher', 'final pre-decoder (direct)'])
    const heard: number[][] = []
    assert.equal(await retention(teacher, tokenizer, config, { final: { model } }, { shouldStop: () => heard.length === 1, onRow: (...r) => void heard.push(r) }), undefined)
    assert.deepEqual(heard, [[1, 2]], 'the teacher\'s row is done, then the stop is heard')
  })
})
