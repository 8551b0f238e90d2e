/** Checkpoint names: Hugging Face conventions, one name per tensor, and the list in docs/CHECKPOINTS.md pinned. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import * as Random from '../../src/random.ts'
import { tiny } from '../../src/haplovl/config.ts'
import { fromScratch } from '../../src/haplovl/init.ts'
import * as Heads from '../../src/haplovl/heads.ts'
import * as VisionTower from '../../src/parents/vision-tower.ts'
import * as Llm from '../../src/parents/llm.ts'
import * as Names from '../../src/haplovl/names.ts'
import { initTeacher } from '../../src/recipe/pretrain.ts'

/** The three tables of the doc, for the tiny preset (the structure, not the values, matters: any key will do). */
export function checkpointTables(): Record<string, string> {
  const k = Random.key(0)
  return {
    haplovl: Names.markdown(Names.table({ model: fromScratch(k, tiny), heads: Heads.init(k, tiny) }, Names.haplovl)),
    'vision-tower': Names.markdown(Names.table(VisionTower.init(k, tiny.vision), Names.visionTower)),
    teacher: Names.markdown(Names.table(initTeacher(k, tiny), Names.clip)),
    llm: Names.markdown(Names.table(Llm.init(k, tiny.llm), Names.llm)),
  }
}

describe('checkpoint names', () => {
  it('are unique, Hugging Face shaped, and every tree path is renamed', () => {
    for (const [name, md] of Object.entries(checkpointTables())) {
      const names = [...md.matchAll(/^\| `([^`]+)`/gm)].map((m) => m[1]!)
      assert.equal(new Set(names).size, names.length, `${name}: duplicate names`)
      for (const n of names) assert.match(n, /^(model\.|lm_head\.|vision_model\.|visual_projection\.|text_model\.|text_projection\.|logit_scale|stage1\.)[a-z0-9_.]*$/, `${name}: '${n}' is not a converted name`)
    }
  })
  it('docs/CHECKPOINTS.md lists exactly the names and shapes of the model definition', () => {
    const doc = readFileSync(new URL('../../docs/CHECKPOINTS.md', import.meta.url), 'utf8')
    for (const [name, md] of Object.entries(checkpointTables())) {
      const block = doc.match(new RegExp(`<!-- names:${name} -->\\n([\\s\\S]*?)\\n<!-- /names:${name} -->`))
      assert.ok(block, `docs/CHECKPOINTS.md has no <!-- names:${name} --> block`)
      assert.equal(block[1], md, `the ${name} table in docs/CHECKPOINTS.md is out of date: regenerate it with checkpointTables() in test/haplovl/names.test.ts`)
    }
  })
})
