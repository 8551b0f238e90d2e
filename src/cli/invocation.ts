/** What a command receives and returns. */
import type * as E from 'fp-ts/lib/Either.js'
import type { Config } from '../haplovl/config.ts'
import type { Parsed, Value } from './args.ts'

/** Where output goes; a terminal gets progress bars. */
export interface Io {
  readonly out: (line: string) => void
  readonly err: (line: string) => void
  /** raw text to stdout, for progress bars */
  readonly write: (text: string) => void
  readonly tty: boolean
  readonly columns: number
}

/** What every command receives: its parsed flags and the common settings. */
export interface Invocation extends Parsed {
  readonly io: Io
  readonly dir: string
  readonly config: Config
  readonly seed: number
  readonly steps: number | undefined
  /** the value of a flag (already checked against its kind), or the default */
  readonly get: <T extends Value>(name: string, fallback: T) => T
}

/** A command's outcome: an exit status, or one line of error. */
export type Outcome = Promise<E.Either<string, number>>

