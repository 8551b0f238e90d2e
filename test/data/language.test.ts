/**
 * Questions are checked by an independent oracle: the test parses the question text with its own grammar,
 * resolves every referring expression against the scene's objects (it must match exactly one), recomputes the
 * answer from the objects, and compares.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Scene from '../../src/data/scene.ts'
import * as Language from '../../src/data/language.ts'
import * as Tokenizer from '../../src/data/tokenizer.ts'

type Obj = Scene.SceneObject
type Attrs = { size?: string; color?: string; shape?: string }

// -------------------------------------------------------------------------------------------------------------
// the oracle
// -------------------------------------------------------------------------------------------------------------

const SINGULAR: Record<string, string> = { circles: 'circle', squares: 'square', triangles: 'triangle', stars: 'star', crosses: 'cross' }

/** "small red circle" / "red objects" / "things" → attributes; throws on a word it does not know. */
const parsePhrase = (p: string, plural: boolean): Attrs => {
  const words = p.split(' ')
  const noun = words.pop()!
  const out: Attrs = {}
  if (plural) {
    if (noun !== 'objects' && noun !== 'things') out.shape = SINGULAR[noun] ?? assert.fail(`unknown plural noun "${noun}" in "${p}"`)
  } else if (noun !== 'object') {
    assert.ok((Scene.SHAPES as readonly string[]).includes(noun), `unknown noun "${noun}" in "${p}"`)
    out.shape = noun
  }
  for (const w of words) {
    if ((Scene.SIZES as readonly string[]).includes(w) && out.size === undefined && out.color === undefined) out.size = w
    else if ((Scene.COLORS as readonly string[]).includes(w) && out.color === undefined) out.color = w
    else assert.fail(`unexpected word "${w}" in "${p}"`)
  }
  return out
}

const fits = (o: Obj, a: Attrs) => (!a.size || o.size === a.size) && (!a.color || o.color === a.color) && (!a.shape || o.shape === a.shape)
const all = (s: Scene.Scene, a: Attrs) => s.objects.filter((o) => fits(o, a))

/** A referring expression "the …" must name exactly one object. */
const resolve = (s: Scene.Scene, ref: string): { obj: Obj; attrs: Attrs } => {
  assert.ok(ref.startsWith('the '), `reference "${ref}" lacks "the"`)
  const attrs = parsePhrase(ref.slice(4), false)
  const hits = all(s, attrs)
  assert.equal(hits.length, 1, `"${ref}" matches ${hits.length} objects in scene ${s.seed}`)
  return { obj: hits[0], attrs }
}

const where = (o: Obj): string => {
  const col = ['left', '', 'right'][o.x < 1 / 3 ? 0 : o.x < 2 / 3 ? 1 : 2]
  const row = ['top', '', 'bottom'][o.y < 1 / 3 ? 0 : o.y < 2 / 3 ? 1 : 2]
  return [row, col].filter((w) => w).join(' ') || 'center'
}

const yn = (b: boolean) => (b ? 'yes' : 'no')

