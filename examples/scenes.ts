/**
 * A look at the synthetic world: a grid of scenes at the model's input size, enlarged with nearest-neighbour
 * so every input pixel is a visible block, each with its caption and one fine-grained question.
 * Top rows: training scenes; bottom rows: the fine-grained evaluation split (small objects, borders, corners).
 * Run: npx tsx examples/scenes.ts   → runs/scenes.png
 */
import { mkdir } from 'node:fs/promises'
import { Jimp, ResizeStrategy, loadFont } from 'jimp'
import { SANS_16_BLACK } from 'jimp/fonts'
import * as Scene from '../src/data/scene.ts'
import * as Language from '../src/data/language.ts'

const size = 32 // model input side, pixels
const zoom = 8 // each input pixel becomes zoom×zoom
const columns = 4, trainRows = 2, fineRows = 2
const textHeight = 190, gap = 12
const out = 'runs/scenes.png'

const tile = size * zoom
const rows = trainRows + fineRows
const grid = new Jimp({ width: columns * (tile + gap) + gap, height: rows * (tile + textHeight + gap) + gap, color: 0xffffffff })
const font = await loadFont(SANS_16_BLACK)

for (let r = 0; r < rows; r++)
  for (let c = 0; c < columns; c++) {
    const split = r < trainRows ? 'train' : 'fine'
    const index = r < trainRows ? r * columns + c : (r - trainRows) * columns + c
    const scene = Scene.sceneAt(split, index)
    const qa = Language.ask(scene, 'color', index, { form: 'open', focus: split === 'fine' ? Language.fineFocus : undefined })
    const x = gap + c * (tile + gap), y = gap + r * (tile + textHeight + gap)
    grid.composite(Scene.toJimp(scene, size).resize({ w: tile, h: tile, mode: ResizeStrategy.NEAREST_NEIGHBOR }), x, y)
    const text = `[${split} ${index}] ${Language.caption(scene)}${qa ? ` Q: ${qa.question} A: ${qa.answer}` : ''}`
    grid.print({ font, x, y: y + tile + 4, text, maxWidth: tile })
    console.log(text)
  }

await mkdir('runs', { recursive: true })
await grid.write(out as `${string}.png`)
console.log(`wrote ${out}`)
