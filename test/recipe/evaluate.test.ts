/** The lookup readout's items, and the tables of a report. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { lookupItems, namedColour, sideItem, table, type Report } from '../../src/recipe/evaluate.ts'
import * as Scene from '../../src/data/scene.ts'
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

  it('asks by place only about two differently coloured objects a fifth of the image apart, the left one for left', () => {
    let asked = 0
    for (let i = 0; i < 400; i++) {
      const scene = Scene.sceneAt('eval', i), left = sideItem(scene, true), right = sideItem(scene, false)
      const [a, b] = scene.objects
      const fits = scene.objects.length === 2 && a!.color !== b!.color && Math.abs(a!.x - b!.x) >= 0.2
      assert.equal(left !== undefined, fits, `scene ${i}`)
      assert.equal(right !== undefined, fits, `scene ${i}`)
      if (!left || !right) continue
      asked++
      const [l, r] = a!.x < b!.x ? [a!, b!] : [b!, a!]
      assert.deepEqual([left.asked, left.other, right.asked, right.other], [l.color, r.color, r.color, l.color])
      assert.match(left.question, /on the left\?$/)
      assert.match(right.question, /on the right\?$/)
    }
    assert.ok(asked > 20, `only ${asked} of 400 scenes qualify`)
  })

  it("reads an answer's colour from its last word, so the answer may name the side first", () => {
    const item = { asked: 'red', other: 'blue' }
    const cases: [string, string][] = [
      ['red', 'target'], [' Red. ', 'target'], ['left red', 'target'], ['right blue', 'other'], ['blue', 'other'],
      ['red blue', 'other'], ['left', 'neither'], ['green', 'neither'], ['', 'neither'], ['reddish', 'neither'],
    ]
    for (const [said, whose] of cases) assert.equal(namedColour(said, item), whose, JSON.stringify(said))
  })

  it('is a line of the report tables', () => {
    const sets = { 'eval/open': Object.fromEntries(Language.CATEGORIES.map((c) => [c, { correct: 1, total: 2, accuracy: 0.5 }])) }
    const report: Report = { sets, examples: [], seconds: 1, lookup: { target: 7, other: 5, neither: 1 } }
    assert.match(table(report), /the asked object's colour 7, the other object's 5, neither 1, of 13/)
  })
})
