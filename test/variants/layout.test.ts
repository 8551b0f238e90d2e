/** The variants' sequence layouts and causal masks, their config validation, and their checkpoint names. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { isLeft, isRight } from 'fp-ts/lib/Either.js'
import { entries } from '../../src/index.ts'
import * as Random from '../../src/random.ts'
import * as HaploConfig from '../../src/haplovl/config.ts'
import * as Names from '../../src/haplovl/names.ts'
import { assemble, layoutOf, tokensPerImage, Kind, type Layout, type Sample, type Segment } from '../../src/haplovl/sequence.ts'
import * as Llava from '../../src/variants/llava.ts'
import * as Solo from '../../src/variants/solo.ts'
import * as Hovle from '../../src/variants/hovle.ts'
import { runs } from '../helpers/arbitraries.ts'
import { special } from './helpers.ts'

const layouts: Record<string, Layout> = { llava: Llava.layout(Llava.micro), solo: Solo.layout(Solo.micro), hovle: Hovle.layout(Hovle.micro) }

const sample = (l: Layout): fc.Arbitrary<Sample> =>
  fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('text' as const), ids: fc.array(fc.integer({ min: 2, max: l.vocab - 1 }), { minLength: 1, maxLength: 4 }), loss: fc.boolean() }),
      fc.constant({ kind: 'image', pixels: new Float32Array(l.imageSize ** 2 * 3).fill(0.5) } as Segment),
    ),
    { minLength: 1, maxLength: 3 },
  )

describe('variant layouts', () => {
  for (const [name, l] of Object.entries(layouts))
    it(`${name}: plain causal mask, images included; padding never attended`, () => {
      fc.assert(fc.property(fc.array(sample(l), { minLength: 1, maxLength: 3 }), (samples) => {
        const r = assemble(samples, l, special)
        assert.ok(isRight(r))
        const { b, t, kind, mask } = r.right
        for (let s = 0; s < b; s++)
          for (let i = 0; i < t; i++)
            for (let j = 0; j < t; j++) {
              const allowed = mask.data[(s * t + i) * t + j] === 0
              if (kind[s * t + i] === Kind.pad) assert.equal(allowed, i === j)
              else assert.equal(allowed, j <= i && kind[s * t + j] !== Kind.pad, `${name}: query ${i}, key ${j}`)
            }
        // every image is one run of tokensPerImage positions
        const imagePositions = Array.from(kind).filter((k) => k === Kind.patch || k === Kind.newline).length
        assert.equal(imagePositions, r.right.images.length * tokensPerImage(l))
      }), runs(20))
    })

  it('tokens per image at tiny scale: LLaVA 64, SOLO 64 + 7 separators, HoVLE 16 after the pixel shuffle', () => {
    assert.equal(Llava.imageTokens(Llava.tiny), 64)
    assert.equal(Solo.imageTokens(Solo.tiny), 71)
    assert.equal(Hovle.imageTokens(Hovle.tiny), 16)
  })

  it("SOLO puts a separator between rows, HaploVL's newline follows every row; HaploVL's layout is its config's", () => {
    const rows = (l: Layout) => {
      const r = assemble([[{ kind: 'image', pixels: new Float32Array(l.imageSize ** 2 * 3) }]], l, special)
      assert.ok(isRight(r))
      return Array.from(r.right.kind, (k) => (k === Kind.newline ? '|' : 'p')).join('')
    }
    assert.equal(rows(Solo.layout(Solo.tiny)), Array.from({ length: 8 }, () => 'pppppppp').join('|'))
    const haplo = { ...HaploConfig.micro, rowNewline: true }
    assert.equal(rows(layoutOf(haplo)), 'pp|pp|')
    for (const c of [HaploConfig.micro, haplo, HaploConfig.tiny]) assert.equal(tokensPerImage(layoutOf(c)), HaploConfig.imageTokens(c))
  })
})

describe('variant configs', () => {
  it('the presets are valid', () => {
    for (const c of Object.values(Llava.presets)) assert.ok(isRight(Llava.validate(c)), c.name)
    for (const c of Object.values(Solo.presets)) assert.ok(isRight(Solo.validate(c)), c.name)
    for (const c of Object.values(Hovle.presets)) assert.ok(isRight(Hovle.validate(c)), c.name)
  })

  it('a bad field comes back as Left naming the config and the field', () => {
    const bad = (e: ReturnType<typeof Llava.validate> | ReturnType<typeof Solo.validate> | ReturnType<typeof Hovle.validate>, pattern: RegExp) =>
      assert.ok(isLeft(e) && pattern.test(e.left), isLeft(e) ? e.left : 'accepted')
    bad(Llava.validate({ ...Llava.micro, selectLayer: 2 }), /^config 'llava-micro': selectLayer must be in \[0, 1\], got 2$/)
    bad(Llava.validate({ ...Llava.micro, maxTokens: 4 }), /maxTokens 4 must hold at least one image and one token \(5\)/)
    bad(Solo.validate({ ...Solo.micro, patch: 3 }), /^config 'solo-micro': imageSize 8 must be a positive multiple of patch 3$/)
    bad(Solo.validate({ ...Solo.micro, llm: { ...Solo.micro.llm, kvHeads: 3 } }), /llm.heads 2 must be a multiple of llm.kvHeads 3/)
    bad(Hovle.validate({ ...Hovle.tiny, imageSize: 12 }), /the pixel shuffle needs an even patch grid, got 3×3/)
    bad(Hovle.validate({ ...Hovle.micro, embedLayers: 0 }), /embedLayers must be a positive integer, got 0/)
  })
})

describe('variant checkpoint names', () => {
  const k = Random.key(0)
  const trees = {
    llava: [Llava.init(k, Llava.tiny), Names.llava],
    solo: [Solo.init(k, Solo.tiny), Names.solo],
    hovle: [Hovle.init(k, Hovle.tiny), Names.hovle],
  } as const

  it('are unique and Hugging Face shaped; the LLM keeps Llama names and the ViT CLIP names', () => {
    for (const [name, [tree, names]] of Object.entries(trees)) {
      const rows = Names.table(tree, names)
      assert.equal(new Set(rows.map(([n]) => n)).size, rows.length, `${name}: duplicate names`)
      for (const [n] of rows) assert.match(n, /^[a-z0-9_.]+$/, `${name}: '${n}'`)
      for (const [path] of entries(tree)) {
        if (path.startsWith('llm.')) assert.equal(names(path), Names.llm(path.slice(4)), path)
        if (path.startsWith('vision.')) assert.equal(names(path), `model.vision_tower.vision_tower.${Names.visionTower(path.slice(7))}`, path)
      }
    }
    assert.equal(Names.llava('projector.fc2.bias'), 'model.mm_projector.2.bias')
    assert.equal(Names.solo('patch.weight'), 'model.embed_vision_patch.weight')
    assert.equal(Names.hovle('embedding.blocks.0.attn.q.weight'), 'vision_model.encoder.0.self_attn.q_proj.weight')
    assert.equal(Names.hovle('embedding.shuffle.fc1.weight'), 'vision_model.pixel_shuffle_proj.0.weight')
  })
})
