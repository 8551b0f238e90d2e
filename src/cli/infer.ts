/**
 * Using a trained model: `ask` answers a question about an image, `attention` draws where the question's tokens
 * look in the image after the pre-decoder (the paper's Figure 5).
 *
 * A run's model is its stage-2 checkpoint and its tokenizer. The config comes from the checkpoint's metadata
 * (the recipe stores it there), or from --preset for a file without one; the tensors are checked against it.
 * Before any training, with no --run or --checkpoint given, the commands use the shipped model.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as Tokenizer from '../data/tokenizer.ts'
import { type Config, imageTokens, validate } from '../haplovl/config.ts'
import { fromScratch } from '../haplovl/init.ts'
import type { Params } from '../haplovl/model.ts'
import * as Names from '../haplovl/names.ts'
import { assemble, type Batch, type Sample } from '../haplovl/sequence.ts'
import { decodeCheckpoint } from '../io/checkpoint.ts'
import { loadImage } from '../io/image.ts'
import { decode as decodeSafetensors } from '../io/safetensors.ts'
import * as Random from '../random.ts'
import { files } from '../recipe/run.ts'
import { reply } from '../recipe/evaluate.ts'
import { decoder } from '../haplovl/generate.ts'
import { specialIds } from '../recipe/world.ts'
import * as Attention from '../plot/attention.ts'
import type { Invocation, Outcome } from './invocation.ts'
import { save } from './output.ts'

/** Where the shipped model lives, relative to the package root. */
export const shippedModel = new URL('../../assets/tiny/', import.meta.url).pathname

