/**
 * Byte-level BPE tokenizer, its JSON file and the chat template.
 *
 * Ids: 0–255 are the bytes, 256–261 the special tokens (SPECIALS, in order), then one id per merge in the
 * order the merges were learnt. Text is first turned into bytes with WTF-8 (UTF-8 that also carries lone
 * UTF-16 surrogates), so `decode(tok, encode(tok, s)) === s` for every JavaScript string.
 *
 * Special tokens are produced from text only when the caller passes `{ allowSpecial: true }`; by default a user
 * typing "<|user|>" gets the bytes of that string. The chat template never goes through text at all: it emits
 * `special` segments, so user content cannot forge a role marker.
 */
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { pipe } from 'fp-ts/lib/function.js'
import { readFile, writeFile } from 'node:fs/promises'

// -------------------------------------------------------------------------------------------------------------
// special tokens
// -------------------------------------------------------------------------------------------------------------

export const SPECIALS = {
  pad: '<|pad|>',
  user: '<|user|>',
  assistant: '<|assistant|>',
  system: '<|system|>',
  image: '<|image|>',
  end: '<|end|>',
} as const
export type SpecialName = keyof typeof SPECIALS

/** Special token strings in id order: SPECIAL_LIST[k] has id 256 + k. */
export const SPECIAL_LIST: readonly string[] = Object.values(SPECIALS)
const SPECIAL_NAMES = Object.keys(SPECIALS) as SpecialName[]
export const FIRST_SPECIAL = 256
export const FIRST_MERGE = FIRST_SPECIAL + SPECIAL_LIST.length
/** The project's vocabulary ceiling. */
export const MAX_VOCAB = 512

// -------------------------------------------------------------------------------------------------------------
// WTF-8: UTF-8 extended to lone surrogates
// -------------------------------------------------------------------------------------------------------------

/** Bytes of a string: UTF-8, except that an unpaired surrogate is written as the 3-byte form of its code unit. */
export const toBytes = (s: string): Uint8Array => {
  const out: number[] = []
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
        i++
      }
    }
    if (c < 0x80) out.push(c)
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63))
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
  }
  return Uint8Array.from(out)
}

/** Inverse of toBytes; a byte that starts no valid sequence becomes U+FFFD (decoding never throws). */
export const fromBytes = (b: Uint8Array): string => {
  const units: number[] = []
  let s = ''
  const cont = (k: number) => k < b.length && (b[k] & 0xc0) === 0x80
  for (let i = 0; i < b.length; ) {
    const x = b[i]
    let c = -1, n = 1
    if (x < 0x80) c = x
    else if (x >= 0xc2 && x < 0xe0 && cont(i + 1)) (c = ((x & 31) << 6) | (b[i + 1] & 63)), (n = 2)
    else if (x >= 0xe0 && x < 0xf0 && cont(i + 1) && cont(i + 2)) {
      c = ((x & 15) << 12) | ((b[i + 1] & 63) << 6) | (b[i + 2] & 63)
      n = 3
      if (c < 0x800) c = -1 // overlong
    } else if (x >= 0xf0 && x < 0xf5 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
      c = ((x & 7) << 18) | ((b[i + 1] & 63) << 12) | ((b[i + 2] & 63) << 6) | (b[i + 3] & 63)
      n = 4
      if (c < 0x10000 || c > 0x10ffff) c = -1
    }
    if (c < 0) (units.push(0xfffd), (n = 1))
    else if (c < 0x10000) units.push(c)
    else units.push(0xd800 + ((c - 0x10000) >> 10), 0xdc00 + ((c - 0x10000) & 1023))
    i += n
    if (units.length > 4096) (s += String.fromCharCode(...units)), (units.length = 0)
  }
  return s + String.fromCharCode(...units)
}

// -------------------------------------------------------------------------------------------------------------
// pre-tokenisation
// -------------------------------------------------------------------------------------------------------------