/** The answer to an open question, from the scene alone. */
const oracle = (s: Scene.Scene, q: string): { answer: string; kind: string } => {
  let m: RegExpMatchArray | null
  if ((m = q.match(/^What (color|shape) is the (leftmost|rightmost|topmost|bottommost) object\?$/))) {
    const key = { leftmost: (o: Obj) => o.x, rightmost: (o: Obj) => -o.x, topmost: (o: Obj) => o.y, bottommost: (o: Obj) => -o.y }[m[2] as 'leftmost']
    const sorted = s.objects.slice().sort((a, b) => key(a) - key(b))
    assert.ok(sorted.length >= 2 && key(sorted[1]) - key(sorted[0]) >= 0.05, 'extreme object is not clearly apart')
    return { answer: sorted[0][m[1] as 'color' | 'shape'], kind: 'extreme' }
  }
  if ((m = q.match(/^What color is (the [a-z ]+)\?$/))) {
    const { obj, attrs } = resolve(s, m[1])
    assert.equal(attrs.color, undefined, 'a colour question names the colour')
    return { answer: obj.color, kind: 'color' }
  }
  if ((m = q.match(/^Where is (the [a-z ]+)\?$/))) return { answer: where(resolve(s, m[1]).obj), kind: 'where' }
  if ((m = q.match(/^Is (the [a-z ]+?) (to the left of|to the right of|above|below) (the [a-z ]+)\?$/))) {
    const a = resolve(s, m[1]).obj, b = resolve(s, m[3]).obj
    assert.notEqual(a, b)
    const horizontal = m[2].includes('left') || m[2].includes('right')
    const d = horizontal ? b.x - a.x : b.y - a.y // > 0: a is left of / above b
    assert.ok(Math.abs(d) >= 0.1, `relation asked for centres only ${Math.abs(d).toFixed(3)} apart`)
    const holds = m[2] === 'to the left of' || m[2] === 'above' ? d > 0 : d < 0
    return { answer: yn(holds), kind: 'relation' }
  }
  if ((m = q.match(/^How many other objects are the same (color|shape|size) as (the [a-z ]+)\?$/))) {
    const attr = m[1] as 'color' | 'shape' | 'size'
    const { obj, attrs } = resolve(s, m[2])
    if (attr !== 'shape') assert.equal(attrs[attr], undefined, `"${m[2]}" names the ${attr} it asks about`)
    return { answer: String(s.objects.filter((o) => o !== obj && o[attr] === obj[attr]).length), kind: 'same' }
  }
  if ((m = q.match(/^How many ([a-z ]+) are there\?$/))) return { answer: String(all(s, parsePhrase(m[1], true)).length), kind: 'count' }
  if ((m = q.match(/^Is there (a|an) ([a-z ]+) in the image\?$/))) {
    assert.equal(m[1], /^[aeiou]/.test(m[2]) ? 'an' : 'a', 'article')
    return { answer: yn(all(s, parsePhrase(m[2], false)).length > 0), kind: 'exist' }
  }
  if ((m = q.match(/^Is (the [a-z ]+) small or large\?$/))) {
    const { obj, attrs } = resolve(s, m[1])
    assert.equal(attrs.size, undefined, 'a size question names the size')
    return { answer: obj.size, kind: 'size' }
  }
  if ((m = q.match(/^((?:Remove all [a-z ]+\. )+)How many objects are left\?$/))) {
    const filters = [...m[1].matchAll(/Remove all ([a-z ]+)\./g)].map((r) => parsePhrase(r[1], true))
    for (const f of filters) assert.ok(all(s, f).length > 0, 'a removal that removes nothing')
    return { answer: String(s.objects.filter((o) => !filters.some((f) => fits(o, f))).length), kind: 'subtract' }
  }
  if ((m = q.match(/^Are there more ([a-z ]+) than ([a-z ]+)\?$/))) {
    const a = all(s, parsePhrase(m[1], true)).length, b = all(s, parsePhrase(m[2], true)).length
    assert.notEqual(a, b, 'compared counts are equal')
    return { answer: yn(a > b), kind: 'more' }
  }
  if ((m = q.match(/^Are (the [a-z ]+?) and (the [a-z ]+) the same (color|size)\?$/))) {
    const attr = m[3] as 'color' | 'size'
    const a = resolve(s, m[1]), b = resolve(s, m[2])
    assert.notEqual(a.obj, b.obj)
    assert.ok(a.attrs[attr] === undefined && b.attrs[attr] === undefined, 'references name the compared attribute')
    return { answer: yn(a.obj[attr] === b.obj[attr]), kind: 'same-pair' }
  }
  return assert.fail(`no grammar rule for "${q}"`)
}

