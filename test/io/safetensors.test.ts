import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'
import { Tensor, entries, type Tree } from '../../src/index.ts'
import { decode, encode, fromTree, loadInto, readSafetensors, writeSafetensors, MAX_HEADER_BYTES, type IntTensor, type Safetensors } from '../../src/io/safetensors.ts'
import { runs } from '../helpers/arbitraries.ts'

// ---------------------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------------------

/** A file assembled by hand: length prefix (or an explicit one), header text as given, then the buffer. */
function file(header: string, buffer: Uint8Array = new Uint8Array(0), length?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header)
  const out = new Uint8Array(8 + json.length + buffer.length)
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(json.length), true)
  out.set(json, 8)
  out.set(buffer, 8 + json.length)
  return out
}

/** A header with one entry per tensor, given as [name, dtype, shape, begin, end]. */
const header = (...ts: [string, string, number[], number, number][]): string =>
  JSON.stringify(Object.fromEntries(ts.map(([n, dtype, shape, b, e]) => [n, { dtype, shape, data_offsets: [b, e] }])))

const right = <A>(x: E.Either<string, A>): A => {
  if (E.isLeft(x)) assert.fail(`expected success, got: ${x.left}`)
  return x.right
}

/** Decode must fail, with a message matching every pattern. */
function rejects(bytes: Uint8Array, ...patterns: RegExp[]): string {
  const result = decode(bytes, 'bad.safetensors')
  if (E.isRight(result)) assert.fail(`expected a rejection matching ${patterns.join(', ')}, but the file decoded`)
  assert.match(result.left, /^bad\.safetensors: /, 'the message names the file')
  assert.doesNotMatch(result.left, /\n/, 'the message is one line')
  for (const p of patterns) assert.match(result.left, p)
  return result.left
}

/** Float32 values from raw bit patterns, so NaN payloads, -0 and subnormals are exact. */
const fromBits = (bits: readonly number[]): Float32Array => new Float32Array(Uint32Array.from(bits).buffer)
const bitsOf = (t: Tensor): number[] => [...new Uint32Array(t.data.buffer, t.data.byteOffset, t.size)]

/** Every float32 bit pattern is fair game, with the special ones drawn often. */
const special = [0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0x7fa00001, 0xffc12345, 0x7f7fffff]
const floatBits = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(...special))

const tensorArb = fc
  .array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 })
  .chain((shape) => fc.array(floatBits, { minLength: shape.reduce((p, d) => p * d, 1), maxLength: shape.reduce((p, d) => p * d, 1) })
    .map((bits) => new Tensor(fromBits(bits), shape)))

/** Any string except the reserved one (lone surrogates included: JSON.stringify escapes them). */
const nameArb = fc.oneof(fc.string({ unit: 'binary', maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', ''))
  .filter((s) => s !== '__metadata__')

const key = fc.stringMatching(/^[a-z]{1,4}$/)
const treeArb: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tensorArb,
    fc.array(tie('tree'), { maxLength: 3 }),
    fc.dictionary(key, tie('tree'), { maxKeys: 3 }),
  ),
})).tree

// ---------------------------------------------------------------------------------------------------------------
// the exact layout
// ---------------------------------------------------------------------------------------------------------------