/**
 * Chunks that merges never cross (GPT-2 style): a word with its leading space, one digit (so numbers stay
 * digit by digit), a run of punctuation, whitespace. Chunks longer than MAX_CHUNK code units are cut, which
 * bounds the quadratic merge loop on adversarial input.
 */
const PRE = / ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu
const MAX_CHUNK = 64

/** Splits text into chunks whose concatenation is the text (gaps the pattern misses become chunks too). */
export const chunks = (text: string): string[] => {
  const out: string[] = []
  const push = (c: string) => {
    for (let k = 0; k < c.length; ) {
      let end = Math.min(c.length, k + MAX_CHUNK)
      const last = c.charCodeAt(end - 1)
      if (end < c.length && last >= 0xd800 && last <= 0xdbff) end-- // do not split a surrogate pair
      out.push(c.slice(k, end))
      k = end
    }
  }
  let at = 0
  for (const m of text.matchAll(PRE)) {
    if (m.index > at) push(text.slice(at, m.index))
    push(m[0])
    at = m.index + m[0].length
  }
  if (at < text.length) push(text.slice(at))
  return out
}

// -------------------------------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------------------------------

export interface Tokenizer {
  /** Merge k joins the pair (a, b) into id FIRST_MERGE + k. */
  readonly merges: readonly (readonly [number, number])[]
  readonly vocabSize: number
  readonly special: Readonly<Record<SpecialName, number>>
  /** The bytes each id stands for (a special token: the UTF-8 of its string). */
  readonly bytes: readonly Uint8Array[]
  /** Pair key a·2¹⁶ + b → merge index (its rank: lower merges first). */
  readonly ranks: ReadonlyMap<number, number>
}

const pairKey = (a: number, b: number): number => a * 65536 + b

/** Builds a tokenizer from its merges; the merges must already be valid (see fromJson). */
export const fromMerges = (merges: readonly (readonly [number, number])[]): Tokenizer => {
  const bytes: Uint8Array[] = []
  for (let i = 0; i < 256; i++) bytes.push(Uint8Array.of(i))
  for (const s of SPECIAL_LIST) bytes.push(new TextEncoder().encode(s))
  const ranks = new Map<number, number>()
  merges.forEach(([a, b], k) => {
    const ab = new Uint8Array(bytes[a].length + bytes[b].length)
    ab.set(bytes[a])
    ab.set(bytes[b], bytes[a].length)
    bytes.push(ab)
    ranks.set(pairKey(a, b), k)
  })
  const special = Object.fromEntries(SPECIAL_NAMES.map((n, k) => [n, FIRST_SPECIAL + k])) as Record<SpecialName, number>
  return { merges, vocabSize: bytes.length, special, bytes, ranks }
}

// -------------------------------------------------------------------------------------------------------------
// training
// -------------------------------------------------------------------------------------------------------------

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const SPECIAL_RE = new RegExp(SPECIAL_LIST.map(escapeRegExp).join('|'), 'g')

/**
 * Learns merges on a corpus until the vocabulary has `vocabSize` ids or no pair occurs twice.
 *
 * The corpus is reduced to distinct chunks with counts ("words"). Pair counts are kept in a map together with
 * the set of words each pair occurs in; a merge rewrites only those words, subtracting their old pairs and
 * adding their new ones, so each step costs the size of the affected words, not of the corpus.
 * Ties go to the smaller pair key, so training is deterministic.
 */
