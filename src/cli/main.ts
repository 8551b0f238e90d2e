/**
 * The entry point of the `haplovl` command (bin/haplovl.js loads it through tsx).
 *
 * Whatever goes wrong ends as one line `error: …` on stderr and exit status 2: errors a user can cause come back
 * as values, anything thrown is caught here. HAPLOVL_DEBUG=1 prints the stack as well.
 */
import { main, EXIT_ERROR } from './app.ts'
import type { Io } from './invocation.ts'

const debug = process.env.HAPLOVL_DEBUG === '1'

const io: Io = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
  write: (text) => void process.stdout.write(text),
  tty: process.stdout.isTTY === true,
  columns: process.stdout.columns || 80, // 0 on a terminal that reports no size
}

/** The first line of an error's message, without a stack. */
const oneLine = (e: unknown): string => {
  const m = e instanceof Error ? e.message : String(e)
  return m.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? (e instanceof Error ? e.name : 'unknown error')
}

const crash = (e: unknown): never => {
  process.stderr.write(`error: ${oneLine(e)}\n`)
  if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`)
  process.exit(EXIT_ERROR)
}

process.on('uncaughtException', crash)
process.on('unhandledRejection', crash)
// a closed pipe (e.g. `haplovl data | head`) is not an error
process.stdout.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? process.exit(0) : crash(e)))

try {
  process.exitCode = await main(process.argv.slice(2), io)
} catch (e) {
  crash(e)
}
