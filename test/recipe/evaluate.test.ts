/** The lookup readout's items, and the tables of a report. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { lookupItems, table, type Report } from '../../src/recipe/evaluate.ts'
import * as Language from '../../src/data/language.ts'

describe('lookup readout', () => {
  it('asks the colour of one of two differently coloured objects, named by its shape, on held-out scenes', () => {
    const items = lookupItems(30)
    assert.equal(items.length, 30)
    assert.equal(new Set(items.map((i) => i.scene.seed)).size, 30, 'one question per scene')
    for (const { scene, question, asked, other: otherColor } of items) {
      assert.equal(scene.objects.length, 2)
      const target = scene.objects.find((o) => o.color === asked), other = scene.objects.find((o) => o.color === otherColor)
      assert.ok(target && other && target !== other, `${question} → ${asked}, other ${otherColor}`)
      assert.ok(question.includes(target.shape), question)
    }
  })

  it('is a line of the report tables', () => {
    const sets = { 'eval/open': Object.fromEntries(Language.CATEGORIES.map((c) => [c, { correct: 1, total: 2, accuracy: 0.5 }])) }
    const report: Report = { sets, examples: [], seconds: 1, lookup: { target: 7, other: 5, neither: 1 } }
    assert.match(table(report), /the asked object's colour 7, the other object's 5, neither 1, of 13/)
  })
})
