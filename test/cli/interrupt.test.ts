/** Ctrl-C: the first SIGINT asks for a stop after the current step, the second quits with status 130. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { onInterrupt, EXIT_INTERRUPTED } from '../../src/cli/interrupt.ts'

describe('onInterrupt', () => {
  it('first SIGINT sets shouldStop and says so; the second exits with 130; dispose stops listening', () => {
    const said: string[] = [], exits: number[] = []
    const before = process.listenerCount('SIGINT')
    const i = onInterrupt((l) => void said.push(l), (code) => void exits.push(code))
    assert.equal(i.shouldStop(), false)
    process.emit('SIGINT')
    assert.equal(i.shouldStop(), true)
    assert.deepEqual(exits, [])
    assert.match(said.join('\n'), /stopping after this step \(training saves its checkpoint first\)/)
    process.emit('SIGINT')
    assert.deepEqual(exits, [EXIT_INTERRUPTED])
    i.dispose()
    assert.equal(process.listenerCount('SIGINT'), before)
  })
})