/** Checks one QA: open answers against the oracle; multiple choice: distinct options, the letter names the oracle's answer. */
const check = (s: Scene.Scene, qa: Language.QA): string => {
  assert.ok(qa.answer.split(' ').length <= 2, `long answer "${qa.answer}"`)
  if (qa.form === 'open') {
    const o = oracle(s, qa.question)
    assert.equal(qa.answer, o.answer, `scene ${s.seed}: "${qa.question}"`)
    return o.kind
  }
  const m = qa.question.match(/^(.*) Options: (.*)\. Answer with the letter\.$/)
  assert.ok(m, `malformed choice question "${qa.question}"`)
  const options = m[2].split(', ').map((p) => p.match(/^([A-D]): (.+)$/) ?? assert.fail(`bad option "${p}"`))
  assert.deepEqual(options.map((o) => o[1]), ['A', 'B', 'C', 'D'].slice(0, options.length))
  assert.ok(options.length >= 2)
  assert.equal(new Set(options.map((o) => o[2])).size, options.length, 'options repeat')
  const o = oracle(s, m[1])
  const right = options.filter((p) => p[2] === o.answer)
  assert.equal(right.length, 1, `scene ${s.seed}: "${qa.question}" lacks the answer ${o.answer}`)
  assert.equal(qa.answer, right[0][1], `scene ${s.seed}: "${qa.question}"`)
  return o.kind
}

// -------------------------------------------------------------------------------------------------------------
// tests
// -------------------------------------------------------------------------------------------------------------

describe('questions', () => {
  it('every answer is correct, every reference unique, every option set well formed (open and multiple choice)', () => {
    const kinds = new Map<string, number>()
    let asked = 0
    for (let i = 0; i < 400; i++) {
      const s = Scene.sceneAt('train', i)
      for (const category of Language.CATEGORIES)
        for (const form of ['open', 'choice'] as const) {
          const qa = Language.ask(s, category, i * 31 + 7, { form })
          if (!qa) continue
          asked++
          assert.equal(qa.category, category)
          assert.equal(qa.form, form)
          const kind = check(s, qa)
          kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
        }
    }
    assert.ok(asked > 400 * 12 * 0.9, `only ${asked} questions`)
    for (const k of ['color', 'where', 'relation', 'count', 'exist', 'size', 'subtract', 'same', 'more', 'same-pair', 'extreme'])
      assert.ok((kinds.get(k) ?? 0) >= 20, `template ${k} appears ${kinds.get(k) ?? 0} times`)
  })

  it('questions and answers are deterministic in (scene, seed)', () => {
    for (let i = 0; i < 50; i++) {
      const s = Scene.sceneAt('eval', i)
      for (const c of Language.CATEGORIES) assert.deepEqual(Language.ask(s, c, i), Language.ask(Scene.sceneAt('eval', i), c, i))
    }
  })

  it('existence is balanced and mostly adversarial on the "no" side', () => {
    const kinds = new Map<string, number>()
    let yes = 0, n = 0
    for (let i = 0; i < 600; i++) {
      const qa = Language.ask(Scene.sceneAt('train', i), 'existence', i, { form: 'open' })
      if (!qa) continue
      n++
      if (qa.answer === 'yes') yes++
      kinds.set(qa.kind, (kinds.get(qa.kind) ?? 0) + 1)
    }
    assert.ok(yes / n > 0.4 && yes / n < 0.6, `yes rate ${yes / n}`)
    for (const k of ['exist-absent-color', 'exist-absent-shape', 'exist-absent-size', 'exist-absent-random']) assert.ok((kinds.get(k) ?? 0) > 10, `${k}: ${kinds.get(k)}`)
  })

  it('yes/no answers are not lopsided for any template', () => {
    const tally = new Map<string, [number, number]>()
    for (let i = 0; i < 600; i++)
      for (const c of ['position', 'reasoning'] as const) {
        const qa = Language.ask(Scene.sceneAt('train', i), c, i + 1000, { form: 'open' })
        if (!qa || (qa.answer !== 'yes' && qa.answer !== 'no')) continue
        const t = tally.get(qa.kind) ?? [0, 0]
        t[qa.answer === 'yes' ? 0 : 1]++
        tally.set(qa.kind, t)
      }
    for (const [k, [y, no]] of tally) assert.ok(y / (y + no) > 0.3 && y / (y + no) < 0.7, `${k}: ${y} yes, ${no} no`)
  })
})

