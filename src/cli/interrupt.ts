/**
 * Ctrl-C: the first SIGINT asks the running command to stop after its current step (the training loop polls
 * `shouldStop`, saves a checkpoint and returns; evaluation polls it between questions); a second SIGINT quits
 * at once with status 130.
 */
export interface Interrupt {
  readonly shouldStop: () => boolean
  /** stop listening (the default SIGINT behaviour comes back) */
  readonly dispose: () => void
}

export const EXIT_INTERRUPTED = 130

export function onInterrupt(say: (line: string) => void, exit: (code: number) => void = (code) => process.exit(code)): Interrupt {
  let stopping = false
  const handler = () => {
    if (stopping) return exit(EXIT_INTERRUPTED)
    stopping = true
    say('stopping after this step (training saves its checkpoint first); press Ctrl-C again to quit now')
  }
  process.on('SIGINT', handler)
  return { shouldStop: () => stopping, dispose: () => void process.off('SIGINT', handler) }
}
