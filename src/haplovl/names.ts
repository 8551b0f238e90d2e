/**
 * Checkpoint tensor names, following Hugging Face conventions so a PyTorch user recognises every tensor:
 * CLIP's vision-tower names for the ViT parts (pre-decoder, teacher), Llama's for the LLM parts (post-decoder).
 * Linear weights are stored [out, in] as PyTorch stores them. The patch embedding is stored [C, 3·k·k]: reshape
 * it to (C, 3, k, k) for a Conv2d (the flattening is channel-major, the Conv2d weight order).
 *
 * A name is the tree path (e.g. `preDecoder.0.attn.q.weight`) rewritten by a list of rules, in order.
 */
import { entries, type Tree } from '../../autograd/index.ts'

type Rule = readonly [RegExp, string]

/** A part of the tree: paths matching `from` are renamed `to`, then the part's own `inner` rules apply. */
type Section = readonly [from: RegExp, to: string, inner?: readonly Rule[]]

const rename = (sections: readonly Section[]) => (path: string): string => {
  for (const [from, to, inner = []] of sections)
    if (from.test(path)) return inner.reduce((name, [a, b]) => name.replace(a, b), path.replace(from, to))
  throw new Error(`no checkpoint name for the parameter '${path}'`)
}

/** Inside a CLIP encoder layer (mlp.fc1 and mlp.fc2 keep their names). */
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

/** The LLM's decoder under `prefix` (HaploVL's post-decoder, or the LLM itself). */
const llmDecoder = (prefix: string): readonly Section[] => [
  [new RegExp(`^${prefix}blocks\\.(\\d+)\\.`), 'model.layers.$1.', llamaLayer],
  [new RegExp(`^${prefix}norm\\.weight$`), 'model.norm.weight'],
  [new RegExp(`^${prefix}lmHead\\.weight$`), 'lm_head.weight'],
]

/** HaploVL, with its stage-1 heads when saved beside it as { model, heads }; a bare model tree works too. */
export const haplovl = (path: string): string => haplovlSections(path.replace(/^model\./, ''))

const haplovlSections = rename([
  [/^embed\.patch\.weight$/, 'model.embeddings.patch_embedding.weight'],
  [/^embed\.position$/, 'model.embeddings.position_embedding.weight'],
  [/^embed\.newline$/, 'model.embeddings.image_newline'],
  [/^embed\.tokens$/, 'model.embed_tokens.weight'],
  [/^embed\.textProjector\.(weight|bias)$/, 'model.text_projector.$1'],
  [/^embed\.preNorm\.(weight|bias)$/, 'model.pre_layrnorm.$1'], // sic: CLIP's spelling
  [/^preDecoder\.(\d+)\./, 'model.pre_decoder.layers.$1.', clipLayer],
  [/^connector\.weight$/, 'model.pre_connector.weight'],
  ...llmDecoder('postDecoder\\.'),
  [/^heads\.vision\.(weight|bias)$/, 'stage1.vision_head.$1'],
  [/^heads\.text\.(weight|bias)$/, 'stage1.text_head.$1'],
  [/^heads\.logitScale$/, 'stage1.logit_scale'],
])

/** The CLIP-style vision tower under `prefix`, CLIP's names after `into`. */
const clipTower = (prefix: string, into: string): readonly Section[] => [
  [new RegExp(`^${prefix}patchEmbed\\.weight$`), `${into}vision_model.embeddings.patch_embedding.weight`],
  [new RegExp(`^${prefix}classEmbed$`), `${into}vision_model.embeddings.class_embedding`],
  [new RegExp(`^${prefix}position$`), `${into}vision_model.embeddings.position_embedding.weight`],
  [new RegExp(`^${prefix}preNorm\\.(weight|bias)$`), `${into}vision_model.pre_layrnorm.$1`],
  [new RegExp(`^${prefix}blocks\\.(\\d+)\\.`), `${into}vision_model.encoder.layers.$1.`, clipLayer],
  [new RegExp(`^${prefix}postNorm\\.(weight|bias)$`), `${into}vision_model.post_layernorm.$1`],
  [new RegExp(`^${prefix}projection\\.weight$`), `${into}visual_projection.weight`],
]

/** The whole Llama-style LLM under `prefix`: its input table, then its decoder. */
const llmModel = (prefix: string): readonly Section[] => [[new RegExp(`^${prefix}embed\\.weight$`), 'model.embed_tokens.weight'], ...llmDecoder(prefix)]

