import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'
import * as Tokenizer from '../../src/data/tokenizer.ts'
import * as Language from '../../src/data/language.ts'
import { runs } from '../helpers/arbitraries.ts'

const corpus = Language.corpus(1_000_000)
const tok = Tokenizer.train(corpus)
const isSpecialId = (id: number) => id >= Tokenizer.FIRST_SPECIAL && id < Tokenizer.FIRST_MERGE

/** Any UTF-16 sequence, lone surrogates included. */
const codeUnits = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }).map((us) => String.fromCharCode(...us))
/** Dense in surrogates: pairs, lone halves, halves in the wrong order. */
const surrogates = fc.array(fc.integer({ min: 0xd7fe, max: 0xe001 }), { maxLength: 12 }).map((us) => String.fromCharCode(...us))
/** Text that looks like this world's, with special strings and odd characters mixed in. */
const worldish = fc
  .array(fc.constantFrom('What', ' color', ' is', ' the', ' small', ' red', ' circle', '?', ' 3', '\n', '  ', '<|user|>', '<|end|>', '<|image|>', '<|', 'é', '🙂', '\ud800', ' '), { maxLength: 30 })
  .map((ws) => ws.join(''))

describe('tokenizer training', () => {
  it('fills the vocabulary to 512 and compresses the corpus', () => {
    assert.equal(tok.vocabSize, Tokenizer.MAX_VOCAB)
    const ids = Tokenizer.encode(tok, corpus, { allowSpecial: true })
    const ratio = Buffer.byteLength(corpus) / ids.length
    assert.ok(ratio > 3, `only ${ratio.toFixed(2)} bytes per token`)
    assert.ok(ids.every((id) => id >= 0 && id < tok.vocabSize))
  })

  it('is deterministic', () => {
    const small = corpus.slice(0, 100_000)
    assert.deepEqual(Tokenizer.train(small, { vocabSize: 400 }).merges, Tokenizer.train(small, { vocabSize: 400 }).merges)
  })

  it('learns the same merges as a from-scratch recount at every step', () => {
    // Reference: recount all pairs over all chunk occurrences before every merge (ties to the smaller pair).
    const text = Language.corpus(20_000)
    const words = text.split(/<\|[a-z]+\|>/).flatMap((p) => Tokenizer.chunks(p)).map((c) => Array.from(Tokenizer.toBytes(c)))
    const merges: [number, number][] = []
    for (let id = Tokenizer.FIRST_MERGE; id < 380; id++) {
      const counts = new Map<string, number>()
      for (const w of words) for (let i = 0; i + 1 < w.length; i++) counts.set(`${w[i]},${w[i + 1]}`, (counts.get(`${w[i]},${w[i + 1]}`) ?? 0) + 1)
      let best: [number, number] | undefined, bestN = 1
      for (const [k, n] of counts) {
        const [a, b] = k.split(',').map(Number) as [number, number]
        if (n > bestN || (n === bestN && best && a * 65536 + b < best[0] * 65536 + best[1])) (best = [a, b]), (bestN = n)
      }
      if (!best) break
      merges.push(best)
      for (const [wi, w] of words.entries()) {
        const out: number[] = []
        for (let i = 0; i < w.length; i++) if (i + 1 < w.length && w[i] === best[0] && w[i + 1] === best[1]) (out.push(id), i++)
        else out.push(w[i])
        words[wi] = out
      }
    }
    assert.deepEqual(Tokenizer.train(text, { vocabSize: 380 }).merges, merges)
  })

  it('rejects a vocabulary size outside [262, 512]', () => {
    assert.throws(() => Tokenizer.train('abc', { vocabSize: 513 }), RangeError)
    assert.throws(() => Tokenizer.train('abc', { vocabSize: 100 }), RangeError)
  })
})

describe('encode and decode', () => {
  it("round-trips any string (full unicode, lone surrogates, the world's text), with and without specials", () => {
    for (const arb of [fc.string({ unit: 'binary', maxLength: 60 }), codeUnits, surrogates, worldish])
      fc.assert(
        fc.property(arb, (s) => {
          assert.equal(Tokenizer.decode(tok, Tokenizer.encode(tok, s)), s)
          assert.equal(Tokenizer.decode(tok, Tokenizer.encode(tok, s, { allowSpecial: true })), s)
        }),
        runs(300),
      )
  })

  it('round-trips long and repetitive text', () => {
    for (const s of ['!'.repeat(5000), ' '.repeat(3000), 'a'.repeat(4000), '🙂'.repeat(500), corpus.slice(0, 50_000)])
      assert.equal(Tokenizer.decode(tok, Tokenizer.encode(tok, s)), s)
  })

  it('produces special ids only when asked', () => {
    fc.assert(
      fc.property(worldish, (s) => {
        assert.ok(!Tokenizer.encode(tok, s).some(isSpecialId))
      }),
      runs(200),
    )
    assert.deepEqual(Tokenizer.encode(tok, '<|user|>', { allowSpecial: true }), [tok.special.user])
    assert.ok(!Tokenizer.encode(tok, '<|user|>').includes(tok.special.user))
    const mixed = Tokenizer.encode(tok, 'hi<|image|>there<|end|>', { allowSpecial: true })
    assert.deepEqual(mixed.filter(isSpecialId), [tok.special.image, tok.special.end])
  })

  it('rejects ids outside the vocabulary when decoding, and replaces invalid byte sequences', () => {
    assert.throws(() => Tokenizer.decode(tok, [tok.vocabSize]), /outside the vocabulary/)
    assert.equal(Tokenizer.decode(tok, [0xff, 0x41]), '\ufffdA')
    assert.equal(Tokenizer.fromBytes(Uint8Array.of(0xc0, 0x80)), '\ufffd\ufffd') // overlong
  })

  it('WTF-8 agrees with UTF-8 on well-formed text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        assert.deepEqual(Buffer.from(Tokenizer.toBytes(s)), Buffer.from(s, 'utf8'))
      }),
      runs(200),
    )
  })
})

