/**
 * A look at the synthetic world: a grid of scenes at the model's input size, enlarged so every input pixel is a
 * visible block, each with its caption and one fine-grained question.
 * Top rows: training scenes; bottom rows: the fine-grained evaluation split (small objects, borders, corners).
 * Run: npx tsx examples/scenes.ts   → runs/scenes.png   (the CLI's `haplovl data` draws the same sheet)
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { scenesPng } from '../src/plot/scenes.ts'

const size = 32 // model input side, pixels
const tile = 256 // each input pixel becomes 8×8
const out = 'runs/scenes.png'

const { png, texts } = await scenesPng({
  size, tile, columns: 4,
  rows: [{ split: 'train', from: 0 }, { split: 'train', from: 4 }, { split: 'fine', from: 0 }, { split: 'fine', from: 4 }],
})
for (const t of texts) console.log(t)
await mkdir('runs', { recursive: true })
await writeFile(out, png)
console.log(`wrote ${out}`)
