/**
 * `haplovl <command> [options]`: finds the command, parses its flags, runs it, and turns every failure into one
 * line on stderr with exit status 2. Status 0 is success, 130 an interrupted training step (Ctrl-C).
 */
import { readFileSync } from 'node:fs'
import * as E from 'fp-ts/lib/Either.js'
import { common, flagLines, parse, type Value } from './args.ts'
import { commands, settings, type Command } from './commands.ts'
import type { Io } from './invocation.ts'

export const EXIT_OK = 0
export const EXIT_ERROR = 2

const NAME = 'haplovl'

export function mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length)) + 3
  return [
    `${NAME}: HaploVL, a single-transformer vision-language model, trained and used at small scale`,
    '',
    `usage: ${NAME} <command> [options]`,
    '',
    'commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    '',
    'options of every command:',
    ...flagLines(common),
    '',
    `Run '${NAME} <command> --help' for a command's own options, '${NAME} --version' for the version.`,
    'Errors print one line and exit with status 2 (HAPLOVL_DEBUG=1 adds stack traces); Ctrl-C during training exits with 130.',
  ].join('\n')
}

export function commandHelp(name: string, c: Command): string {
  const own = Object.keys(c.flags).length > 0 ? ['', 'options:', ...flagLines(c.flags)] : []
  return [`usage: ${c.usage}`, '', c.summary, ...own, '', 'options of every command:', ...flagLines(common), ...(c.notes ? ['', ...c.notes] : [])].join('\n')
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

/** Run the command line; resolves to the exit status. Thrown errors are the caller's (see main.ts). */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const fail = (message: string) => (io.err(`error: ${message}`), EXIT_ERROR)
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined
    if (topic === undefined) return io.out(mainHelp()), EXIT_OK
    const c = commands[topic]
    return c ? (io.out(commandHelp(topic, c)), EXIT_OK) : fail(`unknown command '${topic}' (run '${NAME} --help' for the list)`)
  }
  if (name === '--version') return io.out(`${NAME} ${(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version}`), EXIT_OK
  const c = Object.hasOwn(commands, name) ? commands[name] : undefined
  if (!c) return fail(name.startsWith('-') ? `expected a command before '${name}' (run '${NAME} --help')` : `unknown command '${name}' (run '${NAME} --help' for the list)`)
  const hint = ` (see '${NAME} ${name} --help')`

  const parsed = parse(rest, c.flags)
  if (E.isLeft(parsed)) return fail(parsed.left + hint)
  const { values, positionals } = parsed.right
  if (values.help) return io.out(commandHelp(name, c)), EXIT_OK
  const [least, most] = c.positionals
  if (positionals.length < least)
    return fail(c.targets ? `${name} needs one of: ${c.targets.join(', ')}${hint}` : `${name} needs ${least === 1 ? 'an argument' : plural(least, 'argument')}${hint}`)
  if (positionals.length > most)
    return fail(most === 0 ? `${name} takes no arguments, got '${positionals.join(' ')}'${hint}` : `${name} takes at most ${plural(most, 'argument')}, got ${positionals.length}${hint}`)
  if (c.targets && !c.targets.includes(positionals[0]!)) return fail(`${name} ${positionals[0]}: expected one of ${c.targets.join(', ')}`)

  const get = <T extends Value>(flag: string, fallback: T): T => (values[flag] as T | undefined) ?? fallback
  const shared = settings(values)
  if (E.isLeft(shared)) return fail(shared.left)
  const outcome = await c.run({ ...parsed.right, ...shared.right, io, get })
  return E.isLeft(outcome) ? fail(outcome.left) : outcome.right
}
