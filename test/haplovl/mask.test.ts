/** The mixed attention mask (MODEL_SPEC §1.5) and sequence assembly, as properties over generated samples. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { isRight, isLeft } from 'fp-ts/lib/Either.js'
import { micro, imageTokens, type Config } from '../../src/haplovl/config.ts'
import { assemble, Kind, type Sample, type Segment } from '../../src/haplovl/sequence.ts'
import { runs } from '../helpers/arbitraries.ts'

const special = { image: 1, pad: 0 }
const pixels = (c: Config) => new Float32Array(c.vision.imageSize ** 2 * 3).fill(0.5)

/** Samples of 1–4 segments: text runs of 1–4 ids (some with loss) and images. */
const sample = (c: Config): fc.Arbitrary<Sample> =>
  fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('text' as const), ids: fc.array(fc.integer({ min: 2, max: c.llm.vocab - 1 }), { minLength: 1, maxLength: 4 }), loss: fc.boolean() }),
      fc.constant({ kind: 'image', pixels: pixels(c) } as Segment),
    ),
    { minLength: 1, maxLength: 4 },
  )

const configs = [micro, { ...micro, rowNewline: true }]

describe('mixed mask', () => {
  for (const c of configs) {
    it(`text causal, images bidirectional inside, causal across, padding never attended (rowNewline ${c.rowNewline})`, () => {
      fc.assert(fc.property(fc.array(sample(c), { minLength: 1, maxLength: 3 }), (samples) => {
        const result = assemble(samples, c, special)
        assert.ok(isRight(result))
        const batch = result.right
        const { b, t } = batch
        for (let s = 0; s < b; s++) {
          const at = (i: number) => s * t + i
          for (let i = 0; i < t; i++)
            for (let j = 0; j < t; j++) {
              const allowed = batch.mask.data[(s * t + i) * t + j] === 0
              const qi = batch.kind[at(i)]!, kj = batch.kind[at(j)]!
              if (qi === Kind.pad) { assert.equal(allowed, i === j); continue }
              if (kj === Kind.pad) { assert.equal(allowed, false, 'a padding key is attended'); continue }
              const imgI = batch.imageOf[at(i)]!, imgJ = batch.imageOf[at(j)]!
              if (imgI >= 0 && imgI === imgJ) assert.equal(allowed, true, 'tokens of one image must see each other')
              else if (imgJ >= 0) {
                // key inside an image that is not the query's: visible iff the whole image lies before the query
                let first = j
                while (first > 0 && batch.imageOf[at(first - 1)] === imgJ) first--
                assert.equal(allowed, first <= i, `image key at ${j} (image starts at ${first}) vs query ${i}`)
              } else assert.equal(allowed, j <= i, `text key ${j} vs query ${i}`)
            }
        }
      }), runs(30))
    })
  }

  it('a patch attends the next patch of its image but not the text that follows the image', () => {
    const c = micro
    const result = assemble([[{ kind: 'text', ids: [5, 6], loss: false }, { kind: 'image', pixels: pixels(c) }, { kind: 'text', ids: [7], loss: true }]], c, special)
    assert.ok(isRight(result))
    const { mask, t } = result.right
    const firstPatch = 2, afterImage = 2 + imageTokens(c)
    assert.equal(mask.data[firstPatch * t + firstPatch + 1], 0)
    assert.equal(mask.data[firstPatch * t + afterImage], -Infinity)
    assert.equal(mask.data[afterImage * t + firstPatch + 3], 0)
  })
})

/** Positions a micro sample takes: its text ids and imageTokens per image. */
const positions = (s: Sample): number => s.reduce((n, seg) => n + (seg.kind === 'text' ? seg.ids.length : imageTokens(micro)), 0)

describe('assembly', () => {
  it('places each image as a run of imageTokens positions, pads at the right and targets only loss text', () => {
    fc.assert(fc.property(fc.array(sample(micro), { minLength: 1, maxLength: 3 }), (samples) => {
      const result = assemble(samples, micro, special)
      assert.ok(isRight(result))
      const batch = result.right
      assert.equal(batch.t, Math.max(...samples.map(positions)))
      assert.equal(batch.images.length, samples.flat().filter((s) => s.kind === 'image').length)
      samples.forEach((sample, s) => {
        const flat = sample.flatMap((seg) => (seg.kind === 'text' ? seg.ids.map((id) => ({ id, loss: seg.loss })) : Array.from({ length: imageTokens(micro) }, () => ({ id: special.image, loss: false }))))
        flat.forEach((tok, i) => assert.equal(batch.ids[s * batch.t + i], tok.id))
        for (let i = flat.length; i < batch.t; i++) assert.equal(batch.kind[s * batch.t + i], Kind.pad)
        for (let i = 0; i < batch.t; i++) {
          const next = flat[i + 1]
          const isTextTarget = next !== undefined && next.loss && batch.kind[s * batch.t + i + 1] === Kind.text
          assert.equal(batch.targets[s * batch.t + i], isTextTarget ? next.id : -1)
        }
      })
    }), runs(30))
  })

  it('pads to the longest row rounded up to a multiple of lengthStep, never past maxTokens', () => {
    fc.assert(fc.property(fc.array(sample(micro), { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 40 }), (samples, step) => {
      const result = assemble(samples, micro, special, step)
      assert.ok(isRight(result))
      const longest = Math.max(...samples.map(positions))
      const t = result.right.t
      assert.ok(t >= longest && t <= micro.maxTokens, `t ${t} for longest ${longest}`)
      assert.ok(t % step === 0 || t === micro.maxTokens, `t ${t} is not a multiple of ${step}`)
      assert.ok(t - longest < step, `t ${t} pads more than one step past ${longest}`)
    }), runs(30))
  })

  it('refuses empty batches, out-of-vocabulary ids, wrong image sizes and overlong samples, with clear messages', () => {
    const check = (samples: Sample[], pattern: RegExp) => {
      const r = assemble(samples, micro, special)
      assert.ok(isLeft(r) && pattern.test(r.left), isLeft(r) ? r.left : 'accepted')
    }
    check([], /batch is empty/)
    check([[{ kind: 'text', ids: [micro.llm.vocab], loss: false }]], /token id 320, outside the vocabulary of 320/)
    check([[{ kind: 'image', pixels: new Float32Array(5) }]], /has 5 values, expected 8×8×3/)
    check([[{ kind: 'text', ids: new Array(micro.maxTokens + 1).fill(3), loss: false }]], /needs 65 positions.*maxTokens 64/)
  })
})
