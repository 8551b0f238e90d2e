import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'
import { Tensor, entries, treeMap, type Tree } from '../../src/index.ts'
import { decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint, type Checkpoint } from '../../src/io/checkpoint.ts'
import { decode, encode } from '../../src/io/safetensors.ts'
import { commit, previousPath, writeTemp } from '../../src/io/atomic.ts'
import { runs } from '../helpers/arbitraries.ts'

// ---------------------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------------------

const right = <A>(x: E.Either<string, A>): A => {
  if (E.isLeft(x)) assert.fail(`expected success, got: ${x.left}`)
  return x.right
}
const left = <A>(x: E.Either<string, A>): string => {
  if (E.isRight(x)) assert.fail('expected a failure, got success')
  return x.left
}

const bitsOf = (t: Tensor): number[] => [...new Uint32Array(t.data.buffer, t.data.byteOffset, t.size)]
/** Path, shape and exact bits of every leaf. */
const fingerprint = (tree: Tree) => entries(tree).map(([p, t]) => [p, t.shape, bitsOf(t)])

const fromBits = (bits: readonly number[], shape: number[]) => new Tensor(new Float32Array(Uint32Array.from(bits).buffer), shape)
const special = [0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0x7fa00001, 0xffc12345]
const floatBits = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(...special))
const leaf = (shape: number[]) => fc.array(floatBits, { minLength: shape.reduce((p, d) => p * d, 1), maxLength: shape.reduce((p, d) => p * d, 1) }).map((b) => fromBits(b, shape))

/** A small model-like tree: a list of blocks and a head, shapes drawn once, values drawn per tree. */
const shapes = fc.record({ layers: fc.integer({ min: 0, max: 3 }), c: fc.integer({ min: 1, max: 4 }), v: fc.integer({ min: 1, max: 5 }) })
const modelOf = ({ layers, c, v }: { layers: number; c: number; v: number }) =>
  fc.record({
    blocks: fc.array(fc.record({ attn: fc.record({ wq: leaf([c, c]), bq: leaf([c]) }), norm: leaf([c]) }), { minLength: layers, maxLength: layers }),
    head: leaf([c, v]),
    temperature: leaf([]),
  })

const t = (shape: number[], fill = 0) => new Tensor(new Float32Array(shape.reduce((p, d) => p * d, 1)).fill(fill), shape)
const small = () => ({ w: t([2, 2], 1), b: t([2], 2) })
const adam = (p: Tree, step: number) => ({ step, m: treeMap(p, (x) => t([...x.shape], 0.25)), v: treeMap(p, (x) => t([...x.shape], 0.5)) })

let dir = ''
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haplovl-ckpt-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

// ---------------------------------------------------------------------------------------------------------------
// round trips
// ---------------------------------------------------------------------------------------------------------------