/** The CLIP-style vision tower (teacher), with CLIP's names. */
export const visionTower = rename(clipTower('', ''))

/** The Llama-style LLM, with Llama's names. */
export const llm = rename(llmModel(''))

/**
 * LLaVA-1.5 as its own repository names it (LlavaLlamaForCausalLM): the LLM keeps Llama's names, the vision
 * tower CLIP's under `model.vision_tower.vision_tower.`, the projector is `mm_projector` (an nn.Sequential:
 * Linear, GELU, Linear, hence 0 and 2).
 */
export const llava = rename([
  ...clipTower('vision\\.', 'model.vision_tower.vision_tower.'),
  [/^projector\.fc1\.(weight|bias)$/, 'model.mm_projector.0.$1'],
  [/^projector\.fc2\.(weight|bias)$/, 'model.mm_projector.2.$1'],
  ...llmModel('llm\\.'),
])

/** SOLO: the Mistral/Llama names plus `embed_vision_patch`; the row separator as a vector beside the table. */
export const solo = rename([
  [/^patch\.weight$/, 'model.embed_vision_patch.weight'],
  [/^rowSeparator$/, 'model.embed_vrow_sep'],
  ...llmModel('llm\\.'),
])

/**
 * HoVLE: the holistic embedding module under `vision_model.` with the names of HoVLE's release
 * (vision_embeddings, pixel_shuffle_proj as an nn.Sequential, llm_text_embeddings, encoder.N) and Llama's names
 * inside its layers (this project's blocks keep q/k/v/o separate, not InternLM2's fused wqkv); the LLM Llama's.
 */
export const hovle = rename([
  [/^embedding\.tokens$/, 'vision_model.llm_text_embeddings.weight'],
  [/^embedding\.patch\.(weight|bias)$/, 'vision_model.vision_embeddings.patch_embedding.$1'],
  [/^embedding\.position$/, 'vision_model.vision_embeddings.position_embedding'],
  [/^embedding\.shuffle\.fc1\.(weight|bias)$/, 'vision_model.pixel_shuffle_proj.0.$1'],
  [/^embedding\.shuffle\.fc2\.(weight|bias)$/, 'vision_model.pixel_shuffle_proj.2.$1'],
  [/^embedding\.blocks\.(\d+)\./, 'vision_model.encoder.$1.', llamaLayer],
  ...llmModel('llm\\.'),
])

// ---------------------------------------------------------------------------------------------------------------
// the contrastive teacher: CLIPModel's names
// ---------------------------------------------------------------------------------------------------------------

/** The CLIP-style text tower under `prefix`, with CLIP's names (its blocks are CLIP encoder layers). */
const clipTextTower = (prefix: string): readonly Section[] => [
  [new RegExp(`^${prefix}tokenEmbed\\.weight$`), 'text_model.embeddings.token_embedding.weight'],
  [new RegExp(`^${prefix}position$`), 'text_model.embeddings.position_embedding.weight'],
  [new RegExp(`^${prefix}blocks\\.(\\d+)\\.`), 'text_model.encoder.layers.$1.', clipLayer],
  [new RegExp(`^${prefix}finalNorm\\.(weight|bias)$`), 'text_model.final_layer_norm.$1'],
  [new RegExp(`^${prefix}projection\\.weight$`), 'text_projection.weight'],
]

/** The CLIP-style text tower alone. */
export const textTower = rename(clipTextTower(''))

/** The whole teacher { vision, text, logitScale } as one CLIPModel checkpoint. */
export const clip = rename([...clipTower('vision\\.', ''), ...clipTextTower('text\\.'), [/^logitScale$/, 'logit_scale']])

/** Every tensor of a checkpoint: its Hugging Face name and shape, in file order (sorted by name). */
export function table(tree: Tree, names: (path: string) => string): [string, readonly number[]][] {
  return entries(tree).map(([path, t]): [string, readonly number[]] => [names(path), t.shape]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** The Markdown table of `docs/CHECKPOINTS.md`. */
export const markdown = (rows: readonly [string, readonly number[]][]): string =>
  ['| name | shape |', '| --- | --- |', ...rows.map(([n, s]) => `| \`${n}\` | [${s.join(', ')}] |`)].join('\n')
