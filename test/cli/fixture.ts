/**
 * A small run directory for command-line tests: a tokenizer trained on a little of the world's text, a micro
 * HaploVL (vocabulary widened to the tokenizer's) saved as the stage-2 checkpoint, a scene image, a file that
 * is not an image, a truncated checkpoint, and a training log. Built in well under a second.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as Tokenizer from '../../src/data/tokenizer.ts'
import * as Language from '../../src/data/language.ts'
import * as Scene from '../../src/data/scene.ts'
import { micro, type Config } from '../../src/haplovl/config.ts'
import { fromScratch } from '../../src/haplovl/init.ts'
import * as Names from '../../src/haplovl/names.ts'
import { saveCheckpoint } from '../../src/io/checkpoint.ts'
import * as Random from '../../src/random.ts'

export interface Fixture {
  readonly dir: string
  readonly config: Config
  readonly image: string
  readonly notImage: string
  readonly corrupt: string
}

export async function makeRun(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'haplovl-cli-'))
  const tok = Tokenizer.train(Language.corpus(20_000), { vocabSize: 300 })
  const config: Config = { ...micro, llm: { ...micro.llm, vocab: tok.vocabSize } }
  const ok = (r: E.Either<string, unknown>) => { if (E.isLeft(r)) throw new Error(r.left) }
  ok(await Tokenizer.save(tok, join(dir, 'tokenizer.json'))())
  const checkpoint = join(dir, 'stage2.safetensors')
  ok(await saveModel(checkpoint, config))
  const bytes = await readFile(checkpoint)
  const corrupt = join(dir, 'corrupt.safetensors')
  await writeFile(corrupt, bytes.subarray(0, Math.floor(bytes.length / 2)))
  const image = join(dir, 'scene.png')
  ok(await Scene.writeScenePng(Scene.sceneAt('train', 2), image, 32)())
  const notImage = join(dir, 'notes.png')
  await writeFile(notImage, 'these are words, not pixels\n')
  const log = Array.from({ length: 30 }, (_, s) => JSON.stringify({ stage: 'stage2', step: s, loss: 4 - s / 10, lr: 1e-4, gradNorm: 1, tokens: 64, seconds: 0.1 }))
  await writeFile(join(dir, 'stage2.jsonl'), `${log.join('\n')}\n`)
  return { dir, config, image, notImage, corrupt }
}

/** A HaploVL of `config`, freshly initialised, saved at `path` as a stage's checkpoint is. */
export const saveModel = (path: string, config: Config) =>
  saveCheckpoint(path, { params: fromScratch(Random.key(1), config), metadata: { config } }, { names: Names.haplovl })()

export interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export const bin = new URL('../../bin/haplovl.js', import.meta.url).pathname

/** `node bin/haplovl.js ...args`, as a user would run it (from `cwd`, default this process's). */
export const haplovl = (args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<Ran> =>
  new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, env: { ...process.env, HAPLOVL_DEBUG: '', ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
      resolve({ code, stdout, stderr })
    })
  })
