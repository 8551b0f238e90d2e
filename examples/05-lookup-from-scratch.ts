/**
 * How many examples does the left/right lookup take when nothing else has to be learnt, and where must the
 * question stand? Example 04 asks HaploVL "What color is the thing on the left/right?"; this trains the smallest
 * model that can answer it, from scratch, on that question alone, and counts the examples it takes.
 *
 * The model reads a scene as HaploVL does (a linear layer on each 4×4-pixel patch, plus learned positions), then
 * the question's tokens (learned embeddings), two Llama blocks (width 64, 4 heads) and a linear readout of the
 * eight colours at the last position. The mask is HaploVL's: every position sees the earlier ones, and the
 * patches see each other. FORM says where the question stands (`layouts` below): `token` (default) is one token
 * for the side after the image; `words` the question in words after the image and the chat template's two
 * markers, so the side is three tokens before the answering position; `first` the words before the image (the
 * patches can see them); `echo` as words, with the side repeated last, as if the answer began with it. Scenes:
 * two differently coloured objects at least a fifth of the image apart (`sideItem`), fresh training scenes each
 * step, 300 held-out ones. SEED is the initialisation's key (the data are the same for every seed).
 *
 * Measured on a 2-core AMD EPYC, lr 1e-3, answers to the 300 held-out scenes as asked / other:
 *   token, batch 32 (~0.8 s a step): 165/128 after 6,400 examples, 186/111 after 9,600, 250/48 after 12,800,
 *          279/20 after 16,000, 287/12 after 25,600 (11 minutes);
 *   token, batch 8 (~0.22 s a step): 197/97 after 6,400, 269/27 after 9,600, 289/11 after 12,800;
 *   at batch 8, 19,200 examples (2400 steps, ~10 minutes each), seeds 7 and 1:
 *     token 290/9 and 292/6; echo 289/10 and 292/8 (273/24 and 275/25 after 9,600);
 *     words 170/130 and 156/144; first 158/142 and 154/146 (loss ~0.81; a coin toss between the two colours
 *     costs 0.69).
 * The lookup starts after some 5–10k examples when the answering position holds the side, and not within
 * 19,200 when it must first fetch the side from a word elsewhere: two attention hops in sequence, presumably
 * each useless until the other exists. HaploVL's stage 2 holds ~7,000 colour answers and ~370 of each other
 * kind (280 steps), and example 04's lesson stood at 49 against 31 of 80 after ~18,000.
 *
 * Run: npx tsx examples/05-lookup-from-scratch.ts [STEPS (800)] [LR (1e-3)] [BATCH (32)] [FORM (token)] [SEED (7)]
 */
import { Tensor, noGrad, ops, valueAndGrad } from '../autograd/index.ts'
import * as Random from '../src/data/random.ts'
import { mixedMask } from '../src/haplovl/mask.ts'
import * as Scene from '../src/data/scene.ts'
import * as Block from '../src/nn/llama-block.ts'
import * as Linear from '../src/nn/linear.ts'
import * as Norm from '../src/nn/norm.ts'
import * as AdamW from '../src/optim/adamw.ts'
import { warmupCosine } from '../src/optim/schedule.ts'
import { patchify } from '../src/parents/patches.ts'
import * as Key from '../src/random.ts'
import { type LookupItem, sideItem } from '../src/recipe/evaluate.ts'

/** Where the question stands: its words before and after the image ('SIDE' is "left" or "right"). */
const question = ['What', 'color', 'is', 'the', 'thing', 'on', 'the', 'SIDE', '?'], markers = ['<|end|>', '<|assistant|>']
const layouts: Record<string, { readonly before: readonly string[]; readonly after: readonly string[] }> = {
  token: { before: [], after: ['SIDE'] }, // one token, the side, answers
  words: { before: [], after: [...question, ...markers] }, // the side is a word three tokens before the answer
  first: { before: question, after: markers }, // the patches can read the question
  echo: { before: [], after: [...question, ...markers, 'SIDE'] }, // the answer starts by repeating the side
}
const vocab = ['left', 'right', ...new Set([...question, ...markers].filter((w) => w !== 'SIDE'))] // ids 0 and 1 are the sides
const idsOf = (words: readonly string[], side: number) => words.map((w) => (w === 'SIDE' ? side : vocab.indexOf(w)))

const [stepsText = '800', lrText = '1e-3', batchText = '32', form = 'token', seedText = '7'] = process.argv.slice(2)
const steps = Number(stepsText), peak = Number(lrText), batch = Number(batchText), seed = Number(seedText), warmup = 20, held = 300
if (!(Number.isInteger(steps) && steps > 0 && peak > 0 && Number.isInteger(batch) && batch > 0 && Object.hasOwn(layouts, form) && Number.isInteger(seed))) {
  console.error(`usage: 05-lookup-from-scratch.ts [STEPS > 0] [LR > 0] [BATCH > 0] [${Object.keys(layouts).join('|')}] [SEED], got ${process.argv.slice(2).join(' ')}`)
  process.exit(2)
}

const size = 32, k = 4, patches = (size / k) ** 2, pixels = 3 * k * k, width = 64
const layout = layouts[form]!, before = layout.before.length, t = before + patches + layout.after.length
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

const keys = Key.split(Key.key(seed), 6)
const init = {
  patch: Linear.init(keys[0]!, { inFeatures: pixels, outFeatures: width }),
  position: Key.normal(keys[1]!, [patches, width], 0.02),
  words: Key.normal(keys[2]!, [vocab.length, width], 0.02), // the question's token embeddings: row 0 "left", row 1 "right"
  blocks: [Block.init(keys[3]!, block), Block.init(keys[4]!, block)],
  norm: Norm.initRmsNorm(width),
  readout: Linear.init(keys[5]!, { inFeatures: width, outFeatures: Scene.COLORS.length }),
}
type Params = typeof init

// HaploVL's mask: every position sees the earlier ones, and the patches see each other
const imageOf = Array.from({ length: t }, (_, i) => (i >= before && i < before + patches ? 0 : -1))
const mask = new Tensor(mixedMask(imageOf, new Array<boolean>(t).fill(false)), [t, t])
const positions = Array.from({ length: t }, (_, i) => i)

/** Colour logits (N, 8) at the last position. */
function logits(p: Params, examples: readonly Example[]): Tensor {
  const n = examples.length, rows = new Float32Array(n * patches * pixels)
  examples.forEach((e, i) => rows.set(e.patches, i * patches * pixels))
  const image = ops.add(Linear.apply(p.patch, new Tensor(rows, [n, patches, pixels])), p.position) // (N, P, C)
  const text = (words: readonly string[]) => ops.reshape(ops.gatherRows(p.words, examples.flatMap((e) => idsOf(words, e.side))), [n, words.length, width])
  let h = ops.concat([...(before > 0 ? [text(layout.before)] : []), image, text(layout.after)], 1) // (N, T, C)
  for (const b of p.blocks) h = Block.apply(b, block, h, { mask, positions }).out
  return Linear.apply(p.readout, Norm.rmsNorm(p.norm, ops.reshape(ops.slice(h, 1, t - 1, t), [n, width]), block.eps))
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