describe('safetensors writer', () => {
  it('writes the layout of the spec byte for byte (length prefix, JSON header, space padding, sorted tensors)', () => {
    // b inserted before a: the file still lists and stores a first
    const bytes = encode({
      tensors: new Map([['b', new Tensor(Float32Array.of(0.5), [])], ['a', new Tensor(Float32Array.of(1, -2), [2])]]),
      metadata: { k: 'v' },
    })
    const json =
      '{"__metadata__":{"k":"v"},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"F32","shape":[],"data_offsets":[8,12]}}'
    assert.equal(json.length, 132) // padded with 4 spaces to 136 = 0x88, a multiple of 8
    const expected = Uint8Array.from([
      0x88, 0, 0, 0, 0, 0, 0, 0, // u64 little-endian header length
      ...[...json].map((c) => c.charCodeAt(0)), 0x20, 0x20, 0x20, 0x20,
      0x00, 0x00, 0x80, 0x3f, // a[0] = 1.0f  = 0x3f800000, little-endian
      0x00, 0x00, 0x00, 0xc0, // a[1] = -2.0f = 0xc0000000
      0x00, 0x00, 0x00, 0x3f, // b    = 0.5f  = 0x3f000000
    ])
    assert.deepEqual(bytes, expected)
  })

  it('omits an empty __metadata__ and writes an empty file as {} padded to 8', () => {
    const bytes = encode({ tensors: new Map() })
    assert.deepEqual(bytes, Uint8Array.from([8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20]))
    assert.deepEqual(right(decode(bytes)).tensors.size, 0)
  })

  it('writes files that read back, keeping the previous one; read errors name the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'haplovl-st-'))
    try {
      const path = join(dir, 'w.safetensors')
      const contents = (v: number) => ({ tensors: new Map([['w', new Tensor(Float32Array.of(v), [1])]]), metadata: { v: `${v}` } })
      right(await writeSafetensors(path, contents(1))())
      right(await writeSafetensors(path, contents(2))())
      assert.deepEqual(await readFile(path), Buffer.from(encode(contents(2))))
      assert.deepEqual(right(await readSafetensors(`${path}.prev`)()).metadata, { v: '1' })
      const missing = await readSafetensors(join(dir, 'missing.safetensors'))()
      assert.ok(E.isLeft(missing) && /missing\.safetensors: cannot read \(ENOENT/.test(missing.left))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses the reserved name and a name used twice', () => {
    assert.throws(() => encode({ tensors: new Map([['__metadata__', new Tensor(Float32Array.of(1), [1])]]) }), /reserved/)
    const t = new Tensor(Float32Array.of(1), [1])
    const i: IntTensor = { dtype: 'I32', shape: [1], data: Int32Array.of(1) }
    assert.throws(() => encode({ tensors: new Map([['x', t]]), integers: new Map([['x', i]]) }), /'x' is used twice/)
  })
})

// ---------------------------------------------------------------------------------------------------------------
// round trips
// ---------------------------------------------------------------------------------------------------------------

describe('safetensors round trip', () => {
  it('is bit-exact for any float32 bits (NaN payloads, -0, subnormals, ±Infinity), names and metadata', () => {
    const contents = fc.record({
      tensors: fc.uniqueArray(fc.tuple(nameArb, tensorArb), { selector: ([n]) => n, maxLength: 5 }),
      metadata: fc.dictionary(nameArb, fc.string({ unit: 'binary', maxLength: 8 }), { maxKeys: 3 }),
    })
    fc.assert(
      fc.property(contents, ({ tensors, metadata }) => {
        const bytes = encode({ tensors: new Map(tensors), metadata })
        assert.equal(new DataView(bytes.buffer).getBigUint64(0, true) % 8n, 0n, 'header padded to a multiple of 8')
        const back = right(decode(bytes))
        assert.deepEqual([...back.tensors.keys()].sort(), tensors.map(([n]) => n).sort())
        for (const [name, t] of tensors) {
          const u = back.tensors.get(name)!
          assert.deepEqual(u.shape, t.shape, name)
          assert.deepEqual(bitsOf(u), bitsOf(t), name)
        }
        assert.deepEqual({ ...back.metadata }, { ...metadata })
      }),
      runs(100),
    )
  })

  it('keeps the special values by bit pattern', () => {
    const t = new Tensor(fromBits(special), [special.length])
    const back = right(decode(encode({ tensors: new Map([['s', t]]) }))).tensors.get('s')!
    assert.deepEqual(bitsOf(back), special)
    assert.ok(Object.is(back.data[1], -0) && back.data[2] === 2 ** -149 && back.data[4] === Infinity && back.data[5] === -Infinity)
  })

  it('reads and writes I32 and I64 data beside float tensors', () => {
    const ints = new Map<string, IntTensor>([
      ['rng', { dtype: 'I64', shape: [2], data: BigInt64Array.of(-1n, 2n ** 62n + 5n) }],
      ['step', { dtype: 'I32', shape: [], data: Int32Array.of(123456) }],
    ])
    const back = right(decode(encode({ tensors: new Map([['w', new Tensor(Float32Array.of(1, 2), [1, 2])]]), integers: ints })))
    assert.deepEqual(back.integers, ints)
    assert.deepEqual([...back.tensors.get('w')!.data], [1, 2])
  })

  it('reads offsets that are not 4-byte aligned (a header padded by another writer, or not at all)', () => {
    const h = header(['x', 'F32', [2], 0, 8]) + ' ' // 8 + 53 bytes: the buffer starts at an odd offset
    const buffer = new Uint8Array(fromBits([0x3f800000, 0x80000000]).buffer)
    const back = right(decode(file(h, buffer)))
    assert.deepEqual(bitsOf(back.tensors.get('x')!), [0x3f800000, 0x80000000])
  })

  it('reads from a Node Buffer that is a view into a larger allocation, without touching it', () => {
    const bytes = encode({ tensors: new Map([['x', new Tensor(Float32Array.of(1, 2, 3), [3])]]) })
    const pool = Buffer.concat([Buffer.from([9, 9, 9]), Buffer.from(bytes), Buffer.from([7])])
    const view = pool.subarray(3, 3 + bytes.length)
    const x = right(decode(view)).tensors.get('x')!
    assert.deepEqual([...x.data], [1, 2, 3])
    assert.equal(x.data.buffer.byteLength, 12, 'the tensor owns exactly its bytes')
    assert.deepEqual(new Uint8Array(view), bytes, 'the input is unchanged')
  })

  it('rejects every strict prefix of a valid file and never throws on corrupted bytes', () => {
    const valid = fc.uniqueArray(fc.tuple(nameArb, tensorArb), { selector: ([n]) => n, minLength: 1, maxLength: 3 })
      .map((ts) => encode({ tensors: new Map(ts), metadata: { a: 'b' } }))
    fc.assert(
      fc.property(valid, fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), (bytes, cut, flips) => {
        assert.ok(E.isLeft(decode(bytes.subarray(0, cut % bytes.length))))
        const corrupt = bytes.slice()
        for (const [at, v] of flips) corrupt[at % corrupt.length] = v
        const result = decode(corrupt) // left or right, but no exception
        assert.ok(E.isLeft(result) || E.isRight(result))
      }),
      runs(200),
    )
  })
})