describe('captions', () => {
  it('name every object with its size, colour, shape and cell', () => {
    const cells: Record<string, string> = {
      'in the top left corner': 'top left', 'at the top': 'top', 'in the top right corner': 'top right',
      'on the left': 'left', 'in the center': 'center', 'on the right': 'right',
      'in the bottom left corner': 'bottom left', 'at the bottom': 'bottom', 'in the bottom right corner': 'bottom right',
    }
    for (let i = 0; i < 300; i++) {
      const s = Scene.sceneAt('train', i)
      const c = Language.caption(s)
      assert.match(c, /^A .*\.$/)
      const parts = c.slice(0, -1).replace(/ and (?=an? )/, ', ').split(', ')
      const said = parts.map((p) => {
        const m = p.match(/^(?:a|an|A|An) (small|large) ([a-z]+) ([a-z]+) (.+)$/) ?? assert.fail(`caption part "${p}"`)
        return `${m[1]} ${m[2]} ${m[3]} ${cells[m[4]] ?? assert.fail(`place "${m[4]}"`)}`
      })
      const truth = s.objects.map((o) => `${o.size} ${o.color} ${o.shape} ${where(o)}`)
      assert.deepEqual(said.slice().sort(), truth.slice().sort(), c)
    }
  })
})

describe('samples', () => {
  const makers = [Language.captionSample, Language.instructionSample, Language.textSample, Language.dialogueSample, Language.interleavedSample]

  it('are deterministic in their index and differ between indices', () => {
    for (const make of makers)
      for (let i = 0; i < 30; i++) {
        assert.deepEqual(make(i), make(i))
        assert.notDeepEqual(make(i), make(i + 1))
      }
  })

  it('use only training scenes', () => {
    for (const make of makers)
      for (let i = 0; i < 200; i++) for (const sc of Language.imagesOf(make(i))) assert.equal(Scene.splitOf(sc.seed), 'train')
  })

  it('follow the chat template: role markers are specials, the loss is on assistant text and its end marker', () => {
    for (const make of [Language.captionSample, Language.instructionSample, Language.dialogueSample])
      for (let i = 0; i < 100; i++) {
        const segs = make(i).segments
        let role = ''
        for (const g of segs) {
          if (g.kind === 'special' && g.token !== 'end') role = g.token
          if (g.kind === 'text') assert.equal(g.loss, role === 'assistant', JSON.stringify(g))
          if (g.kind === 'text') assert.ok(!Tokenizer.SPECIAL_LIST.some((t) => g.text.includes(t)))
          if (g.kind === 'special') assert.equal(g.loss, g.token === 'end' && role === 'assistant')
        }
        assert.deepEqual(segs[0], { kind: 'special', token: 'user', loss: false })
      }
  })

  it('instruction answers are correct and multi-turn samples occur', () => {
    let multi = 0
    for (let i = 0; i < 200; i++) {
      const segs = Language.instructionSample(i).segments
      const scene = Language.imagesOf({ kind: 'instruction', segments: segs })
      assert.equal(scene.length, 1)
      const text = Tokenizer.renderChatText(segs)
      const turns = [...text.matchAll(/<\|user\|>(?:<\|image\|>)?(.*?)<\|end\|><\|assistant\|>(.*?)<\|end\|>/g)]
      assert.ok(turns.length >= 1)
      if (turns.length > 1) multi++
      for (const t of turns) {
        const choice = t[1].match(/^(.*) Options: (.*)\. Answer with the letter\.$/)
        check(scene[0], { category: 'color', kind: '', form: choice ? 'choice' : 'open', question: t[1], answer: t[2] })
      }
    }
    assert.ok(multi > 50)
  })

  it('instruction samples ask only their syllabus, at most its number of turns', () => {
    const syllabus: Language.Syllabus = { categories: ['color', 'size'], turns: [4, 8] }
    const kinds = new Set<string>()
    let long = 0
    for (let i = 0; i < 200; i++) {
      const text = Tokenizer.renderChatText(Language.instructionSample(i, syllabus).segments)
      const questions = [...text.matchAll(/<\|user\|>(?:<\|image\|>)?(.*?)<\|end\|>/g)].map((m) => m[1].replace(/ Options: .*$/, ''))
      assert.ok(questions.length >= 1 && questions.length <= 8, `${questions.length} turns`)
      if (questions.length >= 4) long++
      for (const q of questions) {
        const kind = /^What color is the /.test(q) ? 'color' : /^Is the .* small or large\?$/.test(q) ? 'size' : 'other'
        assert.notEqual(kind, 'other', q)
        kinds.add(kind)
      }
    }
    assert.equal(kinds.size, 2)
    assert.ok(long > 50, `${long} samples of 4 or more turns`)
    // some scenes allow no colour question (two objects that differ only in colour): they give way to others
    for (let i = 0; i < 1000; i++) assert.ok(Language.instructionSample(i, { categories: ['color'], turns: [1, 1] }).segments.length > 0, `sample ${i}`)
  })

  it('interleaved samples put images at varying places, sometimes two', () => {
    const firstImage = new Set<number>()
    let two = 0, none = 0
    for (let i = 0; i < 300; i++) {
      const segs = Language.interleavedSample(i).segments
      const imgs = segs.filter((g) => g.kind === 'image').length
      if (imgs === 2) two++
      if (imgs === 0) none++
      const at = segs.findIndex((g) => g.kind === 'image')
      if (at >= 0) firstImage.add(at)
    }
    assert.ok(two > 30 && none > 10, `two images: ${two}, none: ${none}`)
    assert.ok(firstImage.size > 5, `image positions ${[...firstImage]}`)
  })
})

