/**
 * The teacher's zero-shot retention probe (the paper's Table 7): can the teacher's text tower still classify
 * what the pre-decoder makes of an image, after stage 1, and after stage 2?
 *
 * One readout for every row: the mean of an image's patch features, centred (the mean over the probe's images
 * subtracted), through the teacher's post-LayerNorm and projection, normalised, against the teacher's text
 * embeddings of the class prompts (`zeroShot`). The teacher's own embedding reads its class token, which the
 * pre-decoder does not have; the mean over patches is what both have. Uncentred, that mean is nearly the same
 * vector for every image (the tiny teacher's: cosine 0.99 between images), so every image gets the same class;
 * centring keeps what tells images apart. The teacher row is the reference the others can reach. Rows:
 *   teacher                     the teacher ViT's patch features at `teacherLayer` (stage 1's targets)
 *   <model> (vision head)       the model's pre-decoder run on the image alone, its image tokens through the
 *                               stage-1 vision head: what L_v trained to match the teacher row
 *   <model> pre-decoder (direct)  the same pre-decoder outputs without a head: applies to any model (after
 *                               stage 2, or trained without stage 1)
 */
import * as E from 'fp-ts/lib/Either.js'
import { ops, noGrad, type Tensor } from '../../autograd/index.ts'
import * as Scene from '../data/scene.ts'
import type * as Tokenizer from '../data/tokenizer.ts'
import type { Config } from '../haplovl/config.ts'
import type * as Heads from '../haplovl/heads.ts'
import { forward, type Params } from '../haplovl/model.ts'
import { assemble, Kind, positionsOf } from '../haplovl/sequence.ts'
import { normalize } from '../losses/contrastive.ts'
import * as Linear from '../nn/linear.ts'
import * as Norm from '../nn/norm.ts'
import { patchify } from '../parents/patches.ts'
import * as VisionTower from '../parents/vision-tower.ts'
import { zeroShot, type ImageEmbedder, type Teacher, type ZeroShotOptions } from './pretrain.ts'
import { stopHere } from './run.ts'
import { modelSample, specialIds, worldOf, type World } from './world.ts'

/** row → probe → accuracy */
export type Retention = Record<string, Record<string, number>>

/** A model the probe reads, with its stage-1 heads when it still has them. */
export type Probed = { readonly model: Params; readonly heads?: Heads.Params }

/** Single-object held-out scenes classified; the retrieval probes are left out. */
const probe: ZeroShotOptions = { images: 150, retrieval: 0 }
/** Images per forward pass. */
const chunk = 50

/** Unit embeddings of mean patch features (N, C): centred, post-LayerNorm, projection, normalised. */
function readout(teacher: VisionTower.Params, c: Config, means: Tensor): Float32Array[] {
  const centred = ops.sub(means, ops.mean(means, 0, { keepDims: true }))
  const e = normalize(Linear.apply(teacher.projection, Norm.layerNorm(teacher.postNorm, centred, c.vision.eps)))
  const [n, width] = e.shape as [number, number]
  return Array.from({ length: n }, (_, i) => e.data.slice(i * width, (i + 1) * width))
}

/** The embedder reading the patch features (N, P, C) that `features` computes from a chunk of scenes. */
const embedder = (teacher: VisionTower.Params, c: Config, features: (scenes: readonly Scene.Scene[]) => Tensor): ImageEmbedder => (scenes) =>
  noGrad(() => {
    const means: Tensor[] = []
    for (let k = 0; k < scenes.length; k += chunk) means.push(ops.mean(features(scenes.slice(k, k + chunk)), 1))
    return readout(teacher, c, ops.concat(means, 0))
  })

/** The pre-decoder's outputs at the image tokens (N, P, Cpre), each scene alone in its sequence. */
function preDecoderFeatures(model: Params, c: Config, w: World, scenes: readonly Scene.Scene[]): Tensor {
  const batch = assemble(scenes.map((scene) => modelSample(w, [{ kind: 'image', scene }])), c, specialIds(w))
  if (E.isLeft(batch)) throw new Error(batch.left) // one image always fits (validate checks maxTokens)
  const h = ops.reshape(forward(model, c, batch.right, { preDecoderOnly: true }).preHidden, [-1, c.vision.width])
  return ops.reshape(ops.gatherRows(h, positionsOf(batch.right, Kind.patch)), [scenes.length, -1, c.vision.width])
}

/**
 * The probe's rows: the teacher's, then each named model's (through its vision head when it has one, and direct).
 * `onRow` hears each row done; undefined when `shouldStop` (polled between rows) ended it early.
 */
export async function retention(
  teacher: Teacher, tokenizer: Tokenizer.Tokenizer, config: Config, models: Readonly<Record<string, Probed>>,
  o: { readonly shouldStop?: (() => boolean) | undefined; readonly onRow?: (done: number, total: number) => void } = {},
): Promise<Retention | undefined> {
  const c = config, w = worldOf(tokenizer, config)
  const run = (features: (scenes: readonly Scene.Scene[]) => Tensor) => zeroShot(embedder(teacher.vision, c, features), teacher, c, tokenizer, probe)
  const render = (scenes: readonly Scene.Scene[]) => patchify(scenes.map((s) => Scene.render(s, c.vision.imageSize)), c.vision.imageSize, c.vision.patch)
  const total = 1 + Object.values(models).reduce((n, m) => n + (m.heads ? 2 : 1), 0)
  const rows: Retention = {}
  const row = async (name: string, features: (scenes: readonly Scene.Scene[]) => Tensor): Promise<boolean> => {
    if (await stopHere(o.shouldStop)) return false
    rows[name] = run(features)
    o.onRow?.(Object.keys(rows).length, total)
    return true
  }
  if (!(await row('teacher', (scenes) => VisionTower.patchFeatures(teacher.vision, c.vision, render(scenes), c.teacherLayer)))) return undefined
  for (const [name, { model, heads }] of Object.entries(models)) {
    if (heads && !(await row(`${name} (vision head)`, (scenes) => Linear.apply(heads.vision, preDecoderFeatures(model, c, w, scenes))))) return undefined
    if (!(await row(`${name} pre-decoder (direct)`, (scenes) => preDecoderFeatures(model, c, w, scenes)))) return undefined
  }
  return rows
}
