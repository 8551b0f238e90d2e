/** The whole recipe on the micro preset: every phase runs, is timed, and leaves its files; a rerun resumes instead of retraining. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { micro } from '../../src/haplovl/config.ts'
import { pipeline } from '../../src/recipe/pipeline.ts'
import { files } from '../../src/recipe/run.ts'
import { compare, designDir, designs, reports, sideBySide } from '../../src/recipe/compare.ts'
import * as Tokenizer from '../../src/data/tokenizer.ts'
import { readSafetensors } from '../../src/io/safetensors.ts'

describe('pipeline (micro)', () => {
  it('runs tokenizer, parents, the three stages and evaluation, then resumes without retraining; the comparisons (LLaVA-style, SOLO, HoVLE) run from its parents', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haplovl-pipeline-'))
    try {
      const ctx = { dir, config: micro, seed: 3, steps: 2 }
      const first = await pipeline(ctx, { perCategory: 1 })
      assert.ok(E.isRight(first), E.isLeft(first) ? first.left : '')
      assert.deepEqual(first.right.map((p) => p.name), ['tokenizer', 'teacher', 'llm', 'stage1', 'align', 'stage2', 'eval'])
      for (const f of [files.tokenizer, files.teacher, files.llm, files.stage1, files.align, files.stage2, files.eval]) assert.ok(existsSync(join(dir, f)), f)
      const stage2Lines = () => readFileSync(join(dir, 'stage2.jsonl'), 'utf8').trim().split('\n').length
      assert.equal(stage2Lines(), 2)
      // the retention probe: the teacher, the stage-1 model with its vision head and without, the final model
      const report = JSON.parse(readFileSync(join(dir, files.eval), 'utf8')) as { retention?: Record<string, Record<string, number>>; lookup: Record<string, number> }
      assert.equal(report.lookup.target! + report.lookup.other! + report.lookup.neither!, 1, 'the lookup readout asks as many questions as each category')
      assert.deepEqual(Object.keys(report.retention ?? {}), ['teacher', 'stage1 (vision head)', 'stage1 pre-decoder (direct)', 'stage2 pre-decoder (direct)'])
      const again = await pipeline(ctx, { perCategory: 1 })
      assert.ok(E.isRight(again), E.isLeft(again) ? again.left : '')
      assert.equal(stage2Lines(), 2, 'a finished stage is not trained again')
      // finished phases keep the times they were trained in; the evaluation ran again
      const seconds = (phases: readonly { name: string; seconds: number }[]) => phases.filter((p) => p.name !== 'eval').map((p) => p.seconds)
      assert.deepEqual(seconds(again.right), seconds(first.right))
      assert.deepEqual(JSON.parse(readFileSync(join(dir, 'pipeline.json'), 'utf8')), JSON.parse(JSON.stringify(again.right)))
      // the comparisons: each design from the same parents, on stage 2's own samples, asked the same questions
      const tokenizer = await Tokenizer.load(join(dir, files.tokenizer))()
      assert.ok(E.isRight(tokenizer))
      const tokens = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { tokens: number }).tokens)
      const early = await compare(ctx, tokenizer.right, 'hovle', { perCategory: 1 })
      assert.ok(E.isLeft(early) && /run haplovl compare llava first/.test(early.left), 'hovle distils the llava comparison')
      for (const design of designs) {
        const report = await compare(ctx, tokenizer.right, design, { perCategory: 1 })
        assert.ok(E.isRight(report) && report.right, E.isLeft(report) ? report.left : 'stopped')
        assert.equal(report.right.lookup.target + report.right.lookup.other + report.right.lookup.neither, 1)
        assert.deepEqual(JSON.parse(readFileSync(join(designDir(dir, design), 'eval.json'), 'utf8')).sets, JSON.parse(JSON.stringify(report.right.sets)))
      }
      for (const [design, first] of [['llava', 'projector'], ['solo', 'captions'], ['hovle', 'distill']] as const) {
        assert.equal(tokens(join(designDir(dir, design), `${first}.jsonl`)).length, 2, `${design}: ${first}`)
        const file = await readSafetensors(join(designDir(dir, design), `${first}.safetensors`))()
        assert.ok(E.isRight(file))
        assert.equal(JSON.parse(file.right.metadata.config!).name, `${design}-micro`, 'a checkpoint records its own design\'s config')
      }
      assert.deepEqual(tokens(join(designDir(dir, 'llava'), 'instruct.jsonl')), tokens(join(dir, 'stage2.jsonl')),
        'the same samples as HaploVL\'s stage 2 (an image takes as many positions in both layouts)')
      const side = sideBySide(reports(ctx))
      assert.match(side, /^\| set \| category \| HaploVL \(1 per cell\) \| LLaVA-style \(1 per cell\) \| SOLO \(1 per cell\) \| HoVLE \(1 per cell\) \|$/m)
      assert.equal(side.split('\n').length, 2 + 3 * 6 + 1, 'a row per set and category, and the lookup')
      assert.ok(E.isRight(await compare(ctx, tokenizer.right, 'llava', { perCategory: 1 })))
      assert.equal(tokens(join(designDir(dir, 'llava'), 'instruct.jsonl')).length, 2, 'a finished comparison is not trained again')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
  it('stopped inside a phase, records it only once a rerun has trained it to the end; without stage 1 (the paper\'s ablation), aligns the model built from the parents and probes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haplovl-pipeline-'))
    try {
      const ctx = { dir, config: micro, seed: 3, steps: 2 }
      const teacherSteps = () => readFileSync(join(dir, 'teacher.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step)
      // a stop (Ctrl-C) asked for during the teacher's first step
      const stopped = await pipeline({ ...ctx, shouldStop: () => existsSync(join(dir, 'teacher.jsonl')) }, { perCategory: 1, withoutStage1: true })
      assert.ok(E.isRight(stopped), E.isLeft(stopped) ? stopped.left : '')
      assert.deepEqual(stopped.right.map((p) => p.name), ['tokenizer'])
      assert.deepEqual(JSON.parse(readFileSync(join(dir, 'pipeline.json'), 'utf8')).map((p: { name: string }) => p.name), ['tokenizer'])
      assert.deepEqual(teacherSteps(), [0])
      const run = await pipeline(ctx, { perCategory: 1, withoutStage1: true })
      assert.ok(E.isRight(run), E.isLeft(run) ? run.left : '')
      assert.deepEqual(teacherSteps(), [0, 1], 'the teacher is trained on from its checkpoint, not taken as finished')
      assert.deepEqual(run.right.map((p) => p.name), ['tokenizer', 'teacher', 'llm', 'align', 'stage2', 'eval'])
      assert.ok(!existsSync(join(dir, files.stage1)))
      const report = JSON.parse(readFileSync(join(dir, files.eval), 'utf8')) as { retention?: Record<string, unknown> }
      assert.deepEqual(Object.keys(report.retention ?? {}), ['teacher', 'stage2 pre-decoder (direct)'])
      // a stop asked for once the evaluation has begun: it ends after that question, writes nothing, records nothing
      rmSync(join(dir, files.eval))
      let asked = 0
      const cut = await pipeline({ ...ctx, onItem: (label) => void (label === 'eval' && asked++), shouldStop: () => asked > 0 }, { perCategory: 1, withoutStage1: true })
      assert.ok(E.isRight(cut), E.isLeft(cut) ? cut.left : '')
      assert.equal(asked, 1)
      assert.ok(!cut.right.some((p) => p.name === 'eval'))
      assert.ok(!existsSync(join(dir, files.eval)))
      assert.ok(!JSON.parse(readFileSync(join(dir, 'pipeline.json'), 'utf8')).some((p: { name: string }) => p.name === 'eval'))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