describe('evaluation sets', () => {
  it('come from held-out scenes, are correct, and hold the requested number of items per category', () => {
    const trainKeys = new Set<string>()
    for (let i = 0; i < 3000; i++) trainKeys.add(Scene.contentKey(Scene.sceneAt('train', i)))
    for (const split of ['eval', 'fine'] as const)
      for (const category of Language.CATEGORIES)
        for (const form of ['open', 'choice'] as const) {
          const items = Language.evalSet(category, 40, { split, form })
          assert.equal(items.length, 40)
          assert.equal(new Set(items.map((x) => x.id)).size, 40)
          for (const item of items) {
            assert.equal(Scene.splitOf(item.scene.seed), split)
            assert.ok(!trainKeys.has(Scene.contentKey(item.scene)))
            assert.equal(item.qa.category, category)
            assert.equal(item.qa.form, form)
            check(item.scene, item.qa)
            const last = item.prompt[item.prompt.length - 1]
            assert.deepEqual(last, { kind: 'special', token: 'assistant', loss: false })
          }
        }
  })

  it('the fine-grained set asks about small objects and objects on borders', () => {
    for (const category of ['color', 'size', 'position'] as const)
      for (const item of Language.evalSet(category, 60, { split: 'fine' })) {
        const m = item.qa.question.match(/^(?:What color is|Where is|Is) (the [a-z ]+?)(?: small or large| to the left of| to the right of| above| below|\?)/)
        assert.ok(m, item.qa.question)
        const { obj } = resolve(item.scene, m[1])
        assert.ok(obj.size === 'small' || Scene.atEdge(obj), `${item.id}: "${item.qa.question}" is about a large central object`)
      }
  })
})

describe('text corpus', () => {
  it('has the requested size and holds facts, dialogues, captions and instructions', () => {
    const c = Language.corpus(200_000)
    // lines and their newlines (the last one's not written) reach the size with the last line, not before
    assert.ok(c.length + 1 >= 200_000 && c.lastIndexOf('\n') < 200_000)
    for (const needle of ['A star has five points.', ' plus ', '<|assistant|>', '<|image|>', 'Options: A:', 'corner']) assert.ok(c.includes(needle), needle)
    const text = Language.corpus(50_000, ['text', 'dialogue'])
    assert.ok(!text.includes('<|image|>') && text.includes('<|assistant|>') && text.includes(' is '))
  })
})
