/**
 * The commands of `haplovl`: their flags, help texts and what each runs. A command's code is imported only when
 * it runs, so `--help` and argument errors answer at once.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { presets, type Config } from '../haplovl/config.ts'
import { files } from '../recipe/run.ts'
import type { Flags, Parsed } from './args.ts'
import type { Invocation, Outcome } from './invocation.ts'

export interface Command {
  readonly summary: string
  readonly usage: string
  /** lines after the flags in `--help` */
  readonly notes?: readonly string[]
  readonly flags: Flags
  /** positional words: [least, most] */
  readonly positionals: readonly [number, number]
  /** allowed first positional words (a subcommand's targets) */
  readonly targets?: readonly string[]
  readonly run: (a: Invocation) => Outcome
}

const checkpointFlag = { kind: 'string', value: 'FILE', help: `model checkpoint (default <run>/${files.stage2}; the shipped model while runs/tiny has none and no --run is given)` } as const
const imageFlag = { kind: 'string', value: 'FILE', help: 'the image: PNG, JPEG, BMP, GIF or TIFF (required)' } as const

export const commands: Readonly<Record<string, Command>> = {
  demo: {
    summary: 'the shipped model answers questions about fresh scenes and shows where it looks (npm start)',
    usage: 'haplovl demo [--seed N] [--model DIR] [--out FILE.png]',
    flags: {
      model: { kind: 'string', value: 'DIR', help: 'a run directory with stage2.safetensors and tokenizer.json (default: the shipped model, assets/tiny)' },
      out: { kind: 'string', value: 'FILE', help: 'where to write the attention picture (default runs/demo/attention.png)' },
    },
    notes: ['Without --seed the scenes are new on every run.'],
    positionals: [0, 0],
    run: async (a) => (await import('./demo.ts')).demo(a),
  },
  data: {
    summary: 'draw sample scenes with their captions and questions, print sample texts',
    usage: 'haplovl data [--count N] [--out FILE.png]',
    flags: {
      count: { kind: 'int', value: 'N', min: 1, max: 64, help: 'scenes of each split (training, fine-grained evaluation), 4 per row (default 8)' },
      out: { kind: 'string', value: 'FILE', help: 'where to write the sheet (default <run>/plots/scenes.png)' },
    },
    notes: ['--seed N starts at scene N of each split; --preset picks the image size the scenes are drawn at.'],
    positionals: [0, 0],
    run: async (a) => (await import('./data.ts')).data(a),
  },
  pretrain: {
    summary: 'train the tokenizer or a parent model: the CLIP-style teacher, the Llama-style LLM',
    usage: 'haplovl pretrain tokenizer|teacher|llm [--steps N]',
    flags: {},
    positionals: [1, 1],
    targets: ['tokenizer', 'teacher', 'llm'],
    run: async (a) => (await import('./recipe.ts')).pretrain(a),
  },
  train: {
    summary: 'train a HaploVL stage: stage1 (pre-decoder), align (connector), stage2 (everything)',
    usage: 'haplovl train stage1|align|stage2 [--steps N] [--learn PREFIXES]',
    notes: [
      'Ctrl-C stops after the current step with a checkpoint; running the command again resumes from it.',
      '--learn connector,postDecoder trains only those parts (held fixed: everything else), instead of the stage\'s own choice.',
    ],
    flags: {
      learn: { kind: 'string', value: 'PREFIXES', help: 'comma-separated dotted prefixes of the parameters that learn (default: the paper\'s choice for the stage)' },
    },
    positionals: [1, 1],
    targets: ['stage1', 'align', 'stage2'],
    run: async (a) => (await import('./recipe.ts')).train(a),
  },
  eval: {
    summary: 'accuracy per question category on held-out and fine-grained scenes',
    usage: 'haplovl eval [--questions N]',
    notes: ['Reads <run>/stage2.safetensors; writes eval.json and eval.md into the run directory.'],
    flags: {
      questions: { kind: 'int', value: 'N', min: 1, max: 10000, help: 'questions per category in each evaluation set (default 40)' },
    },
    positionals: [0, 0],
    run: async (a) => (await import('./recipe.ts')).evaluate(a),
  },
  ask: {
    summary: 'answer a question about an image',
    usage: 'haplovl ask --image FILE [options] QUESTION',
    flags: {
      image: imageFlag,
      checkpoint: checkpointFlag,
      'max-tokens': { kind: 'int', value: 'N', min: 1, max: 4096, help: 'longest answer in tokens (default 32)' },
      temperature: { kind: 'number', value: 'T', min: 0, max: 100, help: 'sampling temperature; 0 answers greedily (default 0)' },
      'top-p': { kind: 'number', value: 'P', min: 0, max: 1, help: 'nucleus sampling: keep the likeliest tokens up to this mass (default 1)' },
    },
    positionals: [1, Infinity],
    run: async (a) => (await import('./infer.ts')).ask(a),
  },
  attention: {
    summary: 'draw where the question\'s tokens look in the image after the pre-decoder (the paper\'s Figure 5)',
    usage: 'haplovl attention --image FILE [--out FILE.png] [options] QUESTION',
    flags: {
      image: imageFlag,
      out: { kind: 'string', value: 'FILE', help: 'where to write the picture (default <run>/plots/attention.png)' },
      checkpoint: checkpointFlag,
      layer: { kind: 'string', value: 'L', help: 'pre-decoder layer, 0-based, negative from the end, or "all" for their mean (default -1)' },
      tokens: { kind: 'string', value: 'WHICH', choices: ['question', 'last'], help: 'question: a panel per question token; last: the position that predicts the answer (default question)' },
    },
    positionals: [1, Infinity],
    run: async (a) => (await import('./infer.ts')).attention(a),
  },
  plot: {
    summary: 'draw the loss curves of a run',
    usage: 'haplovl plot [RUN_DIR] [--smooth B] [--out FILE.png]',
    flags: {
      smooth: { kind: 'number', value: 'B', min: 0, below: 1, help: 'EMA factor in [0, 1); 0 draws raw curves only (default 0.6)' },
      out: { kind: 'string', value: 'FILE', help: 'where to write the picture (default <run>/plots/losses.png)' },
    },
    notes: ['RUN_DIR defaults to --run. Every *.jsonl log in it becomes a panel.'],
    positionals: [0, 1],
    run: async (a) => (await import('./plot.ts')).plot(a),
  },
  compare: {
    summary: 'the paper\'s comparisons: another design from the run\'s own parents, trained on the same data, asked the same questions',
    usage: 'haplovl compare llava|solo|hovle [--steps N] [--questions N]',
    notes: [
      'llava: the teacher\'s ViT (frozen), a projector and the LLM. solo: a linear layer on raw patches and the LLM.',
      'hovle: an embedding module distilled from the llava comparison\'s visual tokens, then the LLM (run llava first).',
      'Needs the run\'s tokenizer, teacher and LLM (haplovl pipeline makes them); writes <run>/<design>/ (checkpoints, eval.json).',
      'Prints every evaluated model of the run side by side, also into <run>/compare.md. Resumes like the pipeline.',
    ],
    flags: {
      questions: { kind: 'int', value: 'N', min: 1, max: 10000, help: 'questions per category in each evaluation set (default 40)' },
    },
    positionals: [1, 1],
    targets: ['llava', 'solo', 'hovle'],
    run: async (a) => (await import('./recipe.ts')).compare(a),
  },
  pipeline: {
    summary: 'the whole recipe: tokenizer, parents, stage 1, alignment, stage 2, evaluation, plots',
    usage: 'haplovl pipeline [--steps N] [--questions N] [--without-stage1]',
    notes: [
      'Each step resumes from its checkpoint, so an interrupted pipeline continues where it stopped.',
      '--without-stage1 is the paper\'s ablation (Table 7, first row): alignment starts from the model built from the parents; give it its own --run.',
    ],
    flags: {
      questions: { kind: 'int', value: 'N', min: 1, max: 10000, help: 'questions per category in each evaluation set (default 40)' },
      'without-stage1': { kind: 'boolean', help: 'skip stage 1 (modal expansion)' },
    },
    positionals: [0, 0],
    run: async (a) => (await import('./recipe.ts')).pipeline(a),
  },
}

