/**
 * A vertical slice of the paper's recipe, from nothing, in about two minutes on two cores:
 * initialise the two parents (a CLIP-style ViT and a Llama-style LLM, untrained here), build HaploVL from them,
 * run stage 1 (modal expansion) and stage 2 (full fine-tuning) on the synthetic world, print one JSON line
 * per step with every loss term, and save the checkpoints under runs/slice/.
 * Run: npx tsx examples/02-haplovl-slice.ts
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Tokenizer from '../src/data/tokenizer.ts'
import * as Language from '../src/data/language.ts'
import * as Key from '../src/random.ts'
import { tiny } from '../src/haplovl/config.ts'
import * as VisionTower from '../src/parents/vision-tower.ts'
import * as Llm from '../src/parents/llm.ts'
import { trainStage1, trainStage2 } from '../src/recipe/stages.ts'
import type { RunContext } from '../src/recipe/run.ts'

const dir = 'runs/slice', seed = 7, stage1Steps = 30, stage2Steps = 30

const tokenizer = Tokenizer.train(Language.corpus(300_000), { vocabSize: tiny.llm.vocab })
const [kv, kl] = Key.split(Key.key(seed), 2)
const parents = { vision: VisionTower.init(kv!, tiny.vision), llm: Llm.init(kl!, tiny.llm) }
const ctx = (steps: number): RunContext => ({
  dir, config: tiny, seed, steps,
  onStep: (r) => console.log(JSON.stringify({ stage: r.stage, step: r.step, loss: +r.loss.toFixed(4), ...(r.terms ?? {}), lr: r.lr, tokensPerSecond: Math.round(r.tokens / r.seconds) })),
})

const s1 = await trainStage1(ctx(stage1Steps), tokenizer, parents)
if (E.isLeft(s1)) throw new Error(s1.left)
const s2 = await trainStage2(ctx(stage2Steps), tokenizer, s1.right.params.model) // the stage-1 heads are dropped
if (E.isLeft(s2)) throw new Error(s2.left)
const mean = (xs: readonly { loss: number }[]) => xs.reduce((s, r) => s + r.loss, 0) / xs.length
for (const [name, r] of [['stage1', s1.right.records], ['stage2', s2.right.records]] as const)
  console.log(`${name}: mean loss of the first 5 steps ${mean(r.slice(0, 5)).toFixed(3)}, of the last 5 ${mean(r.slice(-5)).toFixed(3)}`)
console.log(`checkpoints: ${dir}/stage1.safetensors, ${dir}/stage2.safetensors`)
