import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { Jimp } from 'jimp'
import * as E from 'fp-ts/lib/Either.js'
import * as Scene from '../../src/data/scene.ts'
import * as Random from '../../src/data/random.ts'
import { runs } from '../helpers/arbitraries.ts'

const SPLITS = ['train', 'eval', 'fine'] as const
const splitArb = fc.constantFrom(...SPLITS)
const indexArb = fc.integer({ min: 0, max: 2 ** 29 - 1 })

describe('random streams', () => {
  it('are reproducible and depend on the seed', () => {
    const draw = (seed: number) => {
      const r = Random.stream(seed)
      return Array.from({ length: 8 }, () => r.u32())
    }
    assert.deepEqual(draw(7), draw(7))
    assert.notDeepEqual(draw(7), draw(8))
    assert.notEqual(Random.hash(1, 2), Random.hash(2, 1))
  })
  it('int stays in range and covers it', () => {
    const r = Random.stream(3)
    const seen = new Set<number>()
    for (let k = 0; k < 2000; k++) {
      const v = r.int(-2, 3)
      assert.ok(Number.isInteger(v) && v >= -2 && v <= 3)
      seen.add(v)
    }
    assert.equal(seen.size, 6)
  })
})

describe('scene generation', () => {
  it('the same seed gives the same scene, different seeds different scenes', () => {
    fc.assert(
      fc.property(splitArb, indexArb, (split, i) => {
        const a = Scene.sceneAt(split, i), b = Scene.sceneAt(split, i)
        assert.deepEqual(a, b)
        const c = Scene.sceneAt(split, i === 0 ? 1 : i - 1)
        assert.notDeepEqual(a.objects, c.objects)
      }),
      runs(100),
    )
  })

  it('train, eval and fine seeds are disjoint by construction, and seeds give back their split', () => {
    fc.assert(
      fc.property(splitArb, indexArb, splitArb, indexArb, (s1, i1, s2, i2) => {
        if (s1 !== s2) assert.notEqual(Scene.seedOf(s1, i1), Scene.seedOf(s2, i2))
        assert.equal(Scene.splitOf(Scene.seedOf(s1, i1)), s1)
        assert.ok(Scene.seedOf(s1, i1) < 2 ** 31)
      }),
      runs(500),
    )
    assert.throws(() => Scene.seedOf('train', -1), RangeError)
    assert.throws(() => Scene.seedOf('train', 2 ** 29), RangeError)
  })

  it('no held-out scene has the content of a training scene', () => {
    const train = new Set<string>()
    for (let i = 0; i < 4000; i++) {
      const s = Scene.sceneAt('train', i)
      assert.equal(Scene.isHeldOutContent(s), false)
      train.add(Scene.contentKey(s))
    }
    for (const split of ['eval', 'fine'] as const)
      for (let i = 0; i < 1000; i++) {
        const s = Scene.sceneAt(split, i)
        assert.equal(Scene.isHeldOutContent(s), true)
        assert.equal(train.has(Scene.contentKey(s)), false)
      }
  })

  it('objects are inside the image, apart from each other, in an unambiguous cell, and of their nominal size', () => {
    const counts = new Map<number, number>()
    let edge = 0, corner = 0, total = 0
    for (const split of SPLITS)
      for (let i = 0; i < 500; i++) {
        const s = Scene.sceneAt(split, i)
        const n = s.objects.length
        assert.ok(n >= 1 && n <= 6, `scene ${s.seed} has ${n} objects`)
        counts.set(n, (counts.get(n) ?? 0) + 1)
        for (const [k, o] of s.objects.entries()) {
          assert.ok(o.x - o.half >= 0 && o.x + o.half <= 1 && o.y - o.half >= 0 && o.y + o.half <= 1, `object ${k} of ${s.seed} leaves the image`)
          assert.equal(o.half, Scene.HALF[o.size])
          for (const t of [o.x - o.half, o.y - o.half]) assert.ok(Math.abs(t * Scene.GRID - Math.round(t * Scene.GRID)) < 1e-9, `object ${k} of ${s.seed} is off the lattice`)
          for (const t of [o.x, o.y]) assert.ok(Math.abs(t - 1 / 3) >= Scene.THIRD_MARGIN && Math.abs(t - 2 / 3) >= Scene.THIRD_MARGIN)
          for (const p of s.objects.slice(k + 1)) assert.ok(Scene.apart(o, p), `objects of ${s.seed} overlap`)
          const t = Scene.touches(o)
          total++
          if (t.left || t.right || t.top || t.bottom) edge++
          if ((t.left || t.right) && (t.top || t.bottom)) corner++
        }
      }
    for (let n = 1; n <= 6; n++) assert.ok((counts.get(n) ?? 0) > 50, `too few scenes with ${n} objects`)
    assert.ok(edge / total > 0.25 && corner / total > 0.08, `edge ${edge / total}, corner ${corner / total}`)
  })

  it('the fine split has more small objects and more objects on borders', () => {
    const stats = (split: 'eval' | 'fine') => {
      let small = 0, edge = 0, n = 0
      for (let i = 0; i < 300; i++)
        for (const o of Scene.sceneAt(split, i).objects) (n++, (small += +(o.size === 'small')), (edge += +Scene.atEdge(o)))
      return { small: small / n, edge: edge / n }
    }
    const e = stats('eval'), f = stats('fine')
    assert.ok(f.small > e.small + 0.1 && f.edge > e.edge + 0.1, JSON.stringify({ e, f }))
  })
})

