/** Loss curves: reading JSON-lines logs, smoothing, axes, and a PNG whose pixels show the curves where they belong. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Jimp } from 'jimp'
import * as E from 'fp-ts/lib/Either.js'
import * as Curves from '../../src/plot/curves.ts'

const record = (stage: string, step: number, loss: number, terms?: object) =>
  JSON.stringify({ stage, step, loss, ...(terms ? { terms } : {}), lr: 1e-3, gradNorm: 1, tokens: 100, seconds: 0.1 })

const parsed = (text: string) => {
  const r = Curves.parseLog(text, 'x.jsonl')
  assert.ok(E.isRight(r), E.isLeft(r) ? r.left : '')
  return r.right
}

describe('logs', () => {
  it('reads records, skips blank lines and a last line cut short', () => {
    const rs = parsed(`${record('a', 0, 2)}\n\n${record('a', 1, 1)}\n{"stage":"a","st`)
    assert.deepEqual(rs.map((r) => r.step), [0, 1])
  })

  it('names the line that is not a step record', () => {
    for (const bad of ['not json', '{"stage":"a","step":1}', '[1,2]']) {
      const r = Curves.parseLog(`${record('a', 0, 2)}\n${bad}\n${record('a', 1, 1)}\n`, 'x.jsonl')
      assert.ok(E.isLeft(r) && r.left.startsWith('x.jsonl:2:'), String(E.isLeft(r) && r.left))
    }
  })

  it('groups by stage in order of appearance; a repeated step (a resumed run) keeps the later record', () => {
    const panels = Curves.panelsOf(parsed([record('s1', 0, 5), record('s1', 1, 4), record('s2', 0, 9), record('s1', 1, 3.5), record('s1', 2, 3)].join('\n')))
    assert.deepEqual(panels.map((p) => p.stage), ['s1', 's2'])
    assert.deepEqual(panels[0]!.series[0], { name: 'loss', steps: [0, 1, 2], values: [5, 3.5, 3] })
  })

  it('makes a series of each numeric term, nested ones with dotted names, and skips non-finite values', () => {
    const [panel] = Curves.panelsOf(parsed([record('s', 0, 3, { vision: 1, more: { a: 2 }, note: 'x' }), record('s', 1, 2, { vision: 0.5 })].join('\n')))
    assert.deepEqual(panel!.series.map((s) => s.name), ['loss', 'vision', 'more.a'])
    assert.deepEqual(panel!.series[2]!.steps, [0])
    const [nan] = Curves.panelsOf([{ stage: 's', step: 0, loss: NaN, lr: 0, gradNorm: 0, tokens: 0, seconds: 0 }])
    assert.deepEqual(nan!.series[0]!.values, [])
  })
})

describe('smoothing and axes', () => {
  it('EMA: β = 0 is the identity, a constant stays constant (debiased), and it lags a step', () => {
    assert.deepEqual(Curves.ema([3, 1, 4], 0), [3, 1, 4])
    for (const v of Curves.ema([2, 2, 2, 2], 0.9)) assert.ok(Math.abs(v - 2) < 1e-12)
    const s = Curves.ema([0, 0, 10, 10], 0.5)
    assert.ok(s[2]! > 0 && s[2]! < 10 && s[3]! > s[2]! && s[3]! < 10)
  })

  it('ticks are round numbers inside the range; integer ticks for steps', () => {
    assert.deepEqual(Curves.ticks(0.13, 2.9, 5), [0.5, 1, 1.5, 2, 2.5])
    assert.deepEqual(Curves.ticks(0, 3, 10, true), [0, 1, 2, 3])
    assert.deepEqual(Curves.ticks(-1, 1, 3), [-1, 0, 1])
    assert.equal(Curves.tickLabel(0.5, 0.5), '0.5')
    assert.equal(Curves.tickLabel(200, 100), '200')
    assert.equal(Curves.tickLabel(0.02, 0.01), '0.02')
  })
})

describe('curvesPng', () => {
  const near = (d: Uint8Array | Buffer, at: number, rgb: readonly number[], tol: number) => [0, 1, 2].every((c) => Math.abs(d[at + c]! - rgb[c]!) <= tol)

  it('draws a PNG of the documented size, with the loss curve falling from top left to bottom right', async () => {
    // one stage whose loss falls linearly, a second whose loss rises; raw curves only
    const log = [
      ...Array.from({ length: 50 }, (_, s) => record('down', s, 10 - s / 5, { half: 5 - s / 10 })),
      ...Array.from({ length: 50 }, (_, s) => record('up', s, s / 5)),
    ].join('\n')
    const panels = Curves.panelsOf(parsed(log))
    const o = { smooth: 0, panelWidth: 400, panelHeight: 260 }
    const png = await Curves.curvesPng(panels, o)
    const img = await Jimp.fromBuffer(png)
    const want = Curves.size(2, o)
    assert.deepEqual([img.bitmap.width, img.bitmap.height], [want.width, want.height])
    assert.deepEqual([want.width, want.height], [800, Curves.TITLE_HEIGHT + 260])

    const { data, width } = img.bitmap
    const lossColour = Curves.PALETTE[0]!, termColour = Curves.PALETTE[1]!
    /** pixels of a colour inside a panel's plot area */
    const pixelsOf = (panel: number, rgb: readonly number[]) => {
      const [l, t, r, b] = Curves.plotArea([panel * 400, Curves.TITLE_HEIGHT, 400, 260])
      const out: [number, number][] = []
      for (let y = t; y < b; y++) for (let x = l; x < r; x++) if (near(data, 4 * (y * width + x), rgb, 40)) out.push([x, y])
      return { out, l, t, r, b }
    }
    const down = pixelsOf(0, lossColour)
    assert.ok(down.out.length > 150, `loss pixels: ${down.out.length}`)
    // along the curve y grows with x: compare the left and right thirds of the area
    const meanY = (ps: [number, number][], from: number, to: number) => {
      const sel = ps.filter(([x]) => x >= from && x < to)
      return sel.reduce((s, [, y]) => s + y, 0) / sel.length
    }
    const third = (down.r - down.l) / 3
    assert.ok(meanY(down.out, down.l, down.l + third) < meanY(down.out, down.r - third, down.r) - 40)
    const up = pixelsOf(1, lossColour)
    assert.ok(meanY(up.out, up.l, up.l + (up.r - up.l) / 3) > meanY(up.out, up.r - (up.r - up.l) / 3, up.r) + 40)
    // the term has its own colour in the first panel and is absent from the second
    assert.ok(pixelsOf(0, termColour).out.length > 100)
    assert.equal(pixelsOf(1, termColour).out.length, 0)
  })

  it('a different curve gives different pixels', async () => {
    const draw = async (f: (s: number) => number) =>
      (await Jimp.fromBuffer(await Curves.curvesPng(Curves.panelsOf(parsed(Array.from({ length: 20 }, (_, s) => record('s', s, f(s))).join('\n'))), { smooth: 0 }))).bitmap.data
    const [a, b] = await Promise.all([draw((s) => s), draw((s) => s * s)])
    let differ = 0
    for (let k = 0; k < a.length; k += 4) if (a[k] !== b[k] || a[k + 1] !== b[k + 1] || a[k + 2] !== b[k + 2]) differ++
    assert.ok(differ > 300, `${differ} pixels differ`)
  })

  it('rejects a smoothing factor outside [0, 1)', async () => {
    await assert.rejects(Curves.curvesPng([], { smooth: 1 }), /smoothing/)
  })
})
