/**
 * The parents' pre-training: what HaploVL inherits from, trained here because nothing can be downloaded.
 *
 *   tokenizer  byte-level BPE on the world's corpus (Language.corpus), vocabulary = the LLM's (≤ 512)
 *   teacher    a CLIP-style pair of towers (vision tower + causal text tower) trained with the symmetric
 *              contrastive loss on training scenes and their captions; the vision tower is stage 1's teacher
 *              and the pre-decoder's initialisation
 *   llm        a Llama-style LM, next-token prediction on the text-only corpus (passages, dialogues) plus
 *              captions as plain text; its blocks become the post-decoder and its table W the text embedding
 *
 * Both training steps use the stage-1 AdamW preset (β = (0.9, 0.95) as in Llama's pre-training, cosine with
 * warm-up) scaled to the run by `budgets`; batches are pure functions of (ctx.seed, step), so a run resumes
 * exactly from its checkpoint. Evaluation is on data training never sees: held-out scenes (split 'eval') for
 * the teacher's zero-shot probes, sample indices past every training index for the LLM's perplexity.
 */
import * as E from 'fp-ts/lib/Either.js'
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ops, noGrad, type Tensor, type Tree } from '../../autograd/index.ts'
import * as Language from '../data/language.ts'
import * as Random from '../data/random.ts'
import * as Scene from '../data/scene.ts'
import * as Tokenizer from '../data/tokenizer.ts'
import { validate, type Config } from '../haplovl/config.ts'
import * as Names from '../haplovl/names.ts'
import { decodeCheckpoint } from '../io/checkpoint.ts'
import { decode as decodeSafetensors, type Names as NameMap } from '../io/safetensors.ts'
import { contrastive, initLogitScale, normalize } from '../losses/contrastive.ts'
import { maxLogitScale } from '../losses/distillation.ts'
import { nextToken } from '../losses/next-token.ts'
import * as Presets from '../optim/presets.ts'
import * as Llm from '../parents/llm.ts'
import { patchify } from '../parents/patches.ts'
import * as TextTower from '../parents/text-tower.ts'
import * as VisionTower from '../parents/vision-tower.ts'
import * as Key from '../random.ts'
import { runStage, type Stage, type StepRecord } from '../train/loop.ts'
import { files, logOf, pathOf, type RunContext } from './run.ts'

// ---------------------------------------------------------------------------------------------------------------
// budgets
// ---------------------------------------------------------------------------------------------------------------

/** Steps, batch and learning-rate multiplier of a parent's training (`ctx.steps` overrides the steps). */
export type Budget = {
  readonly steps: number
  readonly batch: number
  /** peak lr = the stage-1 preset's 1e-4 × lrScale */
  readonly lrScale: number
}

/**
 * Chosen for the tiny preset on a 2-core CPU, where the whole pipeline must fit in 30 minutes: the teacher in
 * about 4 minutes, the LLM in about 5. At a fixed number of samples, small batches and more steps won on both
 * (measured on the tiny preset, zero-shot size×colour×shape accuracy / held-out perplexity):
 *   teacher  3200 pairs:  B 32 × 100 steps 14.5%;  B 16 × 200 23–31%;  B 8 × 400 at lr 1e-3 35.5%, at 6e-4 27%,
 *                         at 3e-3 17%;  B 4 × 800 24.5%.  lr 8e-3 at B 32 collapsed to ln B.
 *   llm      102k tokens: B 8 × 100 steps 2.95;  B 4 × 200 at lr 1e-3 3.18, 3e-3 2.42, 6e-3 2.43;  B 2 × 400
 *                         at 3e-3 2.25;  B 1 × 800 at 2e-3 2.22 (but 30% slower).
 * Steps take about 0.6 s (teacher, B 8) and 0.65 s (LLM, B 2 × 128 tokens) on the shared machine. Change freely.
 */
export const budgets: Readonly<Record<'teacher' | 'llm', Budget>> = {
  teacher: { steps: 400, batch: 8, lrScale: 10 },
  llm: { steps: 400, batch: 2, lrScale: 30 },
}

/** Tokens per LLM training row (documents are packed back to back, each after an end token). */
export const llmRow = 128