describe('files', () => {
  it('save and load give back the same tokenizer; malformed files are rejected with the file named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'haplovl-tok-'))
    try {
      const path = join(dir, 'tokenizer.json')
      assert.ok(E.isRight(await Tokenizer.save(tok, path)()))
      const back = await Tokenizer.load(path)()
      assert.ok(E.isRight(back))
      assert.deepEqual(back.right.merges, tok.merges)
      const s = 'How many small red circles are there? 🙂'
      assert.deepEqual(Tokenizer.encode(back.right, s), Tokenizer.encode(tok, s))

      const good = JSON.parse(Tokenizer.toJson(tok))
      const cases: [string, string, RegExp][] = [
        ['truncated.json', Tokenizer.toJson(tok).slice(0, 100), /not valid JSON/],
        ['array.json', '[]', /expected a JSON object/],
        ['format.json', JSON.stringify({ ...good, format: 'other' }), /"format"/],
        ['version.json', JSON.stringify({ ...good, version: 2 }), /"version"/],
        ['specials.json', JSON.stringify({ ...good, specials: ['<|pad|>'] }), /"specials"/],
        ['forward.json', JSON.stringify({ ...good, merges: [[97, 98], [97, 300]] }), /merge 1 uses id 300/],
        ['special.json', JSON.stringify({ ...good, merges: [[97, 257]] }), /special token id 257/],
        ['pair.json', JSON.stringify({ ...good, merges: [[97]] }), /merge 0 is \[97\]/],
        ['repeat.json', JSON.stringify({ ...good, merges: [[97, 98], [97, 98]] }), /repeats the pair/],
        ['big.json', JSON.stringify({ ...good, merges: Array.from({ length: 300 }, (_, k) => [k % 256, 0]) }), /above 512/],
      ]
      for (const [name, text, why] of cases) {
        const p = join(dir, name)
        await writeFile(p, text)
        const r = await Tokenizer.load(p)()
        assert.ok(E.isLeft(r), name)
        assert.match(r.left, why)
        assert.ok(r.left.includes(p) && !r.left.includes('\n'), r.left)
      }
      const missing = await Tokenizer.load(join(dir, 'nope.json'))()
      assert.ok(E.isLeft(missing) && /nope\.json.*no such file/.test(missing.left))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('chat template and segments', () => {
  it('renders turns with special segments and the loss on the assistant side', () => {
    const img = { kind: 'image' as const, tag: 1 }
    const segs = Tokenizer.renderChat([{ role: 'user', content: [img, 'What is <|user|>?'] }, { role: 'assistant', content: ['red'] }], { generation: false })
    assert.equal(Tokenizer.renderChatText(segs), '<|user|><|image|>What is <|user|>?<|end|><|assistant|>red<|end|>')
    const enc = Tokenizer.encodeSegments(tok, segs, (i) => i.tag)
    // user part (no loss), image, user text + assistant marker (no loss), answer + end (loss)
    assert.deepEqual(enc.map((e) => (e.kind === 'image' ? 'image' : e.loss)), [false, 'image', false, true])
    const ids = enc.flatMap((e) => (e.kind === 'text' ? e.ids : []))
    // the user typed "<|user|>" as text: only the template's own marker is special
    assert.equal(ids.filter((id) => id === tok.special.user).length, 1)
    const last = enc[enc.length - 1]
    assert.ok(last.kind === 'text' && last.ids[last.ids.length - 1] === tok.special.end)
    assert.equal(Tokenizer.decode(tok, last.kind === 'text' ? [...last.ids] : []), 'red<|end|>')
    const gen = Tokenizer.renderChat([{ role: 'user', content: ['Hi'] }], { generation: true })
    assert.equal(Tokenizer.renderChatText(gen), '<|user|>Hi<|end|><|assistant|>')
  })

  it('encodes every training sample within the vocabulary', () => {
    for (let i = 0; i < 100; i++) {
      const enc = Tokenizer.encodeSegments(tok, Language.interleavedSample(i).segments, (g) => g.scene.seed)
      for (const e of enc) if (e.kind === 'text') assert.ok(e.ids.every((id) => id >= 0 && id < tok.vocabSize))
    }
  })
})