type Preset = keyof typeof presets

/**
 * The preset a run directory was made with: the config name in the metadata of its first checkpoint, read from
 * the safetensors header alone (8 bytes of length, then JSON), so that this stays cheap. Undefined for a new
 * run, or when the file cannot be read (loading it later says why).
 */
function presetOfRun(dir: string): Preset | undefined {
  for (const file of [files.teacher, files.llm, files.stage1, files.align, files.stage2]) {
    let fd: number | undefined
    try {
      fd = openSync(join(dir, file), 'r')
      const length = Buffer.alloc(8)
      readSync(fd, length, 0, 8, 0)
      const header = Buffer.alloc(Math.min(Number(length.readBigUInt64LE(0)), 1 << 24))
      readSync(fd, header, 0, header.length, 8)
      const name: unknown = JSON.parse(JSON.parse(header.toString('utf8')).__metadata__.config).name
      if (typeof name === 'string' && Object.hasOwn(presets, name)) return name as Preset
    } catch {
      // no such checkpoint, or not one this peek can read
    } finally {
      if (fd !== undefined) closeSync(fd)
    }
  }
  return undefined
}

/**
 * The run directory, config and seed from the common flags. A run remembers its preset: without --preset, an
 * existing run directory given by --run is run at the preset its checkpoints were made with.
 */
export function settings(values: Parsed['values']): E.Either<string, { dir: string; config: Config; seed: number; steps: number | undefined }> {
  const asked = values.preset as Preset | undefined, run = values.run as string | undefined
  const made = run === undefined ? undefined : presetOfRun(run)
  if (asked !== undefined && made !== undefined && asked !== made)
    return E.left(`${run} holds a run made with --preset ${made}: give --preset ${made}, or leave --preset out`)
  const preset = asked ?? made ?? 'tiny'
  return E.right({
    dir: run ?? join('runs', preset),
    config: presets[preset],
    seed: (values.seed as number | undefined) ?? 0,
    steps: values.steps as number | undefined,
  })
}