export interface Model {
  readonly config: Config
  readonly params: Params
  readonly tokenizer: Tokenizer.Tokenizer
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The config stored in a checkpoint's metadata (JSON text), validated; `fallback` when there is none. */
export function configOf(metadata: Readonly<Record<string, string>>, fallback: Config, source: string): E.Either<string, Config> {
  const text = metadata.config
  if (text === undefined) return E.right(fallback)
  let c: unknown
  try {
    c = JSON.parse(text)
  } catch {
    return E.left(`${source}: metadata 'config' is not valid JSON`)
  }
  if (!isObject(c) || !isObject(c.vision) || !isObject(c.llm)) return E.left(`${source}: metadata 'config' is not a model config`)
  return pipe(validate(c as unknown as Config), E.mapLeft((e) => `${source}: ${e}`))
}

const readBytes = (path: string, what: string, hint: string): TE.TaskEither<string, Buffer> =>
  TE.tryCatch(
    () => readFile(path),
    (e) => {
      const code = (e as NodeJS.ErrnoException).code
      return `cannot read ${what} "${path}": ${code === 'ENOENT' ? `no such file${hint}` : code === 'EISDIR' ? 'it is a directory' : String(e)}`
    },
  )

/** The run's tokenizer and the model in `checkpoint` (tensors named as the recipe saves them). */
export const loadModel = (dir: string, checkpoint: string, fallback: Config): TE.TaskEither<string, Model> =>
  pipe(
    TE.Do,
    TE.bind('tokenizer', () => pipe(Tokenizer.load(join(dir, files.tokenizer)), TE.mapLeft((e) => (e.endsWith('no such file') ? `${e} (is --run right? a run gets its tokenizer from haplovl pretrain tokenizer)` : e)))),
    TE.bind('bytes', () => readBytes(checkpoint, 'checkpoint', ' (train the model first: haplovl train stage2, or pass --checkpoint)')),
    TE.bind('config', ({ bytes }) => TE.fromEither(pipe(decodeSafetensors(bytes, checkpoint), E.chain((f) => configOf(f.metadata, fallback, checkpoint))))),
    TE.bind('params', ({ bytes, config }) =>
      TE.fromEither(pipe(decodeCheckpoint(bytes, fromScratch(Random.key(0), config), { names: Names.haplovl, source: checkpoint }), E.map((k) => k.params)))),
    TE.filterOrElse(
      ({ tokenizer, config }) => tokenizer.vocabSize <= config.llm.vocab,
      ({ tokenizer, config }) => `the tokenizer has ${tokenizer.vocabSize} tokens, more than the model's vocabulary of ${config.llm.vocab}: they belong to different runs`,
    ),
    TE.map(({ tokenizer, config, params }) => ({ tokenizer, config, params })),
  )

// ---------------------------------------------------------------------------------------------------------------
// the prompt
// ---------------------------------------------------------------------------------------------------------------

export interface Prompt {
  readonly sample: Sample
  /** the image as the model sees it: (S, S, 3) in [0, 1] */
  readonly pixels: Float32Array
  /** flat positions of the question's tokens */
  readonly question: readonly number[]
  /** the question's token ids */
  readonly ids: readonly number[]
  /** the position that predicts the answer's first token (the open assistant marker) */
  readonly last: number
}

/** The chat prompt `<|user|> image question <|end|><|assistant|>`, as the recipe's evaluation builds it. */
export function promptOf(m: Model, pixels: Float32Array, question: string): E.Either<string, Prompt> {
  const text = question.trim()
  if (text === '') return E.left('the question is empty')
  const s = m.tokenizer.special
  const ids = Tokenizer.encode(m.tokenizer, text)
  const start = 1 + imageTokens(m.config)
  const sample: Sample = [
    { kind: 'text', ids: [s.user], loss: false },
    { kind: 'image', pixels },
    { kind: 'text', ids, loss: false },
    { kind: 'text', ids: [s.end, s.assistant], loss: false },
  ]
  const length = start + ids.length + 2
  if (length > m.config.maxTokens)
    return E.left(`the question is too long: with the image the prompt takes ${length} positions, the model takes ${m.config.maxTokens}`)
  return E.right({ sample, pixels, ids, question: ids.map((_, i) => start + i), last: length - 1 })
}

const batchOf = (m: Model, p: Prompt): E.Either<string, Batch> =>
  assemble([p.sample], m.config, specialIds(m))

/** Image file + question → the prompt. */
export const prepare = (m: Model, image: string, question: string): TE.TaskEither<string, Prompt> =>
  pipe(
    loadImage(image, m.config.vision.imageSize),
    TE.chainEitherK((im) => promptOf(m, im.data, question)),
  )

// ---------------------------------------------------------------------------------------------------------------
// ask
// ---------------------------------------------------------------------------------------------------------------

export interface AskOptions {
  readonly maxTokens: number
  readonly temperature: number
  readonly topP: number
  readonly seed: number
}

/** The model's answer, decoded up to its end-of-turn token. */
export function answer(m: Model, p: Prompt, o: AskOptions): E.Either<string, string> {
  return reply(decoder(m.params, m.config, specialIds(m)), m.tokenizer, p.sample, { maxNewTokens: o.maxTokens, temperature: o.temperature, topP: o.topP, key: Random.key(o.seed) })
}

// ---------------------------------------------------------------------------------------------------------------
// attention
// ---------------------------------------------------------------------------------------------------------------

export interface AttentionOptions {
  /** 'question': one panel per question token; 'last': the position that predicts the answer */
  readonly tokens: 'question' | 'last'
  /** a pre-decoder layer (negative counts from the end), or 'all' to average every layer */
  readonly layer: number | 'all'
}

/** The picture's PNG bytes for an image and a question. */
export async function attentionPicture(m: Model, p: Prompt, question: string, o: AttentionOptions): Promise<E.Either<string, Buffer>> {
  const depth = m.config.vision.layers
  const layers = o.layer === 'all' ? Array.from({ length: depth }, (_, l) => l) : [o.layer < 0 ? depth + o.layer : o.layer]
  if (layers.some((l) => l < 0 || l >= depth)) return E.left(`--layer ${o.layer} is outside the pre-decoder's ${depth} layers (0..${depth - 1}, or -1 for the last)`)
  const batch = batchOf(m, p)
  if (E.isLeft(batch)) return batch
  const positions = o.tokens === 'last' ? [p.last] : p.question
  const seen = Attention.patchAttention(m.params, m.config, batch.right, { positions, layers })
  const pieceAt = (pos: number) => (pos === p.last ? '<|assistant|>' : Tokenizer.piece(m.tokenizer, p.ids[pos - p.question[0]!]!).trim())
  const panels = seen.map((a) => ({ caption: `"${pieceAt(a.position)}"  ${(100 * a.onImage).toFixed(0)}% on image`, grid: a.grid }))
  const where = o.layer === 'all' ? `mean of all ${depth} layers` : `layer ${layers[0]} of 0..${depth - 1}`
  return E.right(await Attention.attentionPng({
    image: { size: m.config.vision.imageSize, pixels: p.pixels },
    panels,
    title: `${question.trim()}  (pre-decoder ${where}, mean over ${m.config.vision.heads} heads)`,
  }))
}

// ---------------------------------------------------------------------------------------------------------------
// the commands
// ---------------------------------------------------------------------------------------------------------------

/** The run's model, or the shipped one (said on stderr) when nothing names a model and the default run has none yet. */
const modelOf = (a: Invocation): TE.TaskEither<string, Model> => {
  const checkpoint = a.get('checkpoint', join(a.dir, files.stage2))
  const unnamed = a.values.run === undefined && a.values.checkpoint === undefined && a.config.name === 'tiny'
  if (!unnamed || existsSync(checkpoint)) return loadModel(a.dir, checkpoint, a.config)
  a.io.err(`no model in ${a.dir} yet (haplovl pipeline makes one): using the shipped model, ${shippedModel}`)
  return loadModel(shippedModel, join(shippedModel, files.stage2), a.config)
}

const requireImage = (a: Invocation): E.Either<string, string> => {
  const image = a.get('image', '')
  return image === '' ? E.left(`${a.positionals.length > 0 ? 'which image? ' : ''}--image FILE is required`) : E.right(image)
}

/** `haplovl ask --image FILE QUESTION`: prints the answer. */
export async function ask(a: Invocation): Outcome {
  const image = requireImage(a)
  if (E.isLeft(image)) return image
  const question = a.positionals.join(' ')
  const o: AskOptions = { maxTokens: a.get('max-tokens', 32), temperature: a.get('temperature', 0), topP: a.get('top-p', 1), seed: a.seed }
  const result = await pipe(
    modelOf(a),
    TE.chain((m) => pipe(prepare(m, image.right, question), TE.chainEitherK((p) => answer(m, p, o)))),
  )()
  if (E.isLeft(result)) return result
  a.io.out(result.right === '' ? '(empty answer)' : result.right)
  return E.right(0)
}

const layerOf = (text: string): E.Either<string, number | 'all'> =>
  text === 'all' ? E.right('all') : /^-?\d+$/.test(text) ? E.right(Number(text)) : E.left(`--layer expects a whole number or "all", got '${text}'`)

/** `haplovl attention --image FILE QUESTION --out FILE.png`: writes the picture. */
export async function attention(a: Invocation): Outcome {
  const image = requireImage(a)
  if (E.isLeft(image)) return image
  const layer = layerOf(a.get('layer', '-1'))
  if (E.isLeft(layer)) return layer
  const question = a.positionals.join(' ')
  const out = a.get('out', join(a.dir, files.plots, 'attention.png'))
  const o: AttentionOptions = { tokens: a.get('tokens', 'question') as AttentionOptions['tokens'], layer: layer.right }
  const png = await pipe(
    modelOf(a),
    TE.chain((m) => pipe(prepare(m, image.right, question), TE.chain((p) => () => attentionPicture(m, p, question, o)))),
  )()
  if (E.isLeft(png)) return png
  const saved = await save(out, png.right)
  if (E.isLeft(saved)) return saved
  a.io.out(`wrote ${out}`)
  return E.right(0)
}
