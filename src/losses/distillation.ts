/**
 * The three stage-1 losses of HaploVL (§3.2), each a mean over tokens (padding is never among them).
 *
 *   L_v    = 1 − (1/N) Σ_i cos(Ĥ_v,i, T_v,i)                          eq. 2   Ĥ_v: vision head output, T_v: teacher patch feature
 *   L_feat = 1 + (1/S) Σ_i ( ‖Ĥ_t,i − T_t,i‖₂ − cos(Ĥ_t,i, T_t,i) )   eq. 3   Ĥ_t: text head output, T_t,i = W[token_i]; the norm is not squared
 *   L_ctp  = CE( exp(s) · Ĥ_t Wᵀ , token )                            eq. 4   the target is the CURRENT token; W frozen; exp(s) ≤ 100
 */
import { ops, type Tensor } from '../../autograd/index.ts'

/** CLIP's ceiling on the logit scale: exp(s) ≤ 100. */
export const maxLogitScale = Math.log(100)

/** pred, target: (N, C) */
export const visionDistillation = (pred: Tensor, target: Tensor): Tensor =>
  ops.scale(ops.mean(ops.cosineSimilarity(pred, target)), -1, 1)

/** pred, target: (S, C) */
export const textFeature = (pred: Tensor, target: Tensor): Tensor =>
  ops.scale(ops.mean(ops.sub(ops.l2Norm(ops.sub(pred, target)), ops.cosineSimilarity(pred, target))), 1, 1)

/** pred: (S, Cllm); table: W (V, Cllm); ids: the S current tokens; logitScale: s, a scalar tensor. */
export function currentToken(pred: Tensor, table: Tensor, ids: readonly number[], logitScale: Tensor): Tensor {
  const scale = ops.exp(ops.clamp(logitScale, -Infinity, maxLogitScale))
  return ops.crossEntropy(ops.mul(ops.matmul(pred, table, { transposeB: true }), scale), ids)
}
