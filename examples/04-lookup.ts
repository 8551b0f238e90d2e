/**
 * Can HaploVL learn to find the object a question names? Fine-tune a run's aligned model on one question alone —
 * "What color is the thing on the left?" (or right) about scenes of two differently coloured objects at least a
 * fifth of the image apart — and ask 80 held-out scenes. Reading a colour is learnt in ~150 steps (example 03);
 * this needs the answer position to attend to the named side's patches and copy their colour.
 *
 * One question per image, so the second answer of a scene cannot be had by elimination; batch 16 unless given,
 * 10% captions (to keep the model talking), peak learning rate 1e-3 after 20 warm-up steps and constant after,
 * so a run of 1000 steps equals a run of 500 resumed to 1000. The checkpoint (RUN_DIR/lookup.safetensors, every
 * 50 steps) resumes; the step log goes to RUN_DIR/lookup.jsonl (with -echo, -bN, -post and -shape in both names
 * for the other forms, batches, `post` and `shape`). Reported:
 *   - greedy answers: the asked object's colour (target), the other's (other), or neither;
 *   - the teacher-forced margin: summed NLL of answering the other colour minus that of the asked one,
 *     mean ± standard error over the scenes (0 when the model cannot tell the sides apart).
 * Measured at tiny, from the aligned model of a `haplovl pipeline` run (the one that rebuilt the shipped model), on
 * a 2-core AMD EPYC at ~6 s a step: after 500 steps target 31, other 49, neither 0, margin −0.24 ± 0.12; after
 * 1000 steps (run as `… 500` then `… 1000`), 40, 40, 0 and +0.00 ± 0.09; after 1250, 49, 31, 0 and +0.09 ± 0.08.
 * The loss levels off near 0.43 from step 400.
 *
 * With `echo` the answer names the side first ("left red"), so the colour is predicted at the side's own token,
 * the form that lets example 05's reader learn the lookup as fast as from a side token. Here it did not help:
 * after 300 steps 40, 33, 7 and +0.15 ± 0.16; after 600, 44, 36, 0 and +0.12 ± 0.12 (checkpoint lookup-echo.*).
 * Nor did batch 8 (twice the steps for the same examples): after 1200 steps, plain 42, 38, 0 and +0.05 ± 0.10,
 * echo 36, 43, 1 and +0.01 ± 0.14; echo after 2400 steps, 40, 40, 0 and +0.03 ± 0.14.
 *
 * With `post` only the connector and the post-decoder learn; the patch embedding, the text projector, W and the
 * pre-decoder stay as aligned. Then the echo lesson learns the lookup: batch 8, after 1200 steps, 70, 8, 2 and
 * +4.21 ± 0.34 (`… 04-lookup.ts RUN 1200 echo 8 post`, 2-core AMD EPYC, ~2.5 s a step beside another run);
 * after 600 steps 51, 23, 6 and +0.96 ± 0.28. The plain lesson with `post` stays at chance: 46, 31, 3 and +0.36 ± 0.16
 * after 600 steps, 43, 36, 1 and −0.07 ± 0.11 after 1200. The lookup forms only with the echo and `post` together.
 *
 * With `shape` the question names the object by its shape instead, as `haplovl eval`'s lookup readout asks
 * ("What color is the large triangle?", echoed as "large triangle red"), and the held-out scenes are the
 * readout's 80. Echo, batch 8, `post`: after 1200 steps 50, 29, 1 and +0.57 ± 0.16; after 2400, 68, 11, 1 and
 * +2.67 ± 0.29. By shape the lookup forms too, in about twice the steps it takes by place; with every part
 * learning (`all`) it stayed at chance, 42, 37, 1 and +0.14 ± 0.11 after 1200.
 *
 * Run: npx tsx examples/04-lookup.ts [RUN_DIR (default runs/tiny)] [STEPS (default 500)] [plain|echo (default plain)]
 *        [BATCH (default 16)] [all|post (default all)] [place|shape (default place)]
 */
import * as E from 'fp-ts/lib/Either.js'
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { noGrad } from '../autograd/index.ts'
import * as Language from '../src/data/language.ts'
import * as Random from '../src/data/random.ts'
import * as Scene from '../src/data/scene.ts'
import * as Tokenizer from '../src/data/tokenizer.ts'
import { tiny } from '../src/haplovl/config.ts'
import { decoder } from '../src/haplovl/generate.ts'
import { fromScratch } from '../src/haplovl/init.ts'
import * as Names from '../src/haplovl/names.ts'
import { stage2Loss } from '../src/haplovl/objectives.ts'
import * as Presets from '../src/optim/presets.ts'
import { warmupCosine } from '../src/optim/schedule.ts'
import * as Key from '../src/random.ts'
import { type LookupItem, lookupItems, lookupReadout, shapeItem, sideItem } from '../src/recipe/evaluate.ts'
import { loadModel, partsLoss } from '../src/recipe/stages.ts'
import { batchOf, partsOf, specialIds, tokensIn, worldOf } from '../src/recipe/world.ts'
import { runStage } from '../src/train/loop.ts'

const [dir = 'runs/tiny', stepsText = '500', form = 'plain', batchText = '16', learns = 'all', by = 'place'] = process.argv.slice(2)
const steps = Number(stepsText), batch = Number(batchText), peak = 1e-3, warmup = 20, held = 80
if ((form !== 'plain' && form !== 'echo') || !(Number.isInteger(batch) && batch > 0) || (learns !== 'all' && learns !== 'post') || (by !== 'place' && by !== 'shape')) {
  console.error('usage: 04-lookup.ts [RUN_DIR] [STEPS] [plain|echo] [BATCH] [all|post] [place|shape]')
  process.exit(2)
}
/** Training sample i's question about the k-th scene it tries: by place (`sideItem`), or by shape (`shapeItem`, as the evaluation's readout asks). */
const itemOf = (scene: Scene.Scene, i: number, k: number): LookupItem | undefined =>
  by === 'place' ? sideItem(scene, Random.hash(43, i) % 2 === 1) : shapeItem(scene, Random.hash(43, i, k))
