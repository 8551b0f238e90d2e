/**
 * `haplovl data`: a look at the synthetic world before training on it. Writes a sheet of training and
 * fine-grained evaluation scenes (at the model's input size) with captions and questions, and prints a sample
 * of each kind of training text as the tokenizer sees it (images as <|image|>).
 */
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as Language from '../data/language.ts'
import * as Tokenizer from '../data/tokenizer.ts'
import { files } from '../recipe/run.ts'
import { scenesPng } from '../plot/scenes.ts'
import type { Invocation, Outcome } from './invocation.ts'
import { save } from './output.ts'

const KINDS = [
  ['caption', Language.captionSample],
  ['instruction', Language.instructionSample],
  ['dialogue', Language.dialogueSample],
  ['text', Language.textSample],
  ['interleaved', Language.interleavedSample],
] as const

/** One sample of each kind at index `seed`, as text. */
export const sampleTexts = (seed: number): string[] =>
  KINDS.map(([kind, make]) => `${kind}: ${Tokenizer.renderChatText(make(seed).segments)}`)

export async function data(a: Invocation): Outcome {
  const count = a.get('count', 8), perRow = 4
  const rows = (split: 'train' | 'fine') =>
    Array.from({ length: Math.ceil(count / perRow) }, (_, r) => ({ split, from: a.seed + r * perRow }))
  const size = a.config.vision.imageSize
  const sheet = await scenesPng({ size, tile: Math.max(1, Math.round(256 / size)) * size, columns: Math.min(perRow, count), rows: [...rows('train'), ...rows('fine')] })
  const out = a.get('out', join(a.dir, files.plots, 'scenes.png'))
  const saved = await save(out, sheet.png)
  if (E.isLeft(saved)) return saved
  a.io.out('scenes:')
  for (const t of sheet.texts) a.io.out(`  ${t}`)
  a.io.out('training samples:')
  for (const t of sampleTexts(a.seed)) a.io.out(`  ${t}`)
  a.io.out(`wrote ${out} (${size}x${size} scenes)`)
  return E.right(0)
}