export const train = (corpus: string, opts: { readonly vocabSize?: number } = {}): Tokenizer => {
  const vocabSize = opts.vocabSize ?? MAX_VOCAB
  if (!Number.isInteger(vocabSize) || vocabSize < FIRST_MERGE || vocabSize > MAX_VOCAB)
    throw new RangeError(`tokenizer vocabSize must be an integer in [${FIRST_MERGE}, ${MAX_VOCAB}], got ${vocabSize}`)
  const counts = new Map<string, number>()
  for (const piece of corpus.split(SPECIAL_RE)) for (const c of chunks(piece)) counts.set(c, (counts.get(c) ?? 0) + 1)
  const words: number[][] = []
  const freq: number[] = []
  for (const [c, n] of counts) (words.push(Array.from(toBytes(c))), freq.push(n))

  const pairCount = new Map<number, number>()
  const where = new Map<number, Set<number>>()
  const addPairs = (w: number, sign: 1 | -1) => {
    const ids = words[w]
    for (let i = 0; i + 1 < ids.length; i++) {
      const k = pairKey(ids[i], ids[i + 1])
      const n = (pairCount.get(k) ?? 0) + sign * freq[w]
      if (n === 0) pairCount.delete(k)
      else pairCount.set(k, n)
      if (sign > 0) {
        let set = where.get(k)
        if (!set) where.set(k, (set = new Set()))
        set.add(w)
      }
    }
  }
  for (let w = 0; w < words.length; w++) addPairs(w, 1)

  const merges: [number, number][] = []
  while (FIRST_MERGE + merges.length < vocabSize) {
    let best = -1, bestCount = 1
    for (const [k, n] of pairCount) if (n > bestCount || (n === bestCount && best >= 0 && k < best)) (best = k), (bestCount = n)
    if (best < 0) break
    const a = Math.floor(best / 65536), b = best % 65536, id = FIRST_MERGE + merges.length
    merges.push([a, b])
    for (const w of where.get(best) ?? []) {
      const ids = words[w]
      // The set may be stale (the pair left this word in an earlier merge); rewriting is then a no-op.
      addPairs(w, -1)
      const next: number[] = []
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) (next.push(id), i++)
        else next.push(ids[i])
      }
      words[w] = next
      addPairs(w, 1)
    }
    where.delete(best)
  }
  return fromMerges(merges)
}

// -------------------------------------------------------------------------------------------------------------
// encoding and decoding
// -------------------------------------------------------------------------------------------------------------

/** Memo of chunk → ids per tokenizer (chunks repeat a lot in this world's text). */
const memo = new WeakMap<Tokenizer, Map<string, readonly number[]>>()

/** Applies merges to one chunk: repeatedly merge every occurrence of the lowest-ranked adjacent pair. */
const encodeChunk = (tok: Tokenizer, chunk: string): readonly number[] => {
  let cache = memo.get(tok)
  if (!cache) memo.set(tok, (cache = new Map()))
  const hit = cache.get(chunk)
  if (hit) return hit
  let ids = Array.from(toBytes(chunk))
  for (;;) {
    let bestRank = Infinity
    for (let i = 0; i + 1 < ids.length; i++) {
      const r = tok.ranks.get(pairKey(ids[i], ids[i + 1]))
      if (r !== undefined && r < bestRank) bestRank = r
    }
    if (bestRank === Infinity) break
    const [a, b] = tok.merges[bestRank]
    const id = FIRST_MERGE + bestRank
    const next: number[] = []
    for (let i = 0; i < ids.length; i++) {
      if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) (next.push(id), i++)
      else next.push(ids[i])
    }
    ids = next
  }
  if (cache.size > 200_000) cache.clear()
  cache.set(chunk, ids)
  return ids
}

const encodePlain = (tok: Tokenizer, text: string, out: number[]): void => {
  for (const c of chunks(text)) for (const id of encodeChunk(tok, c)) out.push(id)
}

/** Token ids of a text. Special token strings become special ids only with `allowSpecial`. */
export const encode = (tok: Tokenizer, text: string, opts: { readonly allowSpecial?: boolean } = {}): number[] => {
  const out: number[] = []
  if (!opts.allowSpecial) {
    encodePlain(tok, text, out)
    return out
  }
  let at = 0
  for (const m of text.matchAll(SPECIAL_RE)) {
    encodePlain(tok, text.slice(at, m.index), out)
    out.push(FIRST_SPECIAL + SPECIAL_LIST.indexOf(m[0]))
    at = m.index + m[0].length
  }
  encodePlain(tok, text.slice(at), out)
  return out
}

