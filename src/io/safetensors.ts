/**
 * The safetensors file format, read and written by hand (docs/CHECKPOINTS.md).
 *
 * ```
 * bytes 0..8        N, the header length: unsigned 64-bit little-endian
 * bytes 8..8+N      UTF-8 JSON: { name: { dtype, shape, data_offsets: [begin, end] }, …, "__metadata__": { string: string } }
 * bytes 8+N..       the data buffer: each tensor's values, little-endian, C order (last axis fastest);
 *                   data_offsets count from the start of this buffer, and the ranges tile it exactly
 * ```
 *
 * The writer pads the header with spaces so the buffer starts on an 8-byte boundary, and lays tensors out in name
 * order. The reader trusts nothing: every malformed file comes back as `E.left` with one line naming the file and,
 * where there is one, the tensor.
 *
 * @example
 * import * as E from 'fp-ts/lib/Either.js'
 * const bytes = encode({ tensors: new Map([['w', tensor([1, 2], [2])]]) })
 * const back = decode(bytes, 'w.safetensors')   // E.right({ tensors: Map { 'w' => Tensor[2] }, integers, metadata: {} })
 */
import { readFile } from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Tensor, entries, shapeText, sizeOf, treeMap, type Tree } from '../../autograd/index.ts'
import { writeFileAtomic } from './atomic.ts'

// ---------------------------------------------------------------------------------------------------------------
// model
// ---------------------------------------------------------------------------------------------------------------

/** Bytes per element of the dtypes this module reads and writes. Anything else (F16, BF16, …) is rejected. */
const dtypeBytes = { F32: 4, I32: 4, I64: 8 } as const

export type DType = keyof typeof dtypeBytes

/** Integer data (step counters, RNG words): kept apart from the float32 Tensors of the engine. */
export type IntTensor =
  | { readonly dtype: 'I32'; readonly shape: readonly number[]; readonly data: Int32Array }
  | { readonly dtype: 'I64'; readonly shape: readonly number[]; readonly data: BigInt64Array }

/** The contents of one file. Names are unique across `tensors` and `integers`. */
export interface Safetensors {
  readonly tensors: ReadonlyMap<string, Tensor>
  readonly integers: ReadonlyMap<string, IntTensor>
  readonly metadata: Readonly<Record<string, string>>
}

/** The largest header the reader accepts. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024

const METADATA = '__metadata__'

const hostIsLittleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1

/** Reverse each `width`-byte word in place (only on big-endian hosts: the file is always little-endian). */
function toLittleEndian(bytes: Uint8Array, width: number): Uint8Array {
  if (!hostIsLittleEndian) for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse()
  return bytes
}

// ---------------------------------------------------------------------------------------------------------------
// writing
// ---------------------------------------------------------------------------------------------------------------

/**
 * Serialise tensors and metadata. Throws on a name used twice or the reserved name `__metadata__`: those are
 * programming errors, not user input.
 */