describe('checkpoint round trip', () => {
  it('is bit-exact for params, AdamW moments, step and run info (any float32 bits)', () => {
    const cases = shapes.chain((s) => fc.tuple(modelOf(s), modelOf(s), modelOf(s), fc.nat(), fc.string(), fc.boolean()))
    fc.assert(
      fc.property(cases, ([params, m, v, step, rng, withOptimizer]) => {
        const metadata = { step, rng, config: { width: params.head.shape[0]!, name: 'tiny', lr: 1e-4, betas: [0.9, 0.95], notes: null } }
        const saved: Checkpoint<typeof params> = withOptimizer ? { params, optimizer: { step, m, v }, metadata } : { params, metadata }
        const back = right(decodeCheckpoint(right(encodeCheckpoint(saved)), params))
        assert.deepEqual(fingerprint(back.params), fingerprint(params))
        assert.deepEqual(back.metadata, metadata)
        if (withOptimizer) {
          assert.equal(back.optimizer?.step, step)
          assert.deepEqual(fingerprint(back.optimizer!.m), fingerprint(m))
          assert.deepEqual(fingerprint(back.optimizer!.v), fingerprint(v))
        } else assert.equal(back.optimizer, undefined)
      }),
      runs(60),
    )
  })

  it('lays the file out as documented: params by name, optimizer.m./optimizer.v., metadata as JSON strings', () => {
    const params = small()
    const bytes = right(encodeCheckpoint({ params, optimizer: adam(params, 7), metadata: { step: 7, rng: 'abc123', config: { c: 2 } } }))
    const file = right(decode(bytes))
    assert.deepEqual([...file.tensors.keys()].sort(), ['b', 'optimizer.m.b', 'optimizer.m.w', 'optimizer.v.b', 'optimizer.v.w', 'w'])
    assert.deepEqual(file.metadata, {
      format: 'pt', 'haplovl.checkpoint': '1', step: '7', rng: '"abc123"', config: '{"c":2}', 'optimizer.step': '7',
    })
  })

  it('names tensors through the caller’s mapping, for loading and saving alike', () => {
    const hf = (path: string) => ({ w: 'model.weight', b: 'model.bias' })[path] ?? path
    const params = small()
    const bytes = right(encodeCheckpoint({ params, optimizer: adam(params, 1), metadata: {} }, { names: hf }))
    assert.deepEqual([...right(decode(bytes)).tensors.keys()].sort(),
      ['model.bias', 'model.weight', 'optimizer.m.model.bias', 'optimizer.m.model.weight', 'optimizer.v.model.bias', 'optimizer.v.model.weight'])
    assert.deepEqual(fingerprint(right(decodeCheckpoint(bytes, params, { names: hf })).params), fingerprint(params))
  })
})

// ---------------------------------------------------------------------------------------------------------------
// what saving refuses
// ---------------------------------------------------------------------------------------------------------------

describe('encodeCheckpoint refuses', () => {
  it('moments not shaped like the parameters', () => {
    const params = small()
    const message = left(encodeCheckpoint({ params, optimizer: { step: 1, m: { w: t([2, 2]), b: t([3]) }, v: params }, metadata: {} }))
    assert.match(message, /'optimizer\.m\.b' expected \[2\], found \[3\]/)
    assert.match(message, /moments must be shaped like the parameters/)
    assert.match(left(encodeCheckpoint({ params, optimizer: { step: 1, m: { w: t([2, 2]) } as never, v: params }, metadata: {} })),
      /missing tensor 'optimizer\.m\.b'/)
  })

  it('a bad step, reserved metadata keys, and metadata that JSON cannot hold', () => {
    const params = small()
    assert.match(left(encodeCheckpoint({ params, optimizer: { ...adam(params, 0), step: 1.5 }, metadata: {} })), /step must be a non-negative integer, found 1.5/)
    assert.match(left(encodeCheckpoint({ params, optimizer: { ...adam(params, 0), step: -1 }, metadata: {} })), /found -1/)
    for (const key of ['format', 'haplovl.x', 'optimizer.step']) assert.match(left(encodeCheckpoint({ params, metadata: { [key]: 1 } })), new RegExp(`metadata key '${key}' is reserved`))
    assert.match(left(encodeCheckpoint({ params, metadata: { config: { lr: NaN } } })), /metadata\.config\.lr is NaN, which JSON cannot hold/)
    assert.match(left(encodeCheckpoint({ params, metadata: { seen: new Map() } })), /metadata\.seen is a Map/)
    assert.match(left(encodeCheckpoint({ params, metadata: { x: [1, undefined] } })), /metadata\.x\[1\] is undefined/)
    assert.match(left(encodeCheckpoint({ params, metadata: { n: 1n } })), /metadata\.n is a bigint/)
  })

  it('parameter names under the optimizer prefix', () => {
    assert.match(left(encodeCheckpoint({ params: { optimizer: { lr: t([1]) } }, metadata: {} })), /parameter name 'optimizer\.lr' uses the prefix 'optimizer\.'/)
  })
})

// ---------------------------------------------------------------------------------------------------------------
// what loading refuses
// ---------------------------------------------------------------------------------------------------------------