/** The text of a list of ids; special ids come back as their strings. Throws on an id outside the vocabulary. */
export const decode = (tok: Tokenizer, ids: readonly number[]): string => {
  let n = 0
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= tok.vocabSize) throw new RangeError(`decode: token id ${id} is outside the vocabulary of ${tok.vocabSize}`)
    n += tok.bytes[id].length
  }
  const buf = new Uint8Array(n)
  let at = 0
  for (const id of ids) (buf.set(tok.bytes[id], at), (at += tok.bytes[id].length))
  return fromBytes(buf)
}

/** Human-readable piece of one id (for inspecting a vocabulary). */
export const piece = (tok: Tokenizer, id: number): string => decode(tok, [id])

// -------------------------------------------------------------------------------------------------------------
// JSON file
// -------------------------------------------------------------------------------------------------------------

export const FORMAT = 'haplovl-bpe'
export const VERSION = 1

export const toJson = (tok: Tokenizer): string =>
  JSON.stringify({ format: FORMAT, version: VERSION, specials: SPECIAL_LIST, merges: tok.merges.map(([a, b]) => [a, b]) })

/** Parses and validates a tokenizer file's text; `source` names the file in messages. */
export const fromJson = (text: string, source = 'tokenizer'): E.Either<string, Tokenizer> => {
  const bad = (why: string) => E.left(`${source}: ${why}`)
  let j: unknown
  try {
    j = JSON.parse(text)
  } catch (e) {
    return bad(`not valid JSON (${e instanceof Error ? e.message : String(e)})`)
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) return bad('expected a JSON object')
  const o = j as Record<string, unknown>
  if (o.format !== FORMAT) return bad(`expected "format": "${FORMAT}", found ${JSON.stringify(o.format)}`)
  if (o.version !== VERSION) return bad(`expected "version": ${VERSION}, found ${JSON.stringify(o.version)}`)
  if (!Array.isArray(o.specials) || o.specials.length !== SPECIAL_LIST.length || o.specials.some((s, k) => s !== SPECIAL_LIST[k]))
    return bad(`expected "specials": ${JSON.stringify(SPECIAL_LIST)}, found ${JSON.stringify(o.specials)}`)
  if (!Array.isArray(o.merges)) return bad('expected "merges" to be an array of [id, id] pairs')
  if (FIRST_MERGE + o.merges.length > MAX_VOCAB) return bad(`${o.merges.length} merges give a vocabulary of ${FIRST_MERGE + o.merges.length}, above ${MAX_VOCAB}`)
  const seen = new Set<number>()
  const merges: [number, number][] = []
  for (const [k, m] of o.merges.entries()) {
    if (!Array.isArray(m) || m.length !== 2) return bad(`merge ${k} is ${JSON.stringify(m)}, expected a pair [id, id]`)
    for (const id of m) {
      if (!Number.isInteger(id) || id < 0 || id >= FIRST_MERGE + k) return bad(`merge ${k} uses id ${JSON.stringify(id)}, which is not defined before it`)
      if (id >= FIRST_SPECIAL && id < FIRST_MERGE) return bad(`merge ${k} uses the special token id ${id}`)
    }
    const key = pairKey(m[0], m[1])
    if (seen.has(key)) return bad(`merge ${k} repeats the pair [${m[0]}, ${m[1]}]`)
    seen.add(key)
    merges.push([m[0], m[1]])
  }
  return E.right(fromMerges(merges))
}

const oneLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0]

export const save = (tok: Tokenizer, path: string): TE.TaskEither<string, void> =>
  TE.tryCatch(
    () => writeFile(path, toJson(tok)),
    (e) => `cannot write tokenizer "${path}": ${oneLine(e)}`,
  )

