/**
 * The training objectives of the two stages, as functions of parameters for `valueAndGrad`.
 *
 * Stage 1 (modal expansion, Fig. 3a): only the embedding layers and the pre-decoder run. Image tokens of the
 * pre-decoder's output H_m go through the vision head and are distilled towards the frozen teacher ViT's patch
 * features (L_v); text tokens go through the text head towards the frozen LLM embedding W of the same token
 * (L_feat) and classify that token against W with a learnable temperature (L_ctp). L = L_v + L_feat + L_ctp.
 * Stage 2 (and the connector-only alignment step): next-token prediction on answer tokens through the whole stack.
 */
import { ops, stopGradient, type Tensor, type WithAux } from '../../autograd/index.ts'
import * as Linear from '../nn/linear.ts'
import * as VisionTower from '../parents/vision-tower.ts'
import { patchify } from '../parents/patches.ts'
import { visionDistillation, textFeature, currentToken } from '../losses/distillation.ts'
import { nextToken } from '../losses/next-token.ts'
import type { Config } from './config.ts'
import type * as Heads from './heads.ts'
import { type Params, forward } from './model.ts'
import { type Batch, Kind, positionsOf } from './sequence.ts'

export type Stage1Params = {
  readonly model: Params
  readonly heads: Heads.Params
}

export interface Stage1Terms {
  readonly vision: number
  readonly feature: number
  readonly currentToken: number
}

/** The teacher's patch features for every image of the batch, in the batch's image order: (Nimg·P, Cteacher). */
export function teacherTargets(teacher: VisionTower.Params, c: Config, batch: Batch): Tensor | null {
  if (batch.images.length === 0) return null
  const features = VisionTower.patchFeatures(teacher, c.vision, patchify(batch.images, c.vision.imageSize, c.vision.patch), c.teacherLayer)
  return ops.reshape(features, [-1, c.vision.width])
}

export function stage1Loss(p: Stage1Params, c: Config, batch: Batch, teacher: Tensor | null): WithAux<Stage1Terms> {
  const h = ops.reshape(forward(p.model, c, batch, { preDecoderOnly: true }).preHidden, [-1, c.vision.width]) // (B·T, Cpre)
  const terms: Tensor[] = []
  // image tokens: patch positions in sequence order = image by image, raster order (the teacher's order)
  const patchRows = positionsOf(batch, Kind.patch)
  const vision = teacher && patchRows.length > 0 ? visionDistillation(Linear.apply(p.heads.vision, ops.gatherRows(h, patchRows)), teacher) : null
  if (vision) terms.push(vision)
  // text tokens: the current token's W row is both the feature target and the class
  const textRows = positionsOf(batch, Kind.text)
  let feature: Tensor | null = null, ctp: Tensor | null = null
  if (textRows.length > 0) {
    const ids = textRows.map((i) => batch.ids[i]!)
    const table = stopGradient(p.model.embed.tokens) // W is frozen (App. A)
    const predicted = Linear.apply(p.heads.text, ops.gatherRows(h, textRows)) // (S, Cllm)
    feature = textFeature(predicted, ops.gatherRows(table, ids))
    ctp = currentToken(predicted, table, ids, p.heads.logitScale)
    terms.push(feature, ctp)
  }
  if (terms.length === 0) throw new Error('stage1Loss: the batch holds neither image nor text tokens')
  const loss = terms.reduce((a, b) => ops.add(a, b))
  return { loss, aux: { vision: vision?.item() ?? 0, feature: feature?.item() ?? 0, currentToken: ctp?.item() ?? 0 } }
}

/** Next-token prediction on the batch's answer tokens through the whole stack. */
export function stage2Loss(p: Params, c: Config, batch: Batch): Tensor {
  return nextToken(forward(p, c, batch).logits!, batch.targets)
}