/** Checkpoint every this many steps (and at the end, and when stopped). */
const checkpointEvery = 25

// ---------------------------------------------------------------------------------------------------------------
// shared plumbing
// ---------------------------------------------------------------------------------------------------------------

/** Seeds below this are training sample indices; held-out text samples use indices from here on. */
const HELD_OUT_FROM = 2 ** 28
const trainIndex = (h: number): number => h & (HELD_OUT_FROM - 1)

/** Records get their throughput; each becomes one JSON line of `log` and is passed to ctx.onStep. */
function stepLogger<A>(ctx: RunContext, log: string, total: number): (r: StepRecord<A>) => void {
  let first = true
  return (r) => {
    // A resumed run repeats no step: lines from the interrupted run at or after its first step are dropped
    // (and a line cut short by a crash).
    if (first && existsSync(log)) {
      const before = (l: string): boolean => {
        try {
          return (JSON.parse(l) as { step: number }).step < r.step
        } catch {
          return false
        }
      }
      const kept = readFileSync(log, 'utf8').split('\n').filter(before)
      writeFileSync(log, kept.map((l) => `${l}\n`).join(''))
    }
    first = false
    appendFileSync(log, `${JSON.stringify({ ...r, tokensPerSecond: r.tokens / r.seconds })}\n`)
    ctx.onStep?.(r as StepRecord<unknown>, total)
  }
}

function stageOf<P extends Tree, B, A>(
  ctx: RunContext, step: 'teacher' | 'llm', budget: Budget, names: NameMap,
  parts: Pick<Stage<P, B, A>, 'batchAt' | 'tokensOf' | 'loss'>,
): Stage<P, B, A> {
  const steps = ctx.steps ?? budget.steps
  const run = Presets.scaleToRun(Presets.stage1, { steps, batch: budget.batch, lrScale: budget.lrScale })
  mkdirSync(ctx.dir, { recursive: true })
  return {
    name: step, steps, hyper: Presets.hyperAt(run), trainable: Presets.allExcept([]), clipNorm: 1, ...parts,
    checkpoint: { path: pathOf(ctx, step), every: checkpointEvery, names, metadata: { config: ctx.config, seed: ctx.seed, budget: { ...budget, steps } } },
    onStep: stepLogger<A>(ctx, logOf(ctx, step), steps),
    ...(ctx.shouldStop ? { shouldStop: ctx.shouldStop } : {}),
  }
}

/**
 * Parameters of a parent from a run directory: the config comes from the file's metadata (or `config`), the
 * tensors must match it exactly.
 */
async function loadParent<P extends Tree>(
  path: string, what: string, template: (c: Config) => P, names: NameMap, config?: Config,
): Promise<E.Either<string, P>> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT'
    return E.left(missing ? `${what}: no checkpoint at ${path} (train it first)` : `${what}: cannot read ${path} (${(e as Error).message})`)
  }
  const file = decodeSafetensors(bytes, path)
  if (E.isLeft(file)) return E.left(`${what}: ${file.left}`)
  let c = config
  if (!c) {
    const text = file.right.metadata.config
    if (text === undefined) return E.left(`${what}: ${path} holds no 'config' metadata; pass the config`)
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      return E.left(`${what}: ${path}: the 'config' metadata is not valid JSON`)
    }
    let valid: E.Either<string, Config>
    try {
      valid = validate(parsed as Config)
    } catch {
      valid = E.left('the \'config\' metadata is not a config')
    }
    if (E.isLeft(valid)) return E.left(`${what}: ${path}: ${valid.left}`)
    c = valid.right
  }
  const loaded = decodeCheckpoint(bytes, template(c), { names, source: path })
  return E.isLeft(loaded) ? E.left(`${what}: ${loaded.left}`) : E.right(loaded.right.params)
}

// ---------------------------------------------------------------------------------------------------------------
// tokenizer
// ---------------------------------------------------------------------------------------------------------------