export const load = (path: string): TE.TaskEither<string, Tokenizer> =>
  pipe(
    TE.tryCatch(
      () => readFile(path, 'utf8'),
      (e) => `cannot read tokenizer "${path}": ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : oneLine(e)}`,
    ),
    TE.chainEitherK((text) => fromJson(text, `tokenizer "${path}"`)),
  )

// -------------------------------------------------------------------------------------------------------------
// chat template and segments
// -------------------------------------------------------------------------------------------------------------

/** Plain text; never parsed for special tokens. `loss` marks tokens the stage-2 loss is taken on. */
export interface TextSegment {
  readonly kind: 'text'
  readonly text: string
  readonly loss: boolean
}
/** One special token (role markers, end of turn). */
export interface SpecialSegment {
  readonly kind: 'special'
  readonly token: SpecialName
  readonly loss: boolean
}
/** Any image payload: a data scene, or pixels from a user's file. */
export interface ImageLike {
  readonly kind: 'image'
}
export type Segment<I extends ImageLike> = TextSegment | SpecialSegment | I

export type Role = 'system' | 'user' | 'assistant'
export interface Turn<I extends ImageLike> {
  readonly role: Role
  /** Strings and images in order; strings are concatenated as given. */
  readonly content: readonly (string | I)[]
}

/**
 * The chat template: each turn is `<|role|>` content `<|end|>`. The assistant's content and its `<|end|>`
 * carry the loss; everything else does not. With `generation`, an open `<|assistant|>` ends the prompt.
 *
 * @example
 * renderChatText(renderChat([{ role: 'user', content: ['Hi?'] }, { role: 'assistant', content: ['Hello.'] }]))
 * // '<|user|>Hi?<|end|><|assistant|>Hello.<|end|>'
 */
export const renderChat = <I extends ImageLike>(turns: readonly Turn<I>[], opts: { readonly generation?: boolean } = {}): Segment<I>[] => {
  const out: Segment<I>[] = []
  for (const t of turns) {
    const loss = t.role === 'assistant'
    out.push({ kind: 'special', token: t.role, loss: false })
    for (const c of t.content) out.push(typeof c === 'string' ? { kind: 'text', text: c, loss } : c)
    out.push({ kind: 'special', token: 'end', loss })
  }
  if (opts.generation) out.push({ kind: 'special', token: 'assistant', loss: false })
  return out
}

/** Segments as one string: specials as their text, each image as `<|image|>`. For reading and for corpora. */
export const renderChatText = <I extends ImageLike>(segments: readonly Segment<I>[]): string =>
  segments.map((s) => (s.kind === 'text' ? s.text : s.kind === 'special' ? SPECIALS[s.token] : SPECIALS.image)).join('')

/** What sequence assembly consumes: runs of ids with one loss flag, and images. */
export type ModelSegment<P> = { readonly kind: 'text'; readonly ids: readonly number[]; readonly loss: boolean } | { readonly kind: 'image'; readonly pixels: P }

/**
 * Tokenises segments: consecutive text and special segments with the same loss flag become one id run; each
 * image goes through `pixels` (e.g. Scene.render).
 */
export const encodeSegments = <I extends ImageLike, P>(tok: Tokenizer, segments: readonly Segment<I>[], pixels: (image: I) => P): ModelSegment<P>[] => {
  const out: ModelSegment<P>[] = []
  let run: number[] = [], runLoss = false
  const flush = () => {
    if (run.length > 0) out.push({ kind: 'text', ids: run, loss: runLoss })
    run = []
  }
  for (const s of segments) {
    if (s.kind === 'text' || s.kind === 'special') {
      if (s.loss !== runLoss) (flush(), (runLoss = s.loss))
      if (s.kind === 'text') encodePlain(tok, s.text, run)
      else run.push(tok.special[s.token])
    } else {
      flush()
      out.push({ kind: 'image', pixels: pixels(s as I) })
    }
  }
  flush()
  return out
}
