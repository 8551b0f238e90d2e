/** The parents' pre-training on the micro preset: each learns, logs, checkpoints with Hugging Face names and resumes exactly. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as Tokenizer from '../../src/data/tokenizer.ts'
import * as Language from '../../src/data/language.ts'
import * as Key from '../../src/random.ts'
import { micro, tiny } from '../../src/haplovl/config.ts'
import * as Names from '../../src/haplovl/names.ts'
import * as Llm from '../../src/parents/llm.ts'
import { readSafetensors } from '../../src/io/safetensors.ts'
import type { RunContext } from '../../src/recipe/run.ts'
import { pretrainTeacher, pretrainLlm, loadTeacher, loadLlm, trainTokenizer, initTeacher, teacherPair, nearMiss, llmRowAt, textConfig, textRow, embedRows } from '../../src/recipe/pretrain.ts'
import * as TextTower from '../../src/parents/text-tower.ts'
import * as Scene from '../../src/data/scene.ts'
import * as Random from '../../src/data/random.ts'

const tokenizer = Tokenizer.train(Language.corpus(60_000), { vocabSize: 300 })
// micro's vocabulary must hold the tokenizer's: widen it
const config = { ...micro, llm: { ...micro.llm, vocab: tokenizer.vocabSize } }
const quick = { images: 20, retrieval: 10 }

async function inDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'haplovl-pretrain-'))
  try {
    await body(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length
const right = <A>(e: E.Either<string, A>): A => {
  if (E.isLeft(e)) assert.fail(e.left)
  return e.right
}
const lines = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown> & { step: number })
/** Parameter names of a checkpoint (the optimizer's moments left out). */
const paramNames = async (path: string) => [...right(await readSafetensors(path)()).tensors.keys()].filter((n) => !n.startsWith('optimizer.')).sort()