/** Train the BPE tokenizer on the world's corpus and save it, or load the one the run directory holds. */
export async function trainTokenizer(ctx: RunContext): Promise<E.Either<string, Tokenizer.Tokenizer>> {
  const path = pathOf(ctx, 'tokenizer'), vocab = ctx.config.llm.vocab
  if (existsSync(path)) {
    const loaded = await Tokenizer.load(path)()
    if (E.isRight(loaded) && loaded.right.vocabSize > vocab)
      return E.left(`tokenizer "${path}" has ${loaded.right.vocabSize} ids, more than the vocabulary of config '${ctx.config.name}' (llm.vocab ${vocab})`)
    return loaded
  }
  if (vocab < Tokenizer.FIRST_MERGE)
    return E.left(`config '${ctx.config.name}': llm.vocab ${vocab} cannot hold a byte-level tokenizer (256 bytes + ${Tokenizer.SPECIAL_LIST.length} special tokens = ${Tokenizer.FIRST_MERGE} ids at least)`)
  const tok = Tokenizer.train(Language.corpus(), { vocabSize: Math.min(vocab, Tokenizer.MAX_VOCAB) })
  mkdirSync(ctx.dir, { recursive: true })
  const saved = await Tokenizer.save(tok, path)()
  return E.isLeft(saved) ? saved : E.right(tok)
}

const checkVocabulary = (ctx: RunContext, tok: Tokenizer.Tokenizer): E.Either<string, void> =>
  tok.vocabSize <= ctx.config.llm.vocab
    ? E.right(undefined)
    : E.left(`the tokenizer has ${tok.vocabSize} ids, more than the vocabulary of config '${ctx.config.name}' (llm.vocab ${ctx.config.llm.vocab})`)

// ---------------------------------------------------------------------------------------------------------------
// teacher: CLIP-style contrastive pre-training
// ---------------------------------------------------------------------------------------------------------------

export type Teacher = {
  readonly vision: VisionTower.Params
  readonly text: TextTower.Params
  readonly logitScale: Tensor // [], s with exp(s) the logit multiplier
}

/**
 * The text tower: as wide as the vision tower and half as deep (the world's captions are short and templated;
 * the saved compute buys more training pairs), over the LLM's vocabulary, with 64 tokens of context.
 */
export const textConfig = (c: Config): TextTower.Config => ({
  vocab: c.llm.vocab, context: 64, width: c.vision.width, layers: Math.max(1, Math.floor(c.vision.layers / 2)), heads: c.vision.heads,
  mlpWidth: c.vision.mlpWidth, embedWidth: c.vision.embedWidth, eps: c.vision.eps,
})

export function initTeacher(key: Key.Key, c: Config): Teacher {
  const [kv, kt] = Key.split(key, 2)
  return { vision: VisionTower.init(kv!, c.vision), text: TextTower.init(kt!, textConfig(c)), logitScale: initLogitScale() }
}

/** A text as a text-tower row: its tokens, cut to leave room for the end-of-text token, then that token. */
export const textRow = (tok: Tokenizer.Tokenizer, text: string, context: number): number[] =>
  [...Tokenizer.encode(tok, text).slice(0, context - 1), tok.special.end]

/** The templated description of a single object (CLIP's "a photo of a …" prompt). */
export const photoOf = (o: Pick<Scene.SceneObject, 'size' | 'color' | 'shape'>): string => `a photo of a ${o.size} ${o.color} ${o.shape}.`

export type TeacherBatch = {
  readonly patches: Tensor // (B, P, 3k²)
  readonly rows: readonly (readonly number[])[]
  /** equal numbers: identical texts (not negatives of each other) */
  readonly groups: readonly number[]
  /** texts that describe none of the images (hard negatives), one per pair */
  readonly negatives: readonly (readonly number[])[]
}

/**
 * The share of whole training scenes among the teacher's pairs; crops split the rest evenly between the two texts.
 * Single objects teach the attributes, shape above all; at 0.3 rather than 0.5 the tiny teacher's zero-shot
 * size×colour×shape went from 30.5% to 49% (shape 36.5% → 43.5%, retrieval 43% → 61%) in the same 400 steps.
 */
export const SCENE_SHARE = 0.3

/** An image, the text that describes it, and a hard negative: the same kind of text about a near-miss scene. */
export type TeacherPair = { readonly scene: Scene.Scene; readonly text: string; readonly negative: string }

