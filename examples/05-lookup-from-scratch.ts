/**
 * How many examples does the left/right lookup take when nothing else has to be learnt? Example 04 asks HaploVL
 * "What color is the thing on the left/right?"; this trains the smallest model that can answer it, from scratch,
 * on that question alone, and counts the examples it takes.
 *
 * The model reads a scene as HaploVL does (a linear layer on each 4×4-pixel patch, plus learned positions), then
 * one token that says left or right, two Llama blocks (width 64, 4 heads) and a linear readout of the eight
 * colours at that token. The mask is HaploVL's with the question after the image: patches attend to each other,
 * not to the question; the question token attends to everything. Scenes: two differently coloured objects at
 * least a fifth of the image apart (`sideItem`), fresh training scenes each step, 300 held-out ones.
 *
 * Measured on a 2-core AMD EPYC, lr 1e-3, answers to the 300 held-out scenes as asked / other (of 300):
 *   batch 32 (~0.8 s a step): 165/128 after 6,400 examples, 186/111 after 9,600, 250/48 after 12,800,
 *            279/20 after 16,000, 287/12 after 25,600 (11 minutes);
 *   batch 8 (~0.22 s a step): 197/97 after 6,400, 269/27 after 9,600, 289/11 after 12,800 (6 minutes).
 * The lookup starts after some 5–10k examples and is learnt by ~13k. HaploVL's stage 2 holds ~7,000 colour
 * answers and ~370 of each other kind (280 steps), and example 04's lesson stood at 49 against 31 of 80 after ~18,000.
 *
 * Run: npx tsx examples/05-lookup-from-scratch.ts [STEPS (default 800)] [LR (default 1e-3)] [BATCH (default 32)]
 */
import { Tensor, noGrad, ops, valueAndGrad } from '../autograd/index.ts'
import * as Random from '../src/data/random.ts'
import * as Scene from '../src/data/scene.ts'
import * as Block from '../src/nn/llama-block.ts'
import * as Linear from '../src/nn/linear.ts'
import * as Norm from '../src/nn/norm.ts'
import * as AdamW from '../src/optim/adamw.ts'
import { warmupCosine } from '../src/optim/schedule.ts'
import { patchify } from '../src/parents/patches.ts'
import * as Key from '../src/random.ts'
import { type LookupItem, sideItem } from '../src/recipe/evaluate.ts'

const [stepsText = '800', lrText = '1e-3', batchText = '32'] = process.argv.slice(2)
const steps = Number(stepsText), peak = Number(lrText), batch = Number(batchText), warmup = 20, held = 300
if (!(Number.isInteger(steps) && steps > 0 && peak > 0 && Number.isInteger(batch) && batch > 0)) {
  console.error(`usage: 05-lookup-from-scratch.ts [STEPS > 0] [LR > 0] [BATCH > 0], got ${stepsText} ${lrText} ${batchText}`)
  process.exit(2)
}

const size = 32, k = 4, patches = (size / k) ** 2, pixels = 3 * k * k, width = 64, t = patches + 1
const block: Block.Config = { width, heads: 4, kvHeads: 4, mlpWidth: 172, ropeTheta: 10000, eps: 1e-5 }

/** A question about one scene: its patch rows, which side is asked (0 left, 1 right), the colour to answer. */
interface Example { readonly patches: Float32Array; readonly side: number; readonly colour: number }
const exampleOf = (q: LookupItem, side: number): Example =>
  ({ patches: patchify([Scene.render(q.scene, size)], size, k).data, side, colour: Scene.COLORS.indexOf(q.asked as Scene.Color) })

/** Training example i: the first qualifying training scene from i's hash on, asked about a side drawn from i. */
const training = (i: number): Example => {
  const side = Random.hash(51, i) & 1
  for (let j = 0; ; j++) {
    const q = sideItem(Scene.sceneAt('train', Random.hash(52, i, j) & (2 ** 29 - 1)), side === 0)
    if (q) return exampleOf(q, side)
  }
}
const heldOut: { readonly example: Example; readonly other: number }[] = []
for (let i = 0; heldOut.length < held; i++) {
  const side = i % 2, q = sideItem(Scene.sceneAt('eval', i), side === 0)
  if (q) heldOut.push({ example: exampleOf(q, side), other: Scene.COLORS.indexOf(q.other as Scene.Color) })
}

