/**
 * The main job (`npm start`): the small model that ships with the project (trained by `haplovl pipeline`)
 * looks at freshly drawn scenes, answers one question of each category about them, prints its answers beside
 * the truth, and draws where its pre-decoder looks for one of the questions.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as Language from '../data/language.ts'
import * as Scene from '../data/scene.ts'
import { normalise } from '../recipe/evaluate.ts'
import { files } from '../recipe/run.ts'
import { loadModel, promptOf, answer, attentionPicture, shippedModel, type Prompt } from './infer.ts'
import type { Invocation, Outcome } from './invocation.ts'

export async function demo(a: Invocation): Outcome {
  const dir = a.get('model', shippedModel)
  const loaded = await loadModel(dir, join(dir, files.stage2), a.config)()
  if (E.isLeft(loaded)) return loaded
  const m = loaded.right
  // fresh scenes: a seed from the clock unless --seed is given, in the held-out seed space
  const seed = a.values.seed === undefined ? Date.now() % 100_000 : a.seed
  const rows: string[][] = [], started = performance.now()
  let right = 0, shown: { question: string; prompt: Prompt } | null = null
  for (const [k, category] of Language.CATEGORIES.entries()) {
    for (let i = 0; ; i++) {
      const scene = Scene.sceneAt('eval', 1_000_000 + seed * 16 + k * 1000 + i)
      const qa = Language.ask(scene, category, seed + i)
      if (!qa) continue
      const pixels = Scene.render(scene, m.config.vision.imageSize)
      const prompt = promptOf(m, pixels, qa.question)
      if (E.isLeft(prompt)) return prompt
      const reply = answer(m, prompt.right, { maxTokens: 8, temperature: 0, topP: 1, seed: 0 })
      if (E.isLeft(reply)) return reply
      const ok = normalise(reply.right) === normalise(qa.answer)
      right += ok ? 1 : 0
      rows.push([category, Language.caption(scene), qa.question, reply.right, qa.answer, ok ? 'yes' : 'no'])
      if (category === 'color') shown = { question: qa.question, prompt: prompt.right }
      break
    }
  }
  const widths = [0, 1, 2, 3, 4, 5].map((j) => Math.max(...['category', 'scene', 'question', 'answer', 'truth', 'right'].concat(rows.map((r) => r[j]!)).map((s) => (j === 1 ? Math.min(s.length, 48) : s.length))))
  const line = (r: readonly string[]) => r.map((s, j) => (j === 1 && s.length > 48 ? `${s.slice(0, 47)}…` : s).padEnd(widths[j]!)).join('  ')
  a.io.out(line(['category', 'scene', 'question', 'answer', 'truth', 'right']))
  for (const r of rows) a.io.out(line(r))
  a.io.out(`${right} of ${rows.length} right (seed ${seed}; ${((performance.now() - started) / 1000).toFixed(1)} s)`)
  if (shown) {
    const out = a.get('out', join('runs', 'demo', 'attention.png'))
    const png = await attentionPicture(m, shown.prompt, shown.question, { tokens: 'question', layer: -1 })
    if (E.isLeft(png)) return png
    mkdirSync(dirname(out), { recursive: true })
    writeFileSync(out, png.right)
    a.io.out(`attention of "${shown.question}" over the image: ${out}`)
  }
  return E.right(0)
}