/**
 * A scene that differs from `s` in one binding: two objects of different colours swap colours (half the time,
 * when there are such objects), or else one object takes another shape. Colour and size tell most scenes
 * apart, so a batch's other captions rarely need the shape or the pairing of attributes; these near misses do.
 */
export function nearMiss(s: Scene.Scene, rng: Random.Stream): Scene.Scene {
  const objs = s.objects
  if (objs.length === 0) return s // an empty scene has no near miss (the generator has never made one)
  const pairs = objs.flatMap((a, i) => objs.flatMap((b, j) => (i < j && a.color !== b.color ? [[i, j] as const] : [])))
  if (pairs.length > 0 && rng.chance(0.5)) {
    const [i, j] = rng.pick(pairs)
    return { ...s, objects: objs.map((o, k) => (k === i ? { ...o, color: objs[j]!.color } : k === j ? { ...o, color: objs[i]!.color } : o)) }
  }
  const k = rng.int(0, objs.length - 1)
  const shape = rng.pick(Scene.SHAPES.filter((v) => v !== objs[k]!.shape))
  return { ...s, objects: objs.map((o, i) => (i === k ? { ...o, shape } : o)) }
}

/**
 * Image–text pair i of step s, from (seed, s, i) alone: SCENE_SHARE are training scenes with their captions; the
 * others show one object of a training scene on that scene's background (a "crop"), described by its caption or,
 * as often, by "a photo of a {size} {color} {shape}." A crop whose content falls on the held-out side of the
 * world's partition is replaced by its full scene, so no held-out image is ever trained on. The negative is the
 * same kind of text about `nearMiss` of the image's scene.
 */
export function teacherPair(seed: number, s: number, i: number): TeacherPair {
  const rng = Random.stream(Random.hash(seed, s, i, 0x7eac))
  const scene = Scene.sceneAt('train', trainIndex(rng.u32()))
  const kind = rng.float()
  const captioned = (shown: Scene.Scene): TeacherPair => ({ scene: shown, text: Language.caption(shown), negative: Language.caption(nearMiss(shown, rng)) })
  if (kind < SCENE_SHARE || scene.objects.length === 0) return captioned(scene)
  const crop = { ...scene, objects: [rng.pick(scene.objects)] }
  if (Scene.isHeldOutContent(crop)) return captioned(scene)
  if (kind < (1 + SCENE_SHARE) / 2) return captioned(crop)
  return { scene: crop, text: photoOf(crop.objects[0]!), negative: photoOf(nearMiss(crop, rng).objects[0]!) }
}

const teacherBatches = (ctx: RunContext, tok: Tokenizer.Tokenizer, batch: number) => (s: number): TeacherBatch => {
  const c = ctx.config, context = textConfig(c).context
  const pairs = Array.from({ length: batch }, (_, i) => teacherPair(ctx.seed, s, i))
  const texts = pairs.map((p) => p.text)
  return {
    patches: patchify(pairs.map((p) => Scene.render(p.scene, c.vision.imageSize)), c.vision.imageSize, c.vision.patch),
    rows: texts.map((t) => textRow(tok, t, context)),
    groups: texts.map((t) => texts.indexOf(t)),
    negatives: pairs.map((p) => textRow(tok, p.negative, context)),
  }
}

export type TeacherTerms = { readonly imageToText: number; readonly textToImage: number; readonly logitScale: number }

/**
 * The text tower's pooled embeddings of rows (B, E), run over `buckets` groups of rows of similar length, so
 * each group is padded only to its own longest row; the rows come back in the order given.
 */
export function embedRows(p: TextTower.Params, tc: TextTower.Config, rows: readonly (readonly number[])[], buckets = 4): Tensor {
  const order = rows.map((_, i) => i).sort((i, j) => rows[i]!.length - rows[j]!.length)
  const size = Math.ceil(rows.length / buckets)
  const parts: Tensor[] = []
  for (let k = 0; k < rows.length; k += size) parts.push(TextTower.apply(p, tc, order.slice(k, k + size).map((i) => rows[i]!)).pooled)
  const where = new Array<number>(rows.length)
  order.forEach((i, k) => (where[i] = k)) // row i sits at position where[i] of the sorted order
  return parts.length === 1 ? parts[0]! : ops.gatherRows(ops.concat(parts, 0), where) // (B, E)
}

