/**
 * Checkpoints: model parameters, optional optimizer state and run information in one safetensors file, enough to
 * resume a run exactly (docs/CHECKPOINTS.md).
 *
 * ```
 * <name>                  F32   a parameter, named by the caller's mapping from tree paths (default: the dotted path)
 * optimizer.m.<name>      F32   AdamW first moment of that parameter (same shape)
 * optimizer.v.<name>      F32   AdamW second moment
 * __metadata__
 *   format                "pt" (the Hugging Face convention for PyTorch-readable files)
 *   haplovl.checkpoint    "1", the layout version
 *   optimizer.step        the optimizer's step count as a decimal string (only with optimizer state)
 *   <key>                 JSON.stringify(value) for each key of the run information (config, step, rng, …)
 * ```
 *
 * @example
 * // both return Tasks of Either<string, …>: run them, then check for E.isLeft
 * await saveCheckpoint('run/ckpt.safetensors', { params, optimizer: { step: 10, m, v }, metadata: { step: 10, config } })()
 * const back = await loadCheckpoint('run/ckpt.safetensors', params)()   // E.right({ params, optimizer, metadata })
 */
import { readFile } from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { pipe } from 'fp-ts/lib/function.js'
import { type Tree } from '../../autograd/index.ts'
import { decode, encode, fromTree, loadInto, dottedPath, type Names } from './safetensors.ts'
import { writeFileAtomic } from './atomic.ts'

// ---------------------------------------------------------------------------------------------------------------
// model
// ---------------------------------------------------------------------------------------------------------------

export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json }

/**
 * What a run needs besides tensors: its config, the step, the RNG state as a string. Values must be JSON
 * (checked when saving); they come back as parsed JSON, to be validated by whoever reads them (e.g. a config decoder).
 */
export type RunInfo = { readonly [key: string]: unknown }

/** AdamW state: first and second moments shaped like the parameters, and the number of steps taken. */
export interface OptimizerState<P extends Tree> {
  readonly step: number
  readonly m: P
  readonly v: P
}

export interface Checkpoint<P extends Tree> {
  readonly params: P
  readonly optimizer?: OptimizerState<P>
  readonly metadata: RunInfo
}

export interface Options {
  /** Tree path → tensor name; the dotted path by default. */
  readonly names?: Names
}

/** The layout version written to `haplovl.checkpoint`. */
export const VERSION = '1'

const STEP_KEY = 'optimizer.step'
const fixedMetadata = { format: 'pt', 'haplovl.checkpoint': VERSION }
const reserved = (key: string) => key === 'format' || key.startsWith('haplovl.') || key.startsWith('optimizer.')

/**
 * Names for the combined tree { params, m, v }: params under their own names, moments under optimizer.<m|v>.<name>.
 * A path is "params.<rest>" or "params" (a single-tensor tree), and likewise for m and v.
 */
const combinedNames = (names: Names): Names => (path) => {
  const dot = path.indexOf('.')
  const head = dot < 0 ? path : path.slice(0, dot)
  const rest = dot < 0 ? '' : path.slice(dot + 1)
  return head === 'params' ? names(rest) : `optimizer.${head}.${names(rest)}`
}

/** Where a value stops being JSON that survives a round trip, or null. */
function jsonProblem(value: unknown, at: string): string | null {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null
  if (typeof value === 'number') return Number.isFinite(value) ? null : `${at} is ${value}, which JSON cannot hold`
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = jsonProblem(value[i], `${at}[${i}]`)
      if (p) return p
    }
    return null
  }
  if (typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    for (const [k, v] of Object.entries(value)) {
      const p = jsonProblem(v, `${at}.${k}`)
      if (p) return p
    }
    return null
  }
  const kind = value === undefined ? 'undefined' : typeof value === 'object' ? `a ${value.constructor?.name ?? 'null-prototype object'}` : `a ${typeof value}`
  return `${at} is ${kind}, which JSON cannot hold`
}

// ---------------------------------------------------------------------------------------------------------------
// bytes
// ---------------------------------------------------------------------------------------------------------------