describe('decodeCheckpoint refuses', () => {
  const params = small()
  const withOptimizer = right(encodeCheckpoint({ params, optimizer: adam(params, 3), metadata: { step: 3 } }))
  const load = (bytes: Uint8Array, template: Tree = params) => left(decodeCheckpoint(bytes, template, { source: 'run.safetensors' }))

  it('a template that does not match: expected …, found …', () => {
    assert.equal(load(withOptimizer, { w: t([2, 3]), b: t([2]) }),
      "run.safetensors: shape mismatch: 'optimizer.m.w' expected [2, 3], found [2, 2]; 'optimizer.v.w' expected [2, 3], found [2, 2]; 'w' expected [2, 3], found [2, 2]")
    assert.match(load(withOptimizer, { w: t([2, 2]), b: t([2]), extra: t([1]) }), /missing tensors 'extra', 'optimizer\.m\.extra', 'optimizer\.v\.extra'/)
    assert.match(load(withOptimizer, { w: t([2, 2]) }), /extra tensors 'b', 'optimizer\.m\.b', 'optimizer\.v\.b'/)
  })

  it('optimizer state without its step, and a step without the moments', () => {
    const noStep = encode({ tensors: new Map([['w', t([2, 2])], ['b', t([2])], ['optimizer.m.w', t([2, 2])]]) })
    assert.match(load(noStep), /extra tensor 'optimizer\.m\.w' \(optimizer tensors but no 'optimizer\.step' in __metadata__\)/)
    const noMoments = encode({ tensors: new Map([['w', t([2, 2])], ['b', t([2])]]), metadata: { 'optimizer.step': '4' } })
    assert.match(load(noMoments), /missing tensors 'optimizer\.m\.b', 'optimizer\.m\.w', 'optimizer\.v\.b', 'optimizer\.v\.w'/)
  })

  it('a bad step, bad metadata JSON, an unknown layout version, integer tensors', () => {
    const tensors = new Map([['w', t([2, 2])], ['b', t([2])]])
    assert.match(load(encode({ tensors, metadata: { 'optimizer.step': '-3' } })), /'optimizer\.step' must be a non-negative integer, found "-3"/)
    assert.match(load(encode({ tensors, metadata: { 'optimizer.step': '1e3' } })), /found "1e3"/)
    assert.match(load(encode({ tensors, metadata: { config: '{width: 2}' } })), /metadata 'config' is not valid JSON: "\{width: 2\}"/)
    assert.match(load(encode({ tensors, metadata: { 'haplovl.checkpoint': '2' } })), /layout version '2' is not supported/)
    assert.match(load(encode({ tensors, integers: new Map([['seed', { dtype: 'I64', shape: [], data: BigInt64Array.of(1n) }]]) })), /unexpected integer tensor 'seed'/)
  })

  it('whatever the safetensors reader rejects, naming the file', () => {
    const cut = withOptimizer.subarray(0, withOptimizer.length - 1)
    assert.match(load(cut), /^run\.safetensors: bytes \[\d+, \d+\) at the end of the data buffer belong to no tensor|^run\.safetensors: tensor '.*': data_offsets .* run past the end/)
  })

  it('reads a plain safetensors file (no haplovl metadata) as parameters', () => {
    const back = right(decodeCheckpoint(encode({ tensors: new Map([['w', t([2, 2], 5)], ['b', t([2], 6)]]) }), params))
    assert.deepEqual([...back.params.w.data], [5, 5, 5, 5])
    assert.deepEqual(back.metadata, {})
  })
})

// ---------------------------------------------------------------------------------------------------------------
// files: atomic replacement, the previous version, crashes
// ---------------------------------------------------------------------------------------------------------------