export function teacherLoss(p: Teacher, c: Config, b: TeacherBatch): { loss: Tensor; aux: TeacherTerms } {
  const image = VisionTower.apply(p.vision, c.vision, b.patches).pooled // (B, E)
  const n = b.rows.length
  const texts = embedRows(p.text, textConfig(c), [...b.rows, ...b.negatives], 8) // (B + M, E)
  const t = contrastive(image, ops.slice(texts, 0, 0, n), p.logitScale, b.groups, ops.slice(texts, 0, n, texts.shape[0]!))
  return { loss: t.loss, aux: { imageToText: t.imageToText.item(), textToImage: t.textToImage.item(), logitScale: t.scale.item() } }
}

/** Unit image embeddings (N, E) of scenes, in chunks, without a tape. */
export function embedImages(p: Teacher, c: Config, scenes: readonly Scene.Scene[], chunk = 50): Float32Array[] {
  const out: Float32Array[] = []
  for (let k = 0; k < scenes.length; k += chunk)
    noGrad(() => {
      const px = patchify(scenes.slice(k, k + chunk).map((s) => Scene.render(s, c.vision.imageSize)), c.vision.imageSize, c.vision.patch)
      const e = normalize(VisionTower.apply(p.vision, c.vision, px).pooled) // (n, E)
      out.push(...rowsOf(e))
    })
  return out
}

/** Unit text embeddings (N, E) of texts, in chunks, without a tape. */
export function embedTexts(p: Teacher, c: Config, tok: Tokenizer.Tokenizer, texts: readonly string[], chunk = 100): Float32Array[] {
  const tc = textConfig(c), out: Float32Array[] = []
  for (let k = 0; k < texts.length; k += chunk)
    noGrad(() => out.push(...rowsOf(normalize(TextTower.apply(p.text, tc, texts.slice(k, k + chunk).map((t) => textRow(tok, t, tc.context))).pooled))))
  return out
}

const rowsOf = (x: Tensor): Float32Array[] => {
  const [n, e] = x.shape as [number, number]
  const d = x.toFloat32Array()
  return Array.from({ length: n }, (_, i) => d.slice(i * e, (i + 1) * e))
}
const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, j) => s + x * b[j]!, 0)
const unit = (v: Float32Array): Float32Array => {
  const n = Math.sqrt(dot(v, v))
  return v.map((x) => x / n)
}
/** The normalised mean of unit vectors: a prompt ensemble's class embedding (CLIP's recipe). */
const ensemble = (vs: readonly Float32Array[]): Float32Array => unit(vs.reduce((acc, v) => acc.map((x, j) => x + v[j]!), new Float32Array(vs[0]!.length)))
const argmax = (xs: readonly number[]): number => xs.reduce((best, x, i) => (x > xs[best]! ? i : best), 0)

/** Fraction of images whose most similar class embedding is their own class. */
const accuracy = (images: readonly Float32Array[], classes: readonly Float32Array[], truth: readonly number[]): number =>
  images.filter((im, i) => argmax(classes.map((c) => dot(im, c))) === truth[i]).length / images.length

export type ZeroShotOptions = {
  /** held-out single-object scenes classified (default 200) */
  readonly images?: number
  /** held-out scenes of the retrieval probe (default 100; 0 leaves the retrieval probes out) */
  readonly retrieval?: number
}

/** Unit image embeddings of scenes, in the teacher's image–text space: the image side of the zero-shot probes. */
export type ImageEmbedder = (scenes: readonly Scene.Scene[]) => Float32Array[]

type Attribute = 'size' | 'color' | 'shape'

/**
 * Zero-shot probes on held-out scenes (split 'eval'), images embedded by `embed` (the teacher's own:
 * `(scenes) => embedImages(p, c, scenes)`), texts by the teacher's text tower:
 *   size-color-shape  scenes with one object, 80 classes, prompts "a photo of a {size} {color} {shape}."
 *   color, shape, size  the same images and prompts, one attribute: the class whose prompts hold the most
 *                     probability under the teacher's softmax over the 80 (exp(s) · cosine, summed per class)
 *   color-ensemble, …  one attribute against class embeddings that are the ensembles (normalised means) of
 *                     the prompts naming each value, CLIP's prompt ensembling
 *   caption-size-color-shape  80 classes in the caption style, each an ensemble over the nine regions
 *                     ("A small red circle in the top left corner.", …)
 *   retrieval-image-to-text, retrieval-text-to-image  top-1 among the captions (images) of `retrieval`
 *                     held-out scenes of any object count: does the embedding bind attributes and places?
 */