/** The file's bytes, or what makes the checkpoint unsavable (bad metadata, optimizer state not shaped like params). */
export function encodeCheckpoint<P extends Tree>(checkpoint: Checkpoint<P>, options: Options = {}): E.Either<string, Uint8Array> {
  const { params, optimizer, metadata } = checkpoint
  const names = combinedNames(options.names ?? dottedPath)

  const metaStrings: [string, string][] = Object.entries(fixedMetadata)
  for (const [key, value] of Object.entries(metadata)) {
    if (reserved(key)) return E.left(`metadata key '${key}' is reserved ('format', 'haplovl.*', 'optimizer.*')`)
    const problem = jsonProblem(value, `metadata.${key}`)
    if (problem) return E.left(problem)
    metaStrings.push([key, JSON.stringify(value)])
  }
  if (optimizer) {
    if (!Number.isSafeInteger(optimizer.step) || optimizer.step < 0)
      return E.left(`optimizer step must be a non-negative integer, found ${optimizer.step}`)
    metaStrings.push([STEP_KEY, String(optimizer.step)])
  }

  const own = fromTree(params, options.names ?? dottedPath)
  if (E.isLeft(own)) return own
  const clash = [...own.right.keys()].find((name) => name.startsWith('optimizer.'))
  if (clash !== undefined) return E.left(`parameter name '${clash}' uses the prefix 'optimizer.', reserved for optimizer state`)

  const tensors = fromTree(optimizer ? { params, m: optimizer.m, v: optimizer.v } : { params }, names)
  if (E.isLeft(tensors)) return tensors
  if (optimizer) {
    // m and v must match params leaf for leaf: the params tree is the template for all three
    const check = loadInto({ params, m: params, v: params }, tensors.right, { names, source: 'optimizer state' })
    if (E.isLeft(check)) return E.left(`${check.left} (the moments must be shaped like the parameters)`)
  }
  return E.right(encode({ tensors: tensors.right, metadata: Object.fromEntries(metaStrings) }))
}

/** Parse a checkpoint's bytes against a parameter template (only the template's shapes are read). */
export function decodeCheckpoint<P extends Tree>(
  bytes: Uint8Array,
  template: P,
  options: Options & { readonly source?: string } = {},
): E.Either<string, Checkpoint<P>> {
  const source = options.source ?? '<bytes>'
  const names = combinedNames(options.names ?? dottedPath)
  return pipe(
    decode(bytes, source),
    E.chain((file) => {
      const fail = (message: string) => E.left(`${source}: ${message}`)
      if (file.integers.size > 0) return fail(`unexpected integer tensor${file.integers.size > 1 ? 's' : ''} ${[...file.integers.keys()].map((n) => `'${n}'`).join(', ')}`)
      const version = file.metadata['haplovl.checkpoint']
      if (version !== undefined && version !== VERSION) return fail(`checkpoint layout version '${version}' is not supported (this code reads '${VERSION}')`)

      const parsed: [string, Json][] = []
      for (const [key, text] of Object.entries(file.metadata)) {
        if (reserved(key)) continue
        try {
          parsed.push([key, JSON.parse(text) as Json])
        } catch {
          return fail(`metadata '${key}' is not valid JSON: ${JSON.stringify(text.slice(0, 60))}`)
        }
      }
      const metadata: RunInfo = Object.fromEntries(parsed)

      const stepText = file.metadata[STEP_KEY]
      if (stepText === undefined)
        return pipe(
          loadInto({ params: template }, file.tensors, { names, source }),
          E.map(({ params }) => ({ params, metadata })),
          E.mapLeft((e) =>
            [...file.tensors.keys()].some((n) => n.startsWith('optimizer.')) ? `${e} (optimizer tensors but no '${STEP_KEY}' in __metadata__)` : e,
          ),
        )
      if (!/^(0|[1-9][0-9]*)$/.test(stepText) || !Number.isSafeInteger(Number(stepText)))
        return fail(`metadata '${STEP_KEY}' must be a non-negative integer, found ${JSON.stringify(stepText)}`)
      return pipe(
        loadInto({ params: template, m: template, v: template }, file.tensors, { names, source }),
        E.map(({ params, m, v }) => ({ params, optimizer: { step: Number(stepText), m, v }, metadata })),
      )
    }),
  )
}

// ---------------------------------------------------------------------------------------------------------------
// files
// ---------------------------------------------------------------------------------------------------------------

/** Write a checkpoint atomically; the previous file at `path` is kept as `path.prev`. */
export const saveCheckpoint = <P extends Tree>(path: string, checkpoint: Checkpoint<P>, options: Options = {}): TE.TaskEither<string, void> =>
  pipe(
    TE.fromEither(pipe(encodeCheckpoint(checkpoint, options), E.mapLeft((e) => `${path}: ${e}`))),
    TE.chain((bytes) =>
      TE.tryCatch(
        () => writeFileAtomic(path, bytes),
        (e) => `${path}: cannot write (${e instanceof Error ? e.message : String(e)})`,
      ),
    ),
  )

/** Read a checkpoint; optimizer state comes back when the file holds it. */
export const loadCheckpoint = <P extends Tree>(path: string, template: P, options: Options = {}): TE.TaskEither<string, Checkpoint<P>> =>
  pipe(
    TE.tryCatch(
      () => readFile(path),
      (e) => `${path}: cannot read (${e instanceof Error ? e.message : String(e)})`,
    ),
    TE.chainEitherK((bytes) => decodeCheckpoint(bytes, template, { ...options, source: path })),
  )