describe('rendering', () => {
  it('is deterministic to the byte and differs between seeds', () => {
    for (let i = 0; i < 20; i++) {
      const s = Scene.sceneAt('train', i)
      const a = Scene.render(s), b = Scene.render(Scene.sceneAt('train', i))
      assert.deepEqual(Buffer.from(a.buffer), Buffer.from(b.buffer))
      assert.notDeepEqual(Buffer.from(a.buffer), Buffer.from(Scene.render(Scene.sceneAt('train', i + 1)).buffer))
    }
  })

  it('gives (size, size, 3) values in [0, 1] for any size', () => {
    for (const size of [16, 32, 48]) {
      const px = Scene.render(Scene.sceneAt('eval', size), size)
      assert.equal(px.length, size * size * 3)
      assert.ok(px.every((v) => v >= 0 && v <= 1))
    }
  })

  it('draws every object where the scene says, small ones visible at 32×32', () => {
    const size = 32
    for (const split of ['train', 'fine'] as const)
      for (let i = 0; i < 150; i++) {
        const s = Scene.sceneAt(split, i)
        const px = Scene.render(s, size)
        for (const o of s.objects) {
          // the pixel holding the centre is mostly inside the shape: close to the object's colour
          const j = Math.min(size - 1, Math.floor(o.x * size)), r = Math.min(size - 1, Math.floor(o.y * size))
          const got = [0, 1, 2].map((c) => px[(r * size + j) * 3 + c])
          const want = Scene.PALETTE[o.color].map((c) => Math.min(1, Math.max(0, c + o.tint)))
          const err = Math.max(...got.map((g, c) => Math.abs(g - want[c])))
          assert.ok(err < 0.15, `${split} ${i}: ${o.size} ${o.color} ${o.shape} centre pixel ${got.map((g) => g.toFixed(2))} vs ${want.map((g) => g.toFixed(2))}`)
        }
      }
  })

  it("an object's cells are the patches of 4×4 pixels that its drawing changes", () => {
    const size = 32, patch = size / Scene.GRID
    for (let i = 0; i < 60; i++) {
      const s = Scene.sceneAt('train', i)
      const background = Scene.render({ ...s, objects: [] }, size)
      for (const o of s.objects) {
        const px = Scene.render({ ...s, objects: [o] }, size)
        const changed = new Set<number>()
        for (let p = 0; p < size * size; p++)
          if ([0, 1, 2].some((c) => px[p * 3 + c] !== background[p * 3 + c])) changed.add(Math.floor(p / size / patch) * Scene.GRID + Math.floor((p % size) / patch))
        assert.deepEqual([...Scene.cellsOf(o)].sort((a, b) => a - b), [...changed].sort((a, b) => a - b), `train ${i}: ${o.size} ${o.shape}`)
      }
    }
  })

  it('writes a PNG that reads back as the rendered pixels', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'haplovl-scene-'))
    try {
      const s = Scene.sceneAt('train', 5)
      const path = join(dir, 'scene.png')
      assert.ok(E.isRight(await Scene.writeScenePng(s, path, 32)()))
      const back = await Jimp.read(path)
      assert.deepEqual(Buffer.from(back.bitmap.data), Buffer.from(Scene.toJimp(s, 32).bitmap.data))
      const bad = await Scene.writeScenePng(s, join(dir, 'no-such-dir', 'x.png'))()
      assert.ok(E.isLeft(bad) && bad.left.includes('no-such-dir') && !bad.left.includes('\n'))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