export function zeroShot(embed: ImageEmbedder, p: Teacher, c: Config, tok: Tokenizer.Tokenizer, o: ZeroShotOptions = {}): Record<string, number> {
  const n = o.images ?? 200, m = o.retrieval ?? 100
  const singles: Scene.Scene[] = []
  for (let i = 0; singles.length < n; i++) {
    const s = Scene.sceneAt('eval', i)
    if (s.objects.length === 1) singles.push(s)
  }
  const classes = Scene.SIZES.flatMap((size) => Scene.COLORS.flatMap((color) => Scene.SHAPES.map((shape) => ({ size, color, shape }))))
  const images = embed(singles)
  const photo = embedTexts(p, c, tok, classes.map(photoOf))
  const objectOf = (s: Scene.Scene) => s.objects[0]!
  const classOf = (s: Scene.Scene) => classes.findIndex((k) => k.size === objectOf(s).size && k.color === objectOf(s).color && k.shape === objectOf(s).shape)
  const truth = <A>(values: readonly A[], attr: Attribute) => singles.map((s) => values.indexOf(objectOf(s)[attr] as A))
  const ensembled = <A>(values: readonly A[], attr: Attribute) =>
    accuracy(images, values.map((v) => ensemble(photo.filter((_, k) => classes[k]![attr] === v))), truth(values, attr))
  // P(attr = v | image) = Σ over the prompts naming v of softmax(exp(s) · cos) over all 80 prompts
  const scale = Math.exp(Math.min(p.logitScale.item(), maxLogitScale))
  const marginal = <A>(values: readonly A[], attr: Attribute) => {
    const predicted = images.map((im) => {
      const logits = photo.map((t) => scale * dot(im, t)), top = Math.max(...logits)
      const mass = values.map((v) => logits.reduce((acc, l, k) => acc + (classes[k]![attr] === v ? Math.exp(l - top) : 0), 0))
      return argmax(mass)
    })
    const want = truth(values, attr)
    return predicted.filter((v, i) => v === want[i]).length / images.length
  }

  const regionPrompts = classes.flatMap((k) => Language.REGIONS.map((r) => Language.caption({ seed: 0, background: { pattern: 'plain', tone: 'black' }, objects: [objectAt(k, r)] })))
  const captionEmbeds = embedTexts(p, c, tok, regionPrompts)
  const captionClasses = classes.map((_, k) => ensemble(captionEmbeds.slice(k * Language.REGIONS.length, (k + 1) * Language.REGIONS.length)))

  const retrieval = (): Record<string, number> => {
    const scenes = Array.from({ length: m }, (_, i) => Scene.sceneAt('eval', 100_000 + i))
    const texts = scenes.map((s) => Language.caption(s))
    const sceneImages = embed(scenes), captions = embedTexts(p, c, tok, texts)
    // a caption shared by two scenes counts as correct for either
    const top1 = (queries: readonly Float32Array[], keys: readonly Float32Array[]) =>
      queries.filter((q, i) => texts[argmax(keys.map((k) => dot(q, k)))] === texts[i]).length / queries.length
    return { 'retrieval-image-to-text': top1(sceneImages, captions), 'retrieval-text-to-image': top1(captions, sceneImages) }
  }

  return {
    'size-color-shape': accuracy(images, photo, singles.map(classOf)),
    color: marginal(Scene.COLORS, 'color'),
    shape: marginal(Scene.SHAPES, 'shape'),
    size: marginal(Scene.SIZES, 'size'),
    'color-ensemble': ensembled(Scene.COLORS, 'color'),
    'shape-ensemble': ensembled(Scene.SHAPES, 'shape'),
    'size-ensemble': ensembled(Scene.SIZES, 'size'),
    'caption-size-color-shape': accuracy(images, captionClasses, singles.map(classOf)),
    ...(m > 0 ? retrieval() : {}),
  }
}

