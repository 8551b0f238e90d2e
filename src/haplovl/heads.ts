/**
 * Stage-1 heads (DESIGN §6), trained with the pre-decoder and dropped afterwards:
 *   vision head  Linear(Cpre → Cteacher): predicts the teacher ViT's patch feature at each image token
 *   text head    Linear(Cpre → Cllm):     predicts the LLM's input embedding W[token] at each text token
 *   logit scale  s, a scalar; the current-token logits are multiplied by exp(s), clamped at 100 (CLIP's rule),
 *                initialised to ln(1/0.07).
 */
import { Tensor } from '../../autograd/index.ts'
import * as Linear from '../nn/linear.ts'
import * as Random from '../random.ts'
import type { Config } from './config.ts'

export type Params = {
  readonly vision: Linear.Params // [Cteacher, Cpre]
  readonly text: Linear.Params // [Cllm, Cpre]
  readonly logitScale: Tensor // []
}

export const initialLogitScale = Math.log(1 / 0.07)

export function init(key: Random.Key, c: Config): Params {
  const [kv, kt] = Random.split(key)
  return {
    vision: Linear.init(kv!, { inFeatures: c.vision.width, outFeatures: c.vision.width }),
    text: Linear.init(kt!, { inFeatures: c.vision.width, outFeatures: c.llm.width }),
    logitScale: new Tensor(Float32Array.of(initialLogitScale), []),
  }
}