/** What a question names: the side ("left"), or the object ("large triangle" of "What color is the large triangle?"). */
const subject = (q: LookupItem): string => (by === 'place' ? (q.question.includes('left') ? 'left' : 'right') : /is the (.+)\?$/.exec(q.question)![1]!)
/** What the assistant says: the colour, or (echo) what the question names and then the colour, so the colour is predicted at the named thing's own tokens. */
const said = (q: LookupItem, colour: string): string => (form === 'echo' ? `${subject(q)} ${colour}` : colour)

const tokenizer = await Tokenizer.load(join(dir, 'tokenizer.json'))()
if (E.isLeft(tokenizer)) throw new Error(tokenizer.left)
const initial = await loadModel({ dir, config: tiny, seed: 0 }, 'align', fromScratch(Key.key(0), tiny))
if (E.isLeft(initial)) throw new Error(initial.left)
const w = worldOf(tokenizer.right, tiny)

const chat = (q: LookupItem, said: string): Language.Segment[] => Tokenizer.renderChat<Language.SceneImage>([
  { role: 'user', content: [{ kind: 'image', scene: q.scene }, q.question] }, { role: 'assistant', content: [said] },
])

/** Training sample `i`: a caption one time in ten, else the first qualifying training scene from i's hash on. */
const sample = (i: number): Language.Sample => {
  if (Random.stream(Random.hash(41, i)).chance(0.1)) return Language.captionSample(i)
  for (let k = 0; ; k++) {
    const scene = Scene.sceneAt('train', Random.hash(42, i, k) & (2 ** 29 - 1))
    const q = itemOf(scene, i, k)
    if (q) return { kind: 'instruction', segments: chat(q, said(q, q.asked)) }
  }
}

// one checkpoint per form, batch and trained part, so different runs never resume each other
const name = [form === 'echo' ? 'lookup-echo' : 'lookup', batch === 16 ? '' : `-b${batch}`, learns === 'post' ? '-post' : '', by === 'shape' ? '-shape' : ''].join('')
const checkpoint = join(dir, `${name}.safetensors`)
// stage 2's AdamW settings; the rate rises linearly for `warmup` steps, then stays at `peak`
const stage2 = Presets.hyperAt(Presets.stage2), lr = warmupCosine({ peak, warmupSteps: warmup, totalSteps: warmup, floor: peak })
const tuned = await runStage({
  name: 'lookup', steps, trainable: learns === 'post' ? Presets.only(['connector', 'postDecoder']) : () => true, clipNorm: 1,
  hyper: (s) => ({ ...stage2(s), lr: lr(s) }),
  batchAt: (s) => {
    const parts = partsOf(w, Array.from({ length: batch }, (_, j) => sample(s * batch + j)), 2)
    if (E.isLeft(parts)) throw new Error(parts.left)
    return parts.right
  },
  tokensOf: (parts) => parts.reduce((n, b) => n + tokensIn(b), 0),
  loss: (p, parts) => partsLoss((b) => stage2Loss(p, tiny, b), parts),
  checkpoint: { path: checkpoint, every: 50, names: Names.haplovl, metadata: { config: tiny, seed: 0 } },
  onStep: (r) => {
    appendFileSync(join(dir, `${name}.jsonl`), `${JSON.stringify(r)}\n`)
    if (r.step % 25 === 0 || r.step === steps - 1) console.log(`step ${r.step} loss ${r.loss.toFixed(3)} (${r.seconds.toFixed(1)} s)`)
  },
}, initial.right)
if (E.isLeft(tuned)) throw new Error(tuned.left)
const model = tuned.right.params, answerer = decoder(model, tiny, specialIds(w))

/** Summed NLL of the assistant saying `said` (its tokens and the end of turn), teacher-forced. */
const nll = (q: LookupItem, colour: string): number => noGrad(() => {
  const b = batchOf(w, [{ kind: 'instruction', segments: chat(q, said(q, colour)) }])
  if (E.isLeft(b)) throw new Error(b.left)
  return stage2Loss(model, tiny, b.right).item() * b.right.targets.filter((t) => t >= 0).length
})

/** The held-out questions: the readout's own (by shape), or the first that held-out scenes allow by place, left and right in turn. */
const heldOut = (): LookupItem[] => {
  if (by === 'shape') return lookupItems(held)
  const items: LookupItem[] = []
  for (let i = 0; items.length < held; i++) {
    const q = sideItem(Scene.sceneAt('eval', i), i % 2 === 1)
    if (q) items.push(q)
  }
  return items
}
const items = heldOut()
const readout = await lookupReadout(answerer, w, items)
if (E.isLeft(readout)) throw new Error(readout.left)
const tally = readout.right! // defined: nothing asks the readout to stop
const margins = items.map((q) => nll(q, q.other) - nll(q, q.asked))
const mean = margins.reduce((a, b) => a + b, 0) / held
const se = Math.sqrt(margins.reduce((a, m) => a + (m - mean) ** 2, 0) / (held - 1) / held)
console.log(`after ${steps} steps, ${held} held-out scenes: target ${tally.target}, other ${tally.other}, neither ${tally.neither}`)
console.log(`margin NLL(other) − NLL(asked): ${mean.toFixed(3)} ± ${se.toFixed(3)} nats (positive in ${margins.filter((m) => m > 0).length})`)
