/**
 * The `haplovl` command as a user meets it: help, and every mistake answered by one line on stderr with exit
 * status 2 and no stack trace; `ask`, `attention`, `plot` and `data` run end to end on a micro model.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { copyFile, mkdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { Jimp } from 'jimp'
import { micro } from '../../src/haplovl/config.ts'
import { bin, haplovl, makeRun, saveModel, type Fixture, type Ran } from './fixture.ts'
import { entries } from '../../autograd/index.ts'
import { EXIT_INTERRUPTED } from '../../src/cli/interrupt.ts'
import { fromScratch } from '../../src/haplovl/init.ts'
import * as Names from '../../src/haplovl/names.ts'
import { loadCheckpoint } from '../../src/io/checkpoint.ts'
import * as Random from '../../src/random.ts'

let f: Fixture
before(async () => {
  f = await makeRun()
})
after(async () => {
  await rm(f.dir, { recursive: true, force: true })
})

/** Exit status 2 and a single `error: …` line matching `why`, without stack frames. */
const refused = (r: Ran, why: RegExp) => {
  assert.equal(r.code, 2, `exit status ${r.code}; stderr: ${r.stderr}`)
  const lines = r.stderr.split('\n').filter((l) => l !== '')
  assert.equal(lines.length, 1, `stderr is not one line:\n${r.stderr}`)
  assert.match(lines[0]!, /^error: /)
  assert.match(lines[0]!, why)
  assert.ok(!/\bat .*[(:]\d+|^\s+at /m.test(r.stderr), `stack frames in: ${r.stderr}`)
  assert.equal(r.stdout, '')
}

describe('haplovl: help', { concurrency: true }, () => {
  it('--help lists every command and exits 0', async () => {
    const r = await haplovl(['--help'])
    assert.equal(r.code, 0)
    for (const c of ['data', 'pretrain', 'train', 'eval', 'ask', 'attention', 'plot', 'pipeline']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'))
    assert.equal(r.stderr, '')
  })

  it('each command has --help with its usage and flags', async () => {
    const [ask, attention, help] = await Promise.all([haplovl(['ask', '--help']), haplovl(['attention', '-h']), haplovl(['help', 'plot'])])
    assert.equal(ask.code, 0)
    assert.match(ask.stdout, /^usage: haplovl ask --image FILE/m)
    assert.match(ask.stdout, /--max-tokens N/)
    assert.match(attention.stdout, /--layer L/)
    assert.match(help.stdout, /^usage: haplovl plot/m)
  })

  it('no command prints the help', async () => {
    const r = await haplovl([])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^usage: haplovl <command>/m)
  })
})

describe('haplovl: mistakes are one line and exit status 2', { concurrency: true }, () => {
  it('an unknown command', async () => refused(await haplovl(['frobnicate']), /unknown command 'frobnicate'/))
  it('an unknown flag', async () => refused(await haplovl(['ask', '--colour', 'red', 'q']), /unknown option '--colour'/))
  it('a flag without its value', async () => refused(await haplovl(['plot', '--smooth']), /--smooth needs a value/))
  it('a number flag given a word', async () => refused(await haplovl(['data', '--seed', 'seven']), /--seed expects a whole number/))
  it('a number out of range', async () => refused(await haplovl(['plot', f.dir, '--smooth', '1.5']), /--smooth expects a number in \[0, 1\)/))
  it('an unknown preset', async () => refused(await haplovl(['data', '--preset', 'huge']), /--preset expects one of micro, tiny/))
  it('a training stage that does not exist', async () => refused(await haplovl(['train', 'stage3']), /expected one of stage1, align, stage2/))
  it('a missing target', async () => refused(await haplovl(['pretrain']), /pretrain needs one of: tokenizer, teacher, llm/))
  it('a comparison model that does not exist', async () => refused(await haplovl(['compare', 'eve']), /expected one of llava, solo, hovle/))
  it('a comparison without the run\'s parents', async () =>
    refused(await haplovl(['compare', 'llava', '--preset', 'micro', '--run', f.dir]), /teacher: no checkpoint at .*teacher\.safetensors \(train it first\)/))
  it('hovle before llava', async () =>
    refused(await haplovl(['compare', 'hovle', '--preset', 'micro', '--run', f.dir]), /instruct\.safetensors is not there: run haplovl compare llava first/))
  it('ask without --image', async () => refused(await haplovl(['ask', '--run', f.dir, 'what?']), /--image FILE is required/))
  it('ask without a question', async () => refused(await haplovl(['ask', '--run', f.dir, '--image', f.image]), /ask needs an argument/))
  it('an image file that does not exist', async () => {
    const missing = join(f.dir, 'nope.png')
    refused(await haplovl(['ask', '--run', f.dir, '--image', missing, 'what?']), new RegExp(`"${missing}": no such file`))
  })
  it('a file that is not an image', async () => refused(await haplovl(['attention', '--run', f.dir, '--image', f.notImage, 'what?']), /notes\.png": not a PNG, JPEG/))
  it('a missing checkpoint', async () =>
    refused(await haplovl(['ask', '--run', f.dir, '--checkpoint', join(f.dir, 'none.safetensors'), '--image', f.image, 'what?']), /cannot read checkpoint .*no such file/))
  it('a corrupt checkpoint', async () => refused(await haplovl(['ask', '--run', f.dir, '--checkpoint', f.corrupt, '--image', f.image, 'what?']), /corrupt\.safetensors/))
  it('a run directory without a tokenizer', async () => refused(await haplovl(['ask', '--run', join(f.dir, 'elsewhere'), '--image', f.image, 'q']), /tokenizer.*no such file/))
  it('a pre-decoder layer the model does not have', async () =>
    refused(await haplovl(['attention', '--run', f.dir, '--image', f.image, '--layer', '7', 'what?']), /--layer 7 is outside the pre-decoder's 2 layers/))
  it('a --preset other than the one the run was made with', async () =>
    refused(await haplovl(['eval', '--run', f.dir, '--preset', 'tiny']), /holds a run made with --preset micro: give --preset micro, or leave --preset out/))
  it('--learn naming no parameter of the stage', async () =>
    refused(await haplovl(['train', 'stage2', '--preset', 'micro', '--run', f.dir, '--learn', 'connector,postdecoder']),
      /--learn: 'postdecoder' names no parameter of stage2; its parameters are under connector\.weight, .*postDecoder\.blocks/))
  it('plot of a directory without logs', async () => refused(await haplovl(['plot', join(f.dir, 'plots-none')]), /cannot read run directory/))
})

describe('haplovl: commands that work', { concurrency: true }, () => {
  it('Ctrl-C during eval stops after the current question, with status 130 and without writing eval.json', async () => {
    // a run at the micro preset itself (eval builds the preset's model)
    const dir = join(f.dir, 'micro-run')
    await mkdir(dir)
    await copyFile(join(f.dir, 'tokenizer.json'), join(dir, 'tokenizer.json'))
    assert.ok(E.isRight(await saveModel(join(dir, 'stage2.safetensors'), micro)))
    const child = spawn(process.execPath, [bin, 'eval', '--run', dir, '--preset', 'micro'], { env: { ...process.env, HAPLOVL_DEBUG: '' } })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    await once(child.stdout, 'data') // the first progress line: the evaluation has begun
    child.kill('SIGINT')
    const [code] = await once(child, 'exit')
    assert.equal(code, EXIT_INTERRUPTED, stderr)
    assert.match(stderr, /stopping after this step[^]*stopped before the end; nothing written/)
    await assert.rejects(stat(join(dir, 'eval.json')))
  })

  it('train stage2 --learn trains only the parts named, and the checkpoint says so (the run\'s preset, micro, is its own)', async () => {
    const dir = join(f.dir, 'learn-run')
    await mkdir(dir)
    await copyFile(join(f.dir, 'tokenizer.json'), join(dir, 'tokenizer.json'))
    assert.ok(E.isRight(await saveModel(join(dir, 'align.safetensors'), micro)))
    const r = await haplovl(['train', 'stage2', '--run', dir, '--steps', '2', '--learn', 'connector, postDecoder.lmHead'])
    assert.equal(r.code, 0, r.stderr)
    const load = (file: string) => loadCheckpoint(join(dir, file), fromScratch(Random.key(0), micro), { names: Names.haplovl })()
    const [before, after] = [await load('align.safetensors'), await load('stage2.safetensors')]
    assert.ok(E.isRight(before) && E.isRight(after))
    assert.deepEqual(after.right.metadata.learn, ['connector', 'postDecoder.lmHead'])
    const was = new Map(entries(before.right.params).map(([path, t]) => [path, t.data]))
    const changed = entries(after.right.params).filter(([path, t]) => !t.data.every((x, i) => x === was.get(path)![i])).map(([path]) => path)
    assert.deepEqual(changed.sort(), ['connector.weight', 'postDecoder.lmHead.weight'])
  })

  it('ask prints an answer', async () => {
    const r = await haplovl(['ask', '--run', f.dir, '--image', f.image, '--max-tokens', '4', 'What color is the small circle?'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, '')
    assert.equal(r.stdout.split('\n').filter((l) => l !== '').length, 1)
  })

  it('ask uses the shipped model before any training, and says so', async () => {
    // from a directory with no runs/tiny, naming no run: the shipped tiny model answers
    const r = await haplovl(['ask', '--image', f.image, '--max-tokens', '4', 'What color is the small circle?'], {}, f.dir)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /^no model in runs\/tiny yet .*using the shipped model, .*assets\/tiny\/\n$/)
    assert.equal(r.stdout.split('\n').filter((l) => l !== '').length, 1)
  })

  it('ask names the missing model when a run is named', async () =>
    refused(await haplovl(['ask', '--run', 'runs/tiny', '--image', f.image, 'q'], {}, f.dir), /tokenizer "runs\/tiny\/tokenizer.json".*no such file/))

  it('attention writes a picture with a panel per question token', async () => {
    const out = join(f.dir, 'pictures', 'attention.png')
    const r = await haplovl(['attention', '--run', f.dir, '--image', f.image, '--out', out, '--layer', 'all', 'What color is it?'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /wrote .*attention\.png/)
    const img = await Jimp.read(out)
    assert.ok(img.bitmap.width > 400 && img.bitmap.height > 200)
  })

  it('plot draws the run\'s loss curves into its plots folder', async () => {
    const r = await haplovl(['plot', f.dir])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /stage2: 30 steps/)
    assert.ok((await stat(join(f.dir, 'plots', 'losses.png'))).size > 1000)
  })

  it('data draws a sheet of scenes and prints sample texts', async () => {
    const out = join(f.dir, 'sheet.png')
    const r = await haplovl(['data', '--preset', 'micro', '--count', '4', '--out', out])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^ {2}\[train 0\] /m)
    assert.match(r.stdout, /^ {2}instruction: <\|user\|><\|image\|>/m)
    const img = await Jimp.read(out)
    assert.equal(img.bitmap.width, 4 * (256 + 12) + 12)
  })
})