export function encode(file: {
  readonly tensors: ReadonlyMap<string, Tensor>
  readonly integers?: ReadonlyMap<string, IntTensor>
  readonly metadata?: Readonly<Record<string, string>>
}): Uint8Array {
  type Item = { dtype: DType; shape: readonly number[]; bytes: Uint8Array }
  const items = new Map<string, Item>()
  const add = (name: string, item: Item): void => {
    if (name === METADATA) throw new Error(`safetensors: '${METADATA}' is reserved and cannot name a tensor`)
    if (items.has(name)) throw new Error(`safetensors: tensor name '${name}' is used twice`)
    items.set(name, item)
  }
  const bytesOf = (a: Float32Array | Int32Array | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
  for (const [name, t] of file.tensors) add(name, { dtype: 'F32', shape: t.shape, bytes: bytesOf(t.data) })
  for (const [name, t] of file.integers ?? new Map<string, IntTensor>()) {
    if (t.data.length !== sizeOf(t.shape))
      throw new Error(`safetensors: integer tensor '${name}' has ${t.data.length} values for shape ${shapeText(t.shape)}`)
    add(name, { dtype: t.dtype, shape: t.shape, bytes: bytesOf(t.data) })
  }

  // built from entries, so that a name such as '__proto__' becomes a key and not the object's prototype
  const names = [...items.keys()].sort()
  const fields: [string, unknown][] = []
  const metadata = Object.entries(file.metadata ?? {})
  if (metadata.length > 0) fields.push([METADATA, Object.fromEntries(metadata)])
  let offset = 0
  for (const name of names) {
    const { dtype, shape, bytes } = items.get(name)!
    fields.push([name, { dtype, shape: [...shape], data_offsets: [offset, offset + bytes.length] }])
    offset += bytes.length
  }

  const json = new TextEncoder().encode(JSON.stringify(Object.fromEntries(fields)))
  const headerLength = Math.ceil(json.length / 8) * 8
  const out = new Uint8Array(8 + headerLength + offset)
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true)
  out.set(json, 8)
  out.fill(0x20, 8 + json.length, 8 + headerLength) // spaces: still valid JSON
  let at = 8 + headerLength
  for (const name of names) {
    const { dtype, bytes } = items.get(name)!
    out.set(bytes, at)
    toLittleEndian(out.subarray(at, at + bytes.length), dtypeBytes[dtype])
    at += bytes.length
  }
  return out
}

/** Write a safetensors file atomically (see `writeFileAtomic`: the previous file is kept as `path.prev`). */
export const writeSafetensors = (path: string, file: Parameters<typeof encode>[0]): TE.TaskEither<string, void> =>
  TE.tryCatch(
    () => writeFileAtomic(path, encode(file)),
    (e) => `${path}: cannot write (${e instanceof Error ? e.message : String(e)})`,
  )

// ---------------------------------------------------------------------------------------------------------------
// reading
// ---------------------------------------------------------------------------------------------------------------

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/**
 * The first key that occurs twice in one JSON object, with the key of the object holding it ('' at top level).
 * JSON.parse keeps the last duplicate silently, so the text is scanned here: the input is already known to be
 * valid JSON, which leaves only strings, brackets, colons and commas to track.
 */
function duplicateKey(json: string): { readonly key: string; readonly parent: string } | null {
  // one frame per open bracket: the keys seen so far (objects only), the key that led to it
  const stack: { keys: Set<string> | null; name: string }[] = []
  let lastString = ''
  let expectKey = false
  for (let i = 0; i < json.length; i++) {
    const c = json[i]
    if (c === '"') {
      let j = i + 1
      while (j < json.length && json[j] !== '"') j += json[j] === '\\' ? 2 : 1
      const s = JSON.parse(json.slice(i, j + 1)) as string
      const top = stack[stack.length - 1]
      if (expectKey && top?.keys) {
        if (top.keys.has(s)) return { key: s, parent: top.name }
        top.keys.add(s)
        expectKey = false
      }
      lastString = s
      i = j
    } else if (c === '{' || c === '[') {
      stack.push({ keys: c === '{' ? new Set() : null, name: lastString })
      expectKey = c === '{'
    } else if (c === '}' || c === ']') stack.pop()
    else if (c === ',') expectKey = stack[stack.length - 1]?.keys != null
  }
  return null
}