describe('checkpoint files', () => {
  const paramsWith = (fill: number) => ({ w: t([2, 2], fill), b: t([2], fill) })
  const valueIn = async (path: string) => right(await loadCheckpoint(path, paramsWith(0))()).params.w.data[0]

  it('saves and loads through the file system, bit-exact', async () => {
    const path = join(dir, 'roundtrip.safetensors')
    const params = { w: fromBits(special.slice(0, 4), [2, 2]), b: fromBits(special.slice(4, 6), [2]) }
    right(await saveCheckpoint(path, { params, optimizer: adam(params, 9), metadata: { rng: 'state-words' } })())
    const back = right(await loadCheckpoint(path, params)())
    assert.deepEqual(fingerprint(back.params), fingerprint(params))
    assert.equal(back.optimizer?.step, 9)
    assert.deepEqual(back.metadata, { rng: 'state-words' })
  })

  it('keeps the previous file as NAME.prev, and leaves no temp files behind', async () => {
    const path = join(dir, 'keep.safetensors')
    right(await saveCheckpoint(path, { params: paramsWith(1), metadata: {} })())
    assert.equal(await valueIn(path), 1)
    right(await saveCheckpoint(path, { params: paramsWith(2), metadata: {} })())
    right(await saveCheckpoint(path, { params: paramsWith(3), metadata: {} })())
    assert.equal(await valueIn(path), 3)
    assert.equal(await valueIn(previousPath(path)), 2)
    assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('.keep')), [])
  })

  it('a crash after the temp file is written but before the rename leaves the old checkpoint readable', async () => {
    const path = join(dir, 'crash.safetensors')
    right(await saveCheckpoint(path, { params: paramsWith(1), metadata: {} })())
    right(await saveCheckpoint(path, { params: paramsWith(2), metadata: {} })())
    const before = await readFile(path)
    // the crash: step 1 of the atomic write happens, step 2 never does
    const temp = await writeTemp(path, right(encodeCheckpoint({ params: paramsWith(3), metadata: {} })))
    assert.deepEqual(await readFile(path), before)
    assert.equal(await valueIn(path), 2)
    assert.equal(await valueIn(previousPath(path)), 1)
    // the next save works despite the stray temp file, and recovery can finish the interrupted one too
    right(await saveCheckpoint(path, { params: paramsWith(4), metadata: {} })())
    assert.equal(await valueIn(path), 4)
    assert.equal(await valueIn(previousPath(path)), 2)
    await commit(temp, path)
    assert.equal(await valueIn(path), 3)
    assert.equal(await valueIn(previousPath(path)), 4)
  })

  it('a crash half-way through a plain (non-atomic) write would have torn the file: the reader says so', async () => {
    const path = join(dir, 'torn.safetensors')
    const bytes = right(encodeCheckpoint({ params: paramsWith(1), metadata: {} }))
    await writeFile(path, bytes.subarray(0, bytes.length - 3))
    assert.match(left(await loadCheckpoint(path, paramsWith(0))()), /torn\.safetensors: /)
  })

  it('a crash between keeping NAME.prev and moving the new file in still leaves NAME readable', async () => {
    // commit links NAME to NAME.prev before renaming: simulate stopping right after that link
    const path = join(dir, 'between.safetensors')
    right(await saveCheckpoint(path, { params: paramsWith(1), metadata: {} })())
    const { link, unlink } = await import('node:fs/promises')
    await unlink(previousPath(path)).catch(() => undefined)
    await link(path, previousPath(path))
    assert.equal(await valueIn(path), 1)
    assert.equal(await valueIn(previousPath(path)), 1)
    right(await saveCheckpoint(path, { params: paramsWith(2), metadata: {} })())
    assert.equal(await valueIn(path), 2)
    assert.equal(await valueIn(previousPath(path)), 1)
    assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('.between')), [])
  })

  it('reports a missing file and an unwritable directory as errors, not exceptions', async () => {
    assert.match(left(await loadCheckpoint(join(dir, 'nope.safetensors'), paramsWith(0))()), /nope\.safetensors: cannot read \(ENOENT/)
    assert.match(left(await saveCheckpoint(join(dir, 'no-such-dir', 'x.safetensors'), { params: paramsWith(0), metadata: {} })()), /x\.safetensors: cannot write \(ENOENT/)
  })
})