// ---------------------------------------------------------------------------------------------------------------
// malformed files
// ---------------------------------------------------------------------------------------------------------------

describe('safetensors reader rejects', () => {
  const four = new Uint8Array(4)

  it('a file shorter than 8 bytes', () => {
    rejects(new Uint8Array(5), /5 bytes is too short/)
  })

  it('a header length longer than the file, or over 100 MB', () => {
    rejects(file('{}', new Uint8Array(0), 100n), /header length 100 is longer than the file \(2 bytes after the length\)/)
    rejects(file('{}', new Uint8Array(0), BigInt(MAX_HEADER_BYTES) + 1n), /larger than the 104857600-byte limit/)
    rejects(file('{}', new Uint8Array(0), 2n ** 64n - 1n), /larger than the .*limit/)
  })

  it('a header that is not UTF-8, not JSON, or not an object', () => {
    const bytes = file('{"a":1}')
    bytes[10] = 0xff
    rejects(bytes, /not valid UTF-8/)
    rejects(file('{"a":'), /header is not valid JSON/)
    rejects(file(''), /header is not valid JSON/)
    rejects(file('[1, 2]'), /header must be a JSON object, found an array/)
    rejects(file('"text"'), /header must be a JSON object, found "text"/)
    rejects(file('null'), /must be a JSON object, found null/)
  })

  it('an entry that is not an object, or has unexpected fields', () => {
    rejects(file('{"w": 3}'), /tensor 'w': entry must be an object, found 3/)
    rejects(file('{"w":{"dtype":"F32","shape":[],"data_offsets":[0,4],"extra":1}}', four), /tensor 'w': unexpected field 'extra'/)
  })

  it('an unknown dtype', () => {
    rejects(file(header(['w', 'F16', [2], 0, 4]), four), /tensor 'w': unknown dtype "F16" \(supported: F32, I32, I64\)/)
    rejects(file('{"w":{"shape":[1],"data_offsets":[0,4]}}', four), /tensor 'w': unknown dtype undefined/)
  })

  it('a shape that is not a list of non-negative integers', () => {
    for (const shape of ['[2,-1]', '[1.5]', '"2"', '[true]', '[null]', '{}'])
      rejects(file(`{"w":{"dtype":"F32","shape":${shape},"data_offsets":[0,4]}}`, four),
        /tensor 'w': shape must be a list of non-negative integers/, new RegExp(`found ${shape.replace(/[[\]{}.]/g, '\\$&')}`))
  })

  it('data_offsets that are not [begin, end] integers with begin ≤ end', () => {
    for (const offsets of ['[0]', '[0,4,8]', '[4,0]', '[0,"4"]', '[0.5,4]', '[-4,0]', '"0-4"', 'null'])
      rejects(file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":${offsets}}}`, four),
        /tensor 'w': data_offsets must be \[begin, end\], integers with begin ≤ end/)
  })

  it('a byte range whose size does not match shape × dtype size', () => {
    rejects(file(header(['w', 'F32', [3], 0, 8]), new Uint8Array(8)), /tensor 'w': data_offsets \[0, 8\] hold 8 bytes but F32 shape \[3\] needs 12/)
    rejects(file(header(['w', 'I64', [2], 0, 8]), new Uint8Array(8)), /I64 shape \[2\] needs 16/)
  })

  it('a range out of the buffer', () => {
    rejects(file(header(['w', 'F32', [4], 0, 16]), new Uint8Array(8)), /tensor 'w': data_offsets \[0, 16\] run past the end of the data buffer \(8 bytes\)/)
  })

  it('overlapping ranges', () => {
    rejects(file(header(['a', 'F32', [2], 0, 8], ['b', 'F32', [2], 4, 12]), new Uint8Array(12)),
      /tensors 'a' \[0, 8\) and 'b' \[4, 12\) overlap/)
    rejects(file(header(['a', 'F32', [1], 0, 4], ['b', 'F32', [1], 0, 4]), new Uint8Array(4)), /'a' .* and 'b' .* overlap/)
  })

  it('holes: before the first tensor, between two, and at the end', () => {
    rejects(file(header(['a', 'F32', [1], 4, 8]), new Uint8Array(8)), /bytes \[0, 4\) of the data buffer belong to no tensor \(a hole before 'a'\)/)
    rejects(file(header(['a', 'F32', [1], 0, 4], ['b', 'F32', [1], 8, 12]), new Uint8Array(12)), /bytes \[4, 8\) .* hole before 'b'/)
    rejects(file(header(['a', 'F32', [1], 0, 4]), new Uint8Array(8)), /bytes \[4, 8\) at the end of the data buffer belong to no tensor/)
  })

  it('accepts empty tensors sharing an offset (they tile nothing)', () => {
    const back = right(decode(file(header(['e', 'F32', [0, 3], 0, 0], ['a', 'F32', [1], 0, 4], ['z', 'F32', [2, 0], 4, 4]), four)))
    assert.deepEqual(back.tensors.get('z')!.shape, [2, 0])
  })

  it('duplicate tensor names, which JSON.parse would drop silently', () => {
    const entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
    rejects(file(`{"a":${entry},"a":${entry}}`, four), /duplicate tensor name 'a' in the header/)
    // an escaped key, and a key equal to a string seen elsewhere as a value, are told apart correctly
    rejects(file(`{"q\\"x":${entry}, "__metadata__":{"k":"q\\"x"} ,"q\\u0022x" :${entry}}`, four), /duplicate tensor name 'q"x'/)
    right(decode(file(`{"__metadata__":{"a":"a","b":"[{,"},"a":${entry}}`, four)))
  })

  it('duplicate keys inside __metadata__ or a tensor entry', () => {
    rejects(file(`{"__metadata__":{"k":"1","k":"2"}}`), /duplicate key 'k' in '__metadata__'/)
    rejects(file(`{"w":{"dtype":"F32","shape":[1],"shape":[1],"data_offsets":[0,4]}}`, four), /duplicate key 'shape' in 'w'/)
  })

  it('__metadata__ that is not a string → string map', () => {
    rejects(file('{"__metadata__":{"step":3}}'), /'__metadata__' value of 'step' must be a string, found 3/)
    rejects(file('{"__metadata__":["a"]}'), /'__metadata__' must be an object of strings, found \["a"\]/)
    rejects(file('{"__metadata__":null}'), /'__metadata__' must be an object of strings, found null/)
  })
})