/** Parse and validate a whole file held in memory. `source` names the file in messages. */
export function decode(bytes: Uint8Array, source = '<bytes>'): E.Either<string, Safetensors> {
  const fail = (message: string) => E.left(`${source}: ${message}`)
  if (bytes.length < 8) return fail(`${bytes.length} bytes is too short for a safetensors file (the header length alone takes 8)`)

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const n = view.getBigUint64(0, true)
  if (n > BigInt(MAX_HEADER_BYTES)) return fail(`header length ${n} is larger than the ${MAX_HEADER_BYTES}-byte limit`)
  if (n > BigInt(bytes.length - 8)) return fail(`header length ${n} is longer than the file (${bytes.length - 8} bytes after the length)`)
  const headerLength = Number(n)

  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerLength))
  } catch {
    return fail('header is not valid UTF-8')
  }
  let header: unknown
  try {
    header = JSON.parse(text)
  } catch (e) {
    return fail(`header is not valid JSON (${e instanceof Error ? e.message : String(e)})`)
  }
  if (!isRecord(header)) return fail(`header must be a JSON object, found ${Array.isArray(header) ? 'an array' : JSON.stringify(header)}`)
  const dup = duplicateKey(text)
  if (dup !== null)
    return fail(dup.parent === '' ? `duplicate tensor name '${dup.key}' in the header` : `duplicate key '${dup.key}' in '${dup.parent}'`)

  // metadata: a flat string → string map
  const meta = Object.hasOwn(header, METADATA) ? header[METADATA] : {}
  if (!isRecord(meta)) return fail(`'${METADATA}' must be an object of strings, found ${JSON.stringify(meta)}`)
  for (const [k, v] of Object.entries(meta))
    if (typeof v !== 'string') return fail(`'${METADATA}' value of '${k}' must be a string, found ${JSON.stringify(v)}`)

  // tensor entries: field by field
  const dataStart = 8 + headerLength
  const bufferLength = bytes.length - dataStart
  type Info = { name: string; dtype: DType; shape: number[]; begin: number; end: number }
  const infos: Info[] = []
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA) continue
    const bad = (what: string) => fail(`tensor '${name}': ${what}`)
    if (!isRecord(info)) return bad(`entry must be an object, found ${JSON.stringify(info)}`)
    const extra = Object.keys(info).filter((k) => k !== 'dtype' && k !== 'shape' && k !== 'data_offsets')
    if (extra.length > 0) return bad(`unexpected field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `'${k}'`).join(', ')}`)
    const { dtype, shape, data_offsets: offsets } = info
    if (typeof dtype !== 'string' || !Object.hasOwn(dtypeBytes, dtype))
      return bad(`unknown dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(dtypeBytes).join(', ')})`)
    if (!Array.isArray(shape) || !shape.every(isIndex))
      return bad(`shape must be a list of non-negative integers, found ${JSON.stringify(shape)}`)
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex) || offsets[0] > offsets[1])
      return bad(`data_offsets must be [begin, end], integers with begin ≤ end, found ${JSON.stringify(offsets)}`)
    const [begin, end] = offsets as [number, number]
    const width = dtypeBytes[dtype as DType]
    const needed = sizeOf(shape) * width
    if (end - begin !== needed)
      return bad(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} shape ${shapeText(shape)} needs ${needed}`)
    if (end > bufferLength)
      return bad(`data_offsets [${begin}, ${end}] run past the end of the data buffer (${bufferLength} bytes)`)
    infos.push({ name, dtype: dtype as DType, shape, begin, end })
  }

  // the ranges must tile [0, bufferLength) exactly: no overlap, no hole
  const sorted = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end)
  let covered = 0
  let previous: Info | null = null
  for (const info of sorted) {
    if (info.begin < covered)
      return fail(`tensors '${previous!.name}' [${previous!.begin}, ${previous!.end}) and '${info.name}' [${info.begin}, ${info.end}) overlap`)
    if (info.begin > covered)
      return fail(`bytes [${covered}, ${info.begin}) of the data buffer belong to no tensor (a hole before '${info.name}')`)
    covered = info.end
    previous = info
  }
  if (covered < bufferLength) return fail(`bytes [${covered}, ${bufferLength}) at the end of the data buffer belong to no tensor`)

  const tensors = new Map<string, Tensor>()
  const integers = new Map<string, IntTensor>()
  for (const { name, dtype, shape, begin, end } of infos) {
    // a copy into a fresh, aligned ArrayBuffer: the file's offsets need not be aligned. (Not bytes.slice: on a
    // Node Buffer, slice shares memory and .buffer would be the whole, possibly pooled, allocation.)
    const raw = toLittleEndian(new Uint8Array(bytes.subarray(dataStart + begin, dataStart + end)), dtypeBytes[dtype]).buffer
    if (dtype === 'F32') tensors.set(name, new Tensor(new Float32Array(raw), shape))
    else if (dtype === 'I32') integers.set(name, { dtype, shape, data: new Int32Array(raw) })
    else integers.set(name, { dtype, shape, data: new BigInt64Array(raw) })
  }
  return E.right({ tensors, integers, metadata: meta as Record<string, string> })
}

/** Read and validate a file. */
export const readSafetensors = (path: string): TE.TaskEither<string, Safetensors> => async () => {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (e) {
    return E.left(`${path}: cannot read (${e instanceof Error ? e.message : String(e)})`)
  }
  return decode(bytes, path)
}

// ---------------------------------------------------------------------------------------------------------------
// parameter trees
// ---------------------------------------------------------------------------------------------------------------

/** Maps a tree path ("blocks.0.attn.wq") to the tensor's name in a file. */
export type Names = (path: string) => string

/** The default naming: the dotted path itself. */
export const dottedPath: Names = (path) => path

/** The leaves of a tree under their file names. Left if two paths map to the same name. */
export function fromTree(tree: Tree, names: Names = dottedPath): E.Either<string, Map<string, Tensor>> {
  const out = new Map<string, Tensor>()
  const pathOf = new Map<string, string>()
  for (const [path, t] of entries(tree)) {
    const name = names(path)
    if (pathOf.has(name)) return E.left(`parameters '${pathOf.get(name)}' and '${path}' both map to the name '${name}'`)
    pathOf.set(name, path)
    out.set(name, t)
  }
  return E.right(out)
}

/** At most `max` items of a list, then a count of the rest. */
function list(items: readonly string[], max = 5): string {
  const shown = items.slice(0, max).map((s) => `'${s}'`).join(', ')
  return items.length > max ? `${shown} (and ${items.length - max} more)` : shown
}

/**
 * A new tree with the structure and type of `template`, its leaves taken from `tensors` by name.
 * Only the template's shapes are read (its leaves may be disposed). Every problem is reported on one line:
 * missing tensors, extra tensors, and shape mismatches ("expected [2, 3], found [3, 2]").
 */
export function loadInto<T extends Tree>(
  template: T,
  tensors: ReadonlyMap<string, Tensor>,
  options: { readonly names?: Names; readonly source?: string } = {},
): E.Either<string, T> {
  const names = options.names ?? dottedPath
  const source = options.source ?? '<tensors>'
  const slots = new Map<string, { path: string; shape: readonly number[] }>()
  for (const [path, leaf] of entries(template)) {
    const name = names(path)
    const other = slots.get(name)
    if (other) return E.left(`${source}: parameters '${other.path}' and '${path}' both map to the name '${name}'`)
    slots.set(name, { path, shape: leaf.shape })
  }

  // each list in name order, so messages do not depend on tree or file order
  const missing = [...slots.keys()].filter((name) => !tensors.has(name)).sort()
  const extra = [...tensors.keys()].filter((name) => !slots.has(name)).sort()
  const mismatched: string[] = []
  for (const [name, { shape }] of [...slots].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const found = tensors.get(name)?.shape
    if (found && shapeText(found) !== shapeText(shape))
      mismatched.push(`'${name}' expected ${shapeText(shape)}, found ${shapeText(found)}`)
  }
  const problems = [
    missing.length > 0 ? `missing tensor${missing.length > 1 ? 's' : ''} ${list(missing)}` : '',
    extra.length > 0 ? `extra tensor${extra.length > 1 ? 's' : ''} ${list(extra)}` : '',
    mismatched.length > 0
      ? `shape mismatch: ${mismatched.slice(0, 5).join('; ')}${mismatched.length > 5 ? ` (and ${mismatched.length - 5} more)` : ''}`
      : '',
  ].filter((p) => p !== '')
  if (problems.length > 0) return E.left(`${source}: ${problems.join('; ')}`)

  return E.right(treeMap(template, (_, path) => tensors.get(names(path))!))
}