const keys = Key.split(Key.key(7), 6)
const init = {
  patch: Linear.init(keys[0]!, { inFeatures: pixels, outFeatures: width }),
  position: Key.normal(keys[1]!, [patches, width], 0.02),
  side: Key.normal(keys[2]!, [2, width], 0.02), // the question token: row 0 "left", row 1 "right"
  blocks: [Block.init(keys[3]!, block), Block.init(keys[4]!, block)],
  norm: Norm.initRmsNorm(width),
  readout: Linear.init(keys[5]!, { inFeatures: width, outFeatures: Scene.COLORS.length }),
}
type Params = typeof init

// mask[i][j] = 0 where position i may attend position j: patches see patches, the question (last) sees all
const mask = new Tensor(Float32Array.from({ length: t * t }, (_, ij) => (Math.floor(ij / t) < patches && ij % t === patches ? -Infinity : 0)), [t, t])
const positions = Array.from({ length: t }, (_, i) => i)

/** Colour logits (N, 8) at the question token. */
function logits(p: Params, examples: readonly Example[]): Tensor {
  const n = examples.length, rows = new Float32Array(n * patches * pixels)
  examples.forEach((e, i) => rows.set(e.patches, i * patches * pixels))
  const image = ops.add(Linear.apply(p.patch, new Tensor(rows, [n, patches, pixels])), p.position) // (N, P, C)
  const question = ops.reshape(ops.gatherRows(p.side, examples.map((e) => e.side)), [n, 1, width]) // (N, 1, C)
  let h = ops.concat([image, question], 1) // (N, P + 1, C)
  for (const b of p.blocks) h = Block.apply(b, block, h, { mask, positions }).out
  return Linear.apply(p.readout, Norm.rmsNorm(p.norm, ops.reshape(ops.slice(h, 1, patches, t), [n, width]), block.eps))
}

const step = valueAndGrad((p: Params, examples: readonly Example[]) => ops.crossEntropy(logits(p, examples), examples.map((e) => e.colour)))

/** Held-out answers: the asked colour, the other object's, or neither. */
function readout(p: Params): string {
  const counts = { asked: 0, other: 0, neither: 0 }
  for (let s = 0; s < held; s += 50) {
    const part = heldOut.slice(s, s + 50), z = noGrad(() => logits(p, part.map((h) => h.example))).data
    part.forEach((h, i) => {
      const colours = Scene.COLORS.length, row = Array.from(z.subarray(i * colours, (i + 1) * colours)), said = row.indexOf(Math.max(...row))
      counts[said === h.example.colour ? 'asked' : said === h.other ? 'other' : 'neither']++
    })
  }
  return `asked ${counts.asked}, other ${counts.other}, neither ${counts.neither} of ${held}`
}

// a line every 3200 examples
const every = Math.max(1, Math.round(3200 / batch))
// the rate rises linearly to `peak` over the first `warmup` steps (step s trains at lr(s + 1)), then stays there
const lr = warmupCosine({ peak, warmupSteps: warmup, totalSteps: warmup, floor: peak })
let params = init, state = AdamW.init(init), sum = 0
const started = performance.now()
for (let s = 0; s < steps; s++) {
  const { value, grads } = step(params, Array.from({ length: batch }, (_, j) => training(s * batch + j)))
  ;({ params, state } = AdamW.update(params, grads, state, { lr: lr(s + 1), beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 }))
  sum += value
  if ((s + 1) % every === 0 || s === steps - 1) {
    const seen = (s + 1) * batch, seconds = (performance.now() - started) / 1000
    console.log(`step ${s + 1} (${seen} examples) loss ${(sum / ((s % every) + 1)).toFixed(3)}, held out: ${readout(params)} (${seconds.toFixed(0)} s)`)
    sum = 0
  }
}