// ---------------------------------------------------------------------------------------------------------------
// parameter trees
// ---------------------------------------------------------------------------------------------------------------

describe('loadInto', () => {
  const t = (shape: number[], fill = 0) => new Tensor(new Float32Array(shape.reduce((p, d) => p * d, 1)).fill(fill), shape)
  const template = { blocks: [{ w: t([2, 3]), b: t([3]) }], head: t([3, 4]) }
  const found = (tensors: [string, Tensor][]) => loadInto(template, new Map(tensors), { source: 'ckpt.safetensors' })

  it('round-trips generated trees through a file, bit-exact and with the same structure', () => {
    fc.assert(
      fc.property(treeArb, (tree) => {
        const file: Safetensors = right(decode(encode({ tensors: right(fromTree(tree)) })))
        const back = right(loadInto(tree, file.tensors))
        assert.deepEqual(entries(back).map(([p, x]) => [p, x.shape, bitsOf(x)]), entries(tree).map(([p, x]) => [p, x.shape, bitsOf(x)]))
        // same nesting: arrays stay arrays, records keep their keys
        assert.deepEqual(JSON.stringify(back, (_, v) => (v instanceof Tensor ? 0 : v)), JSON.stringify(tree, (_, v) => (v instanceof Tensor ? 0 : v)))
      }),
      runs(100),
    )
  })

  it('fills the template with the given tensors (the template is only read for shapes)', () => {
    const w = t([2, 3], 1), b = t([3], 2), head = t([3, 4], 3)
    const out = right(found([['blocks.0.w', w], ['blocks.0.b', b], ['head', head]]))
    assert.equal(out.blocks[0]!.w, w)
    assert.equal(out.head, head)
    // only shapes are read, so a template of disposed tensors serves as well
    const shapesOnly = { head: t([3, 4]) }
    shapesOnly.head.dispose()
    assert.equal(right(loadInto(shapesOnly, new Map([['head', head]]))).head, head)
  })

  it('reports missing, extra and mismatched tensors together, on one line', () => {
    const result = found([['blocks.0.w', t([3, 2])], ['head', t([3, 4])], ['lm_head', t([1])]])
    assert.ok(E.isLeft(result))
    assert.equal(result.left,
      "ckpt.safetensors: missing tensor 'blocks.0.b'; extra tensor 'lm_head'; shape mismatch: 'blocks.0.w' expected [2, 3], found [3, 2]")
  })

  it('shortens long lists', () => {
    const many = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`p${i}`, t([1])]))
    const result = loadInto(many, new Map())
    assert.ok(E.isLeft(result))
    assert.match(result.left, /missing tensors 'p0', 'p1', 'p2', 'p3', 'p4' \(and 3 more\)/)
  })

  it('uses the caller’s names, and refuses a mapping that sends two paths to one name', () => {
    const hf = (path: string) => path.replace(/^blocks\.(\d+)\./, 'model.layers.$1.').replace(/^head$/, 'lm_head.weight')
    const out = loadInto(template, new Map([['model.layers.0.w', t([2, 3])], ['model.layers.0.b', t([3])], ['lm_head.weight', t([3, 4])]]), { names: hf })
    assert.ok(E.isRight(out))
    const result = loadInto(template, new Map(), { names: () => 'same' })
    assert.ok(E.isLeft(result))
    assert.match(result.left, /parameters '.*' and '.*' both map to the name 'same'/)
    assert.ok(E.isLeft(fromTree(template, () => 'same')))
  })
})
