/**
 * HaploVL's parameters, either inherited from its two parents ("inherits prior knowledge", §3.1) or drawn
 * from scratch (the paper's ablation without inherited weights).
 *
 * From the ViT: patch embedding, image positions (class slot dropped: the pre-decoder has no class token),
 * pre-LayerNorm and every block. From the LLM: the embedding table W, every block, the final norm, the LM head.
 * New: the text projector (Cllm → Cpre), the connector (Cpre → Cllm) and, when enabled, the newline vector.
 */
import { ops, zeros } from '../../autograd/index.ts'
import * as Linear from '../nn/linear.ts'
import * as VisionTower from '../parents/vision-tower.ts'
import * as Llm from '../parents/llm.ts'
import * as Random from '../random.ts'
import type { Config } from './config.ts'
import type { Params } from './model.ts'

export function fromParents(key: Random.Key, c: Config, vit: VisionTower.Params, llm: Llm.Params): Params {
  const [kProj, kConn] = Random.split(key)
  const p = vit.position.shape[0]!
  return {
    embed: {
      patch: vit.patchEmbed,
      position: ops.slice(vit.position, 0, 1, p),
      ...(c.rowNewline ? { newline: zeros([c.vision.width]) } : {}),
      tokens: llm.embed.weight,
      textProjector: Linear.init(kProj!, { inFeatures: c.llm.width, outFeatures: c.vision.width }),
      preNorm: vit.preNorm,
    },
    preDecoder: vit.blocks,
    connector: Linear.init(kConn!, { inFeatures: c.vision.width, outFeatures: c.llm.width, bias: false }),
    postDecoder: { blocks: llm.blocks, norm: llm.norm, lmHead: llm.lmHead },
  }
}

/** Parents drawn at random, then inherited: the same structure without prior knowledge. */
export function fromScratch(key: Random.Key, c: Config): Params {
  const [kv, kl, k] = Random.split(key, 3)
  return fromParents(k!, c, VisionTower.init(kv!, c.vision), Llm.init(kl!, c.llm))
}
