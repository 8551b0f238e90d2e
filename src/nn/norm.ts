/**
 * Normalisation over the last axis, with learned gains (initialised to 1) and, for LayerNorm, offsets (0).
 *   LayerNorm: y = (x − mean) / √(var + eps) · w + b          (CLIP, the ViT blocks)
 *   RMSNorm:   y = x / √(mean(x²) + eps) · w                  (Llama, the LLM blocks)
 */
import { ops, full, zeros, type Tensor } from '../../autograd/index.ts'

export type LayerNormParams = {
  readonly weight: Tensor // [C]
  readonly bias: Tensor // [C]
}

export type RmsNormParams = {
  readonly weight: Tensor // [C]
}

export const initLayerNorm = (width: number): LayerNormParams => ({ weight: full([width], 1), bias: zeros([width]) })
export const initRmsNorm = (width: number): RmsNormParams => ({ weight: full([width], 1) })

export const layerNorm = (p: LayerNormParams, x: Tensor, eps: number): Tensor => ops.layerNorm(x, p.weight, p.bias, eps)
export const rmsNorm = (p: RmsNormParams, x: Tensor, eps: number): Tensor => ops.rmsNorm(x, p.weight, eps)
