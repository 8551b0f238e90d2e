/**
 * A contact sheet of the synthetic world: scenes at the model's input size, enlarged with nearest-neighbour so
 * every input pixel is a visible block, each captioned with its description and one question and answer.
 * Rows name their split: training scenes, or the fine-grained evaluation split (small objects, borders, corners).
 */
import { ResizeStrategy } from 'jimp'
import * as Scene from '../data/scene.ts'
import * as Language from '../data/language.ts'
import * as Canvas from './canvas.ts'

export interface Sheet {
  /** model input side in pixels */
  readonly size: number
  /** rows of the sheet, top to bottom */
  readonly rows: readonly { readonly split: Scene.Split; readonly from: number }[]
  /** scenes per row (default 4) */
  readonly columns?: number
  /** side of a tile in the sheet (default 256) */
  readonly tile?: number
  /** question category of the captions (default colour) */
  readonly category?: Language.Category
}

/** The caption line of scene `index` of a split: its description, then one question and its answer. */
export function sceneText(split: Scene.Split, index: number, category: Language.Category = 'color'): string {
  const scene = Scene.sceneAt(split, index)
  const qa = Language.ask(scene, category, index, { form: 'open', focus: split === 'fine' ? Language.fineFocus : undefined })
  return `[${split} ${index}] ${Language.caption(scene)}${qa ? ` Q: ${qa.question} A: ${qa.answer}` : ''}`
}

const TEXT_HEIGHT = 190, GAP = 12

/** The sheet as PNG bytes, and the caption of each scene in reading order. */
export async function scenesPng(s: Sheet): Promise<{ readonly png: Buffer; readonly texts: readonly string[] }> {
  const columns = s.columns ?? 4, tile = s.tile ?? 256
  const f = await Canvas.fonts()
  const img = Canvas.blank(columns * (tile + GAP) + GAP, s.rows.length * (tile + TEXT_HEIGHT + GAP) + GAP)
  const texts: string[] = []
  s.rows.forEach(({ split, from }, r) => {
    for (let c = 0; c < columns; c++) {
      const index = from + c
      const x = GAP + c * (tile + GAP), y = GAP + r * (tile + TEXT_HEIGHT + GAP)
      img.composite(Scene.toJimp(Scene.sceneAt(split, index), s.size).resize({ w: tile, h: tile, mode: ResizeStrategy.NEAREST_NEIGHBOR }), x, y)
      const text = sceneText(split, index, s.category)
      Canvas.wrap(f.title, text, tile).slice(0, 10).forEach((line, k) => Canvas.text(img, f.title, x, y + tile + 4 + k * Canvas.lineHeight(f.title), line))
      texts.push(text)
    }
  })
  return { png: await Canvas.toPng(img), texts }
}