describe('parents pre-training (micro)', () => {
  it('teacher: the contrastive loss falls, every step is logged, the checkpoint holds CLIP names, loadTeacher reads it back', () =>
    inDir(async (dir) => {
      const steps: number[] = []
      const ctx: RunContext = { dir, config, seed: 1, steps: 12, onStep: (r, total) => (assert.equal(total, 12), steps.push(r.step)) }
      const r = right(await pretrainTeacher(ctx, tokenizer, { ...quick, budget: { batch: 16, lrScale: 20 } }))
      const log = lines(join(dir, 'teacher.jsonl'))
      assert.deepEqual(log.map((l) => l.step), [...Array(12).keys()])
      assert.deepEqual(steps, [...Array(12).keys()])
      const losses = log.map((l) => l.loss as number)
      assert.ok(mean(losses.slice(-3)) < mean(losses.slice(0, 3)), `losses ${losses.map((x) => x.toFixed(3)).join(' ')}`)
      for (const l of log) {
        const terms = l.terms as Record<string, number>
        assert.ok(Math.abs((terms.imageToText! + terms.textToImage!) / 2 - (l.loss as number)) < 1e-5, 'the loss is the mean of its two directions')
        assert.ok(terms.logitScale! > 0 && (l.tokensPerSecond as number) > 0 && Number.isFinite(l.gradNorm as number) && typeof l.lr === 'number')
      }
      const zeroShot = r.zeroShot ?? {}
      for (const k of ['size-color-shape', 'color', 'shape', 'size', 'color-ensemble', 'shape-ensemble', 'size-ensemble', 'caption-size-color-shape', 'retrieval-image-to-text', 'retrieval-text-to-image'])
        assert.ok(zeroShot[k]! >= 0 && zeroShot[k]! <= 1, `zero-shot ${k}`)

      const names = await paramNames(join(dir, 'teacher.safetensors'))
      assert.deepEqual(names, Names.table(initTeacher(Key.key(0), config), Names.clip).map(([n]) => n))
      for (const n of ['logit_scale', 'text_projection.weight', 'visual_projection.weight', 'text_model.embeddings.token_embedding.weight',
        'text_model.embeddings.position_embedding.weight', 'text_model.encoder.layers.0.self_attn.q_proj.weight', 'text_model.final_layer_norm.bias',
        'vision_model.embeddings.class_embedding', 'vision_model.encoder.layers.1.mlp.fc2.weight', 'vision_model.post_layernorm.weight'])
        assert.ok(names.includes(n), `the teacher checkpoint lacks ${n}`)
      assert.ok(names.every((n) => /^(vision_model|text_model)\.[a-z0-9_.]+$|^(visual_projection|text_projection)\.weight$|^logit_scale$/.test(n)), names.join(', '))

      const loaded = right(await loadTeacher(dir))
      assert.deepEqual(Array.from(loaded.logitScale.data), Array.from(r.params.logitScale.data))
      assert.deepEqual(Array.from(loaded.text.projection.weight.data), Array.from(r.params.text.projection.weight.data))
      assert.deepEqual(Array.from(loaded.vision.blocks[1]!.attn.q.weight.data), Array.from(r.params.vision.blocks[1]!.attn.q.weight.data))
    }))

  it('LLM: the next-token loss falls, the held-out perplexity is finite, the checkpoint holds Llama names', () =>
    inDir(async (dir) => {
      const ctx: RunContext = { dir, config, seed: 1, steps: 12 }
      const r = right(await pretrainLlm(ctx, tokenizer, { evalDocuments: 10, budget: { batch: 4 } }))
      const log = lines(join(dir, 'llm.jsonl'))
      assert.deepEqual(log.map((l) => l.step), [...Array(12).keys()])
      const losses = log.map((l) => l.loss as number)
      assert.ok(mean(losses.slice(-3)) < mean(losses.slice(0, 3)) - 0.3, `losses ${losses.map((x) => x.toFixed(3)).join(' ')}`)
      assert.ok(log.every((l) => (l.tokens as number) === 4 * 128 && (l.tokensPerSecond as number) > 0))
      const perplexity = r.perplexity ?? NaN
      assert.ok(Number.isFinite(perplexity) && perplexity > 1 && perplexity < tokenizer.vocabSize, `perplexity ${perplexity}`)
      assert.ok(Object.values(r.perplexityByKind ?? {}).length === 3 && Object.values(r.perplexityByKind ?? {}).every((p) => p > 1 && Number.isFinite(p)))
      assert.deepEqual(await paramNames(join(dir, 'llm.safetensors')), Names.table(Llm.init(Key.key(0), config.llm), Names.llm).map(([n]) => n))
      const loaded = right(await loadLlm(dir))
      assert.deepEqual(Array.from(loaded.lmHead.weight.data), Array.from(r.params.lmHead.weight.data))
    }))

  it('a run stopped by shouldStop skips its probes; resumed, it has the losses of an uninterrupted one and logs each step once', async () => {
    for (const which of ['teacher', 'llm'] as const) {
      const run = async (ctx: RunContext): Promise<E.Either<string, { zeroShot?: unknown; perplexity?: unknown }>> =>
        which === 'teacher' ? pretrainTeacher(ctx, tokenizer, { ...quick, budget: { batch: 8 } }) : pretrainLlm(ctx, tokenizer, { evalDocuments: 4, budget: { batch: 2 } })
      await inDir(async (a) => inDir(async (b) => {
        right(await run({ dir: a, config, seed: 2, steps: 6 }))
        let n = 0
        const stopped = right(await run({ dir: b, config, seed: 2, steps: 6, shouldStop: () => ++n === 3 }))
        assert.equal(which === 'teacher' ? stopped.zeroShot : stopped.perplexity, undefined, `${which}: probed after a stop`)
        assert.deepEqual(lines(join(b, `${which}.jsonl`)).map((l) => l.step), [0, 1, 2])
        right(await run({ dir: b, config, seed: 2, steps: 6 }))
        const straight = lines(join(a, `${which}.jsonl`)), resumed = lines(join(b, `${which}.jsonl`))
        assert.deepEqual(resumed.map((l) => l.step), [0, 1, 2, 3, 4, 5])
        assert.deepEqual(resumed.map((l) => l.loss), straight.map((l) => l.loss), `${which}: resumed losses differ`)
      }))
    }
  })

  it('loadTeacher and loadLlm say what is wrong: no file, a corrupt file, another config', () =>
    inDir(async (dir) => {
      const missing = await loadTeacher(dir)
      assert.ok(E.isLeft(missing) && /teacher: no checkpoint at .*teacher\.safetensors/.test(missing.left), E.isLeft(missing) ? missing.left : '')
      const noLlm = await loadLlm(dir)
      assert.ok(E.isLeft(noLlm) && /llm: no checkpoint at .*llm\.safetensors/.test(noLlm.left))
      writeFileSync(join(dir, 'teacher.safetensors'), 'not a safetensors file at all')
      const corrupt = await loadTeacher(dir)
      assert.ok(E.isLeft(corrupt) && corrupt.left.includes('teacher.safetensors'), E.isLeft(corrupt) ? corrupt.left : '')
      right(await pretrainLlm({ dir, config, seed: 3, steps: 1 }, tokenizer, { evalDocuments: 2, budget: { batch: 1 } }))
      const wide = { ...config, llm: { ...config.llm, width: 32 } }
      const other = await loadLlm(dir, wide)
      assert.ok(E.isLeft(other) && /llm\.safetensors.*expected/.test(other.left), E.isLeft(other) ? other.left : '')
      const bytes = readFileSync(join(dir, 'llm.safetensors'))
      writeFileSync(join(dir, 'llm.safetensors'), bytes.subarray(0, bytes.length - 100))
      const truncated = await loadLlm(dir)
      assert.ok(E.isLeft(truncated) && truncated.left.includes('llm.safetensors'), E.isLeft(truncated) ? truncated.left : '')
    }))

  it('refuses a tokenizer larger than the vocabulary', () =>
    inDir(async (dir) => {
      const narrow = { ...micro, llm: { ...micro.llm, vocab: 200 } }
      const big = await pretrainLlm({ dir, config: narrow, seed: 0, steps: 1 }, tokenizer)
      assert.ok(E.isLeft(big) && /300 ids, more than the vocabulary of config 'micro' \(llm.vocab 200\)/.test(big.left), E.isLeft(big) ? big.left : '')
    }))

  it('trainTokenizer trains and saves the tokenizer, loads it when present, and refuses a vocabulary too small for bytes', () =>
    inDir(async (dir) => {
      const ctx: RunContext = { dir, config: tiny, seed: 0 }
      const tok = right(await trainTokenizer(ctx))
      assert.equal(tok.vocabSize, tiny.llm.vocab)
      assert.ok(existsSync(join(dir, 'tokenizer.json')))
      assert.deepEqual(right(await trainTokenizer(ctx)).merges, tok.merges)
      const small = await trainTokenizer({ dir: join(dir, 'micro'), config: { ...micro, llm: { ...micro.llm, vocab: 200 } }, seed: 0 })
      assert.ok(E.isLeft(small) && /llm.vocab 200 cannot hold a byte-level tokenizer/.test(small.left))
      const narrow = await trainTokenizer({ ...ctx, config: { ...tiny, llm: { ...tiny.llm, vocab: 400 } } })
      assert.ok(E.isLeft(narrow) && /512 ids, more than the vocabulary/.test(narrow.left))
    }))

  it('runs the text tower over length buckets and returns the rows in their order', () => {
    const tc = textConfig(config), p = initTeacher(Key.key(1), config).text
    const rows = Array.from({ length: 7 }, (_, i) => textRow(tokenizer, teacherPair(0, 1, i).text, tc.context))
    const whole = TextTower.apply(p, tc, rows).pooled, bucketed = embedRows(p, tc, rows, 3)
    assert.deepEqual(bucketed.shape, whole.shape)
    bucketed.data.forEach((x, k) => assert.ok(Math.abs(x - whole.data[k]!) < 1e-5, `entry ${k}: ${x} vs ${whole.data[k]}`))
  })

  it('draws batches from the step alone, never from held-out scenes', () => {
    assert.deepEqual(teacherPair(5, 7, 3), teacherPair(5, 7, 3))
    assert.deepEqual(llmRowAt(tokenizer, 5, 7, 1), llmRowAt(tokenizer, 5, 7, 1))
    assert.notDeepEqual(llmRowAt(tokenizer, 5, 7, 1), llmRowAt(tokenizer, 5, 8, 1))
    for (let i = 0; i < 300; i++) assert.equal(Scene.isHeldOutContent(teacherPair(0, 0, i).scene), false)
  })

  it('pairs every image with a hard negative that changes one binding: a shape, or two objects\' colours', () => {
    const kinds = new Set<string>()
    for (let i = 0; i < 200; i++) {
      const s = Scene.sceneAt('train', i), miss = nearMiss(s, Random.stream(i))
      const changed = s.objects.flatMap((o, k) => (o.shape !== miss.objects[k]!.shape || o.color !== miss.objects[k]!.color ? [k] : []))
      assert.deepEqual(miss.objects.map((o) => [o.x, o.y, o.size]), s.objects.map((o) => [o.x, o.y, o.size]), 'places and sizes stay')
      if (changed.length === 1) {
        const [k] = changed as [number]
        assert.notEqual(miss.objects[k]!.shape, s.objects[k]!.shape)
        assert.equal(miss.objects[k]!.color, s.objects[k]!.color)
        kinds.add('shape')
      } else {
        assert.equal(changed.length, 2, `scene ${i}: ${changed.length} objects changed`)
        const [a, b] = changed as [number, number]
        assert.deepEqual([miss.objects[a]!.color, miss.objects[b]!.color], [s.objects[b]!.color, s.objects[a]!.color])
        kinds.add('colours')
      }
      const pair = teacherPair(3, 1, i)
      assert.notEqual(pair.negative, pair.text)
    }
    assert.deepEqual([...kinds].sort(), ['colours', 'shape'])
  })
})