/** An object of the class at the centre of a 3×3 cell, so its caption names that region. */
function objectAt(k: { readonly size: Scene.Size; readonly color: Scene.Color; readonly shape: Scene.Shape }, region: Language.Region): Scene.SceneObject {
  const cell = Language.REGIONS.indexOf(region)
  return { ...k, x: ((cell % 3) + 0.5) / 3, y: (Math.floor(cell / 3) + 0.5) / 3, half: 0.1, tint: 0 }
}

/** Contrastive pre-training of the teacher, then its zero-shot probes on held-out scenes (none when stopped early). */
export async function pretrainTeacher(
  ctx: RunContext, tok: Tokenizer.Tokenizer, o: ZeroShotOptions & { readonly budget?: Partial<Budget> } = {},
): Promise<E.Either<string, { readonly params: Teacher; readonly zeroShot?: Record<string, number> }>> {
  const vocab = checkVocabulary(ctx, tok)
  if (E.isLeft(vocab)) return vocab
  const c = ctx.config, budget = { ...budgets.teacher, ...o.budget }
  const stage = stageOf<Teacher, TeacherBatch, TeacherTerms>(ctx, 'teacher', budget, Names.clip, {
    batchAt: teacherBatches(ctx, tok, budget.batch),
    // image tokens (patches and the class token) and text tokens
    tokensOf: (b) => b.rows.length * (VisionTower.patches(c.vision) + 1) + [...b.rows, ...b.negatives].reduce((n, r) => n + r.length, 0),
    loss: (p, b) => teacherLoss(p, c, b),
  })
  const result = await runStage(stage, initTeacher(Key.key(ctx.seed), c))
  if (E.isLeft(result)) return result
  if (result.right.stopped) return E.right({ params: result.right.params })
  return E.right({ params: result.right.params, zeroShot: zeroShot((scenes) => embedImages(result.right.params, c, scenes), result.right.params, c, tok, o) })
}

/** The teacher saved in a run directory (config from the file, unless given). */
export const loadTeacher = (dir: string, config?: Config): Promise<E.Either<string, Teacher>> =>
  loadParent(join(dir, files.teacher), 'teacher', (c) => initTeacher(Key.key(0), c), Names.clip, config)

// ---------------------------------------------------------------------------------------------------------------
// LLM: next-token pre-training
// ---------------------------------------------------------------------------------------------------------------

export type DocumentKind = 'text' | 'dialogue' | 'caption'

/** A document's tokens: a text passage, a text-only chat (with its role tokens), or a scene's caption as text. */
export function documentIds(tok: Tokenizer.Tokenizer, kind: DocumentKind, index: number, split: 'train' | 'eval'): number[] {
  if (kind === 'caption') return Tokenizer.encode(tok, Language.caption(Scene.sceneAt(split, index)))
  const sample = kind === 'text' ? Language.textSample(index) : Language.dialogueSample(index)
  return Tokenizer.encodeSegments(tok, sample.segments, () => null).flatMap((g) => (g.kind === 'text' ? g.ids : []))
}

export type LlmBatch = {
  readonly inputs: readonly (readonly number[])[] // B rows of T ids
  readonly targets: readonly number[] // B·T next tokens
}

/** The share of each document kind in the LLM's training stream. */
const MIX: readonly (readonly [DocumentKind, number])[] = [['text', 0.4], ['dialogue', 0.35], ['caption', 0.25]]

/**
 * Row b of step s: documents drawn from (seed, s, b), each preceded by the end token (the separator the model
 * learns to start from), packed until T + 1 tokens; inputs are the first T, targets the last T.
 */
export function llmRowAt(tok: Tokenizer.Tokenizer, seed: number, s: number, b: number, t = llmRow): number[] {
  const rng = Random.stream(Random.hash(seed, s, b, 0x11a))
  const row: number[] = []
  while (row.length < t + 1) {
    const u = rng.float()
    let acc = 0
    const kind = MIX.find(([, w]) => (acc += w) > u)?.[0] ?? 'text'
    row.push(tok.special.end, ...documentIds(tok, kind, trainIndex(rng.u32()), 'train'))
  }
  return row.slice(0, t + 1)
}

