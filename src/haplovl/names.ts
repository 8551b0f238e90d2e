/**
 * Checkpoint tensor names, following Hugging Face conventions so a PyTorch user recognises every tensor:
 * CLIP's vision-tower names for the ViT parts (pre-decoder, teacher), Llama's for the LLM parts (post-decoder).
 * Linear weights are stored [out, in] as PyTorch stores them. The patch embedding is stored [C, 3·k·k]: reshape
 * it to (C, 3, k, k) for a Conv2d (the flattening is channel-major, the Conv2d weight order).
 *
 * A name is the tree path (e.g. `preDecoder.0.attn.q.weight`) rewritten by a list of rules, in order.
 */
type Rule = readonly [RegExp, string]

const rewrite = (rules: readonly Rule[]) => (path: string): string => rules.reduce((name, [from, to]) => name.replace(from, to), path)

/** Inside a CLIP encoder layer. */
const clipLayer: readonly Rule[] = [
  [/\.ln1\./, '.layer_norm1.'], [/\.ln2\./, '.layer_norm2.'],
  [/\.attn\.q\./, '.self_attn.q_proj.'], [/\.attn\.k\./, '.self_attn.k_proj.'], [/\.attn\.v\./, '.self_attn.v_proj.'], [/\.attn\.o\./, '.self_attn.out_proj.'],
]

/** Inside a Llama decoder layer. */
const llamaLayer: readonly Rule[] = [
  [/\.norm1\./, '.input_layernorm.'], [/\.norm2\./, '.post_attention_layernorm.'],
  [/\.attn\.q\./, '.self_attn.q_proj.'], [/\.attn\.k\./, '.self_attn.k_proj.'], [/\.attn\.v\./, '.self_attn.v_proj.'], [/\.attn\.o\./, '.self_attn.o_proj.'],
  [/\.mlp\.gate\./, '.mlp.gate_proj.'], [/\.mlp\.up\./, '.mlp.up_proj.'], [/\.mlp\.down\./, '.mlp.down_proj.'],
]

const llmDecoder = (prefix: string): readonly Rule[] => [
  [new RegExp(`^${prefix}blocks\\.(\\d+)\\.`), 'model.layers.$1.'], ...llamaLayer,
  [new RegExp(`^${prefix}norm\\.weight$`), 'model.norm.weight'],
  [new RegExp(`^${prefix}lmHead\\.`), 'lm_head.'],
]

/** HaploVL (and its stage-1 heads under `heads.`, when saved beside it). */
export const haplovl = rewrite([
  [/^model\./, ''],
  [/^embed\.patch\.weight$/, 'model.embeddings.patch_embedding.weight'],
  [/^embed\.position$/, 'model.embeddings.position_embedding.weight'],
  [/^embed\.newline$/, 'model.embeddings.image_newline'],
  [/^embed\.tokens$/, 'model.embed_tokens.weight'],
  [/^embed\.textProjector\./, 'model.text_projector.'],
  [/^embed\.preNorm\./, 'model.pre_layrnorm.'], // sic: CLIP's spelling
  [/^preDecoder\.(\d+)\./, 'model.pre_decoder.layers.$1.'], ...clipLayer,
  [/^connector\.weight$/, 'model.pre_connector.weight'],
  ...llmDecoder('postDecoder\\.'),
  [/^heads\.vision\./, 'stage1.vision_head.'], [/^heads\.text\./, 'stage1.text_head.'], [/^heads\.logitScale$/, 'stage1.logit_scale'],
])

/** The CLIP-style vision tower (teacher), with CLIP's names. */
export const visionTower = rewrite([
  [/^patchEmbed\.weight$/, 'vision_model.embeddings.patch_embedding.weight'],
  [/^classEmbed$/, 'vision_model.embeddings.class_embedding'],
  [/^position$/, 'vision_model.embeddings.position_embedding.weight'],
  [/^preNorm\./, 'vision_model.pre_layrnorm.'],
  [/^blocks\.(\d+)\./, 'vision_model.encoder.layers.$1.'], ...clipLayer,
  [/^postNorm\./, 'vision_model.post_layernorm.'],
  [/^projection\.weight$/, 'visual_projection.weight'],
])

/** The Llama-style LLM, with Llama's names. */
export const llm = rewrite([[/^embed\.weight$/, 'model.embed_tokens.weight'], ...llmDecoder('')])
