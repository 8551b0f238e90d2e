/** The CLIP-style text tower: it pools each row at its last token, is causal, and ignores the padding. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as Random from '../../src/random.ts'
import * as TextTower from '../../src/parents/text-tower.ts'
import { runs } from '../helpers/arbitraries.ts'

const c: TextTower.Config = { vocab: 20, context: 8, width: 8, layers: 2, heads: 2, mlpWidth: 16, embedWidth: 4, eps: 1e-5 }
const p = TextTower.init(Random.key(3), c)

const row = fc.array(fc.integer({ min: 0, max: c.vocab - 1 }), { minLength: 1, maxLength: c.context })
const rowsArb = fc.array(row, { minLength: 1, maxLength: 4 })

/** Values of row b, position t of a (B, T, C) tensor. */
const at = (x: { data: Float32Array; shape: readonly number[] }, b: number, t: number): number[] => {
  const [, tt, w] = x.shape as [number, number, number]
  return Array.from(x.data.slice((b * tt + t) * w, (b * tt + t + 1) * w))
}
const close = (a: readonly number[], b: readonly number[], tol = 1e-5) => a.every((x, i) => Math.abs(x - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)))

describe('text tower', () => {
  it('pools row b at its last token: pooled = projection · hidden[b, length − 1]', () =>
    fc.assert(fc.property(rowsArb, (rows) => {
      const out = TextTower.apply(p, c, rows)
      const w = p.projection.weight // [E, C]
      rows.forEach((r, b) => {
        const h = at(out.hidden, b, r.length - 1)
        const expected = Array.from({ length: c.embedWidth }, (_, e) => h.reduce((s, x, k) => s + x * w.data[e * c.width + k]!, 0))
        assert.ok(close(Array.from(out.pooled.data.slice(b * c.embedWidth, (b + 1) * c.embedWidth)), expected), `row ${b} of length ${r.length}`)
      })
    }), runs(20)))

  it('gives a row the same embedding alone as in a padded batch', () =>
    fc.assert(fc.property(rowsArb, (rows) => {
      const batch = TextTower.apply(p, c, rows).pooled
      rows.forEach((r, b) => {
        const alone = TextTower.apply(p, c, [r]).pooled
        assert.ok(close(Array.from(batch.data.slice(b * c.embedWidth, (b + 1) * c.embedWidth)), Array.from(alone.data)), `row ${b}`)
      })
    }), runs(20)))

  it('is causal: changing token j leaves positions before j unchanged and moves the pooled embedding', () =>
    fc.assert(fc.property(row, fc.nat(), fc.integer({ min: 1, max: c.vocab - 1 }), (r, jRaw, shift) => {
      const j = jRaw % r.length
      const changed = r.map((id, k) => (k === j ? (id + shift) % c.vocab : id))
      const a = TextTower.apply(p, c, [r]), b = TextTower.apply(p, c, [changed])
      for (let t = 0; t < j; t++) assert.deepEqual(at(b.hidden, 0, t), at(a.hidden, 0, t), `position ${t} saw token ${j}`)
      assert.ok(!close(Array.from(a.pooled.data), Array.from(b.pooled.data), 1e-7), 'the pooled embedding ignored a token before it')
    }), runs(20)))

  it('refuses rows longer than its context, and empty rows', () => {
    assert.throws(() => TextTower.apply(p, c, [new Array<number>(c.context + 1).fill(1)]), /row lengths must lie in \[1, 8\]/)
    assert.throws(() => TextTower.apply(p, c, [[]]), /row lengths/)
  })
})