const llmBatches = (ctx: RunContext, tok: Tokenizer.Tokenizer, batch: number) => (s: number): LlmBatch => {
  const rows = Array.from({ length: batch }, (_, b) => llmRowAt(tok, ctx.seed, s, b))
  return { inputs: rows.map((r) => r.slice(0, -1)), targets: rows.flatMap((r) => r.slice(1)) }
}

export const llmLoss = (p: Llm.Params, c: Config, b: LlmBatch): Tensor => nextToken(Llm.apply(p, c.llm, b.inputs), b.targets)

/**
 * Held-out perplexity: exp of the mean next-token loss over every token of `n` documents of each kind that
 * training never draws (text and dialogue indices from 2^28 on, captions of held-out scenes), each read after
 * the end token. Returns the overall value and one per kind.
 */
export function perplexity(p: Llm.Params, c: Config, tok: Tokenizer.Tokenizer, n = 60, chunk = 20): { readonly overall: number; readonly byKind: Record<DocumentKind, number> } {
  const sums = { text: [0, 0], dialogue: [0, 0], caption: [0, 0] } as Record<DocumentKind, [number, number]>
  for (const [kind] of MIX)
    for (let k = 0; k < n; k += chunk) {
      const docs = Array.from({ length: Math.min(chunk, n - k) }, (_, i) =>
        [tok.special.end, ...documentIds(tok, kind, kind === 'caption' ? k + i : HELD_OUT_FROM + k + i, 'eval')])
      const t = Math.max(...docs.map((d) => d.length)) - 1
      // pad on the right; padded positions take no loss (target −1)
      const inputs = docs.map((d) => [...d.slice(0, -1), ...new Array<number>(t - d.length + 1).fill(tok.special.pad)])
      const targets = docs.flatMap((d) => [...d.slice(1), ...new Array<number>(t - d.length + 1).fill(-1)])
      const kept = targets.filter((x) => x >= 0).length
      const loss = noGrad(() => nextToken(Llm.apply(p, c.llm, inputs), targets).item())
      sums[kind][0] += loss * kept
      sums[kind][1] += kept
    }
  const all = Object.values(sums).reduce(([a, b], [x, y]) => [a + x, b + y], [0, 0])
  const byKind = Object.fromEntries(Object.entries(sums).map(([k, [l, m]]) => [k, Math.exp(l / m)])) as Record<DocumentKind, number>
  return { overall: Math.exp(all[0]! / all[1]!), byKind }
}

/** Next-token pre-training of the LLM, then its held-out perplexity (none when stopped early). */
export async function pretrainLlm(
  ctx: RunContext, tok: Tokenizer.Tokenizer, o: { readonly evalDocuments?: number; readonly budget?: Partial<Budget> } = {},
): Promise<E.Either<string, { readonly params: Llm.Params; readonly perplexity?: number; readonly perplexityByKind?: Record<DocumentKind, number> }>> {
  const vocab = checkVocabulary(ctx, tok)
  if (E.isLeft(vocab)) return vocab
  const c = ctx.config, budget = { ...budgets.llm, ...o.budget }
  const stage = stageOf<Llm.Params, LlmBatch, undefined>(ctx, 'llm', budget, Names.llm, {
    batchAt: llmBatches(ctx, tok, budget.batch),
    tokensOf: (b) => b.targets.length,
    loss: (p, b) => llmLoss(p, c, b),
  })
  const result = await runStage(stage, Llm.init(Key.key(ctx.seed + 1), c.llm))
  if (E.isLeft(result)) return result
  if (result.right.stopped) return E.right({ params: result.right.params })
  const ppl = perplexity(result.right.params, c, tok, o.evalDocuments)
  return E.right({ params: result.right.params, perplexity: ppl.overall, perplexityByKind: ppl.byKind })
}

/** The LLM saved in a run directory (config from the file, unless given). */
export const loadLlm = (dir: string, config?: Config): Promise<E.Either<string, Llm.Params>> =>
  loadParent(join(dir, files.llm), 'llm', (c) => Llm.init(Key.key(0), c.llm), Names.llm, config)
