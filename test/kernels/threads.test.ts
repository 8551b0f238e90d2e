/**
 * The synchronous worker threads: a call returns the worker's output, errors on either side are reported
 * and never leave a reply behind for the next call.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fanOut, type RemoteCall } from '../../kernels/threads.ts'

const double = (values: number[], key = 'test-double'): RemoteCall => ({
  key: `${key}:${values.length}`,
  source: 'function (x) { return x[this.thread.x] * 2 }',
  settings: { output: [values.length], precision: 'single' },
  args: [{ data: Float32Array.from(values), dims: null }],
})

const broken: RemoteCall = { key: 'test-broken', source: 'function (x) { return undefinedName(x) }', settings: { output: [1] }, args: [{ data: new Float32Array(1), dims: null }] }

describe('worker threads', () => {
  it('run the calls posted to them, in order, while the caller works', () => {
    const { local, remote } = fanOut([[double([1, 2, 3]), double([4, 5])]], () => 'mine')
    assert.equal(local, 'mine')
    assert.deepEqual(remote[0]!.map((out) => [...out]), [[2, 4, 6], [8, 10]])
  })
  it('report a failing kernel, and the next call gets its own result', () => {
    assert.throws(() => fanOut([[broken]], () => 0), /worker thread 0:/)
    assert.deepEqual([...fanOut([[double([7])]], () => 0).remote[0]![0]!], [14])
  })
  it('are collected when the calling thread throws', () => {
    assert.throws(() => fanOut([[double([1])]], () => { throw new Error('local failure') }), /local failure/)
    assert.deepEqual([...fanOut([[double([3])]], () => 0).remote[0]![0]!], [6])
  })
})
