/**
 * Command-line arguments: a table of flags per command, parsed with node:util parseArgs and checked against
 * the table (whole numbers, ranges, choices), so a command's code receives values of the right kind.
 * Every problem is one line that names the flag and what it expects.
 */
import { parseArgs } from 'node:util'
import * as E from 'fp-ts/lib/Either.js'

export interface Flag {
  readonly kind: 'string' | 'boolean' | 'int' | 'number'
  readonly help: string
  /** what the value stands for in help texts (FILE, DIR, N…) */
  readonly value?: string
  readonly short?: string
  readonly choices?: readonly string[]
  /** inclusive bounds for numbers */
  readonly min?: number
  readonly max?: number
  /** the upper bound is excluded */
  readonly below?: number
}

export type Flags = Readonly<Record<string, Flag>>
export type Value = string | number | boolean
export interface Parsed {
  readonly values: Readonly<Record<string, Value | undefined>>
  readonly positionals: readonly string[]
}

/** Flags every command accepts. */
export const common: Flags = {
  run: { kind: 'string', value: 'DIR', help: 'run directory (default runs/<preset>)' },
  preset: { kind: 'string', value: 'NAME', choices: ['micro', 'tiny'], help: 'model size: micro or tiny (default tiny, or the one the --run directory was made with)' },
  seed: { kind: 'int', value: 'N', min: 0, max: 2 ** 32 - 1, help: 'random seed (default 0)' },
  steps: { kind: 'int', value: 'N', min: 1, help: 'optimizer steps per training stage (default: the recipe\'s)' },
  help: { kind: 'boolean', short: 'h', help: 'show this help' },
}

const describeRange = (f: Flag): string =>
  f.below !== undefined ? ` in [${f.min ?? '-∞'}, ${f.below})`
  : f.min !== undefined && f.max !== undefined && f.max < 2 ** 31 ? ` in [${f.min}, ${f.max}]`
  : f.min !== undefined ? ` ≥ ${f.min}` : ''

/** A flag's text value checked and converted to its kind. */
export function convert(name: string, f: Flag, text: string): E.Either<string, Value> {
  const bad = (what: string) => E.left(`--${name} expects ${what}, got '${text}'`)
  if (f.choices && !f.choices.includes(text)) return bad(`one of ${f.choices.join(', ')}`)
  if (f.kind === 'string') return text === '' ? bad(`a ${f.value ?? 'value'}`) : E.right(text)
  const n = Number(text)
  const ok = text.trim() !== '' && Number.isFinite(n) && (f.kind === 'number' || /^-?\d+$/.test(text.trim()))
    && (f.min === undefined || n >= f.min) && (f.max === undefined || n <= f.max) && (f.below === undefined || n < f.below)
  return ok ? E.right(n) : bad(`${f.kind === 'int' ? 'a whole number' : 'a number'}${describeRange(f)}`)
}

/** parseArgs' own errors, in one line without its advice about '--'. */
const parseError = (e: unknown): string => {
  const m = (e instanceof Error ? e.message : String(e)).split('\n')[0]!
  const unknown = /Unknown option '([^']+)'/.exec(m)
  if (unknown) return `unknown option '${unknown[1]}'`
  const missing = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(m)
  if (missing) return `${missing[1]} needs a value`
  return m.replace(/\. To specify a positional argument.*$/, '').replace(/\.$/, '')
}

/** The command line after the command name, against the command's flags and the common ones. */
export function parse(argv: readonly string[], flags: Flags): E.Either<string, Parsed> {
  const all = { ...common, ...flags }
  const options = Object.fromEntries(Object.entries(all).map(([name, f]) => [name, { type: f.kind === 'boolean' ? 'boolean' as const : 'string' as const, ...(f.short ? { short: f.short } : {}) }]))
  let raw: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] }
  try {
    raw = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true })
  } catch (e) {
    return E.left(parseError(e))
  }
  const values: Record<string, Value | undefined> = {}
  for (const [name, v] of Object.entries(raw.values)) {
    if (v === undefined || Array.isArray(v)) continue
    if (typeof v === 'boolean') {
      values[name] = v
      continue
    }
    const converted = convert(name, all[name]!, v)
    if (E.isLeft(converted)) return converted
    values[name] = converted.right
  }
  return E.right({ values, positionals: raw.positionals })
}

/** The help lines of a flag table: "  --name VALUE   help". */
export function flagLines(flags: Flags): string[] {
  const heads = Object.entries(flags).map(([name, f]) => `  ${f.short ? `-${f.short}, ` : ''}--${name}${f.value ? ` ${f.value}` : ''}`)
  const width = Math.max(...heads.map((h) => h.length)) + 3
  return Object.values(flags).map((f, k) => heads[k]!.padEnd(width) + f.help)
}
