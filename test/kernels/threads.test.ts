/**
 * The synchronous worker threads: a call returns the worker's output, errors on either side are reported
 * and never leave a reply behind for the next call.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fanOut, runHere, setWorkerTimeout, type Call } from '../../kernels/threads.ts'
import type { KernelThis } from '../../kernels/backend.ts'

function twice(this: KernelThis, x: Float32Array): number {
  return x[this.thread.x]! * 2
}

function sumOf(this: KernelThis, x: Float32Array, y: Float32Array): number {
  return x[this.thread.x]! + y[this.thread.x]!
}

/** gpu.js cannot compile a read of `.length` inside a kernel */
function uncompilable(this: KernelThis, x: Float32Array): number {
  return x.length
}

/** x[i] · N · 1e-7, the slow way: N steps per output */
function slowScale(this: KernelThis<{ N: number }>, x: Float32Array): number {
  let s = 0
  for (let i = 0; i < this.constants.N; i++) s += x[this.thread.x]! * 1e-7
  return s
}

const double = (values: number[]): Call => ({
  name: 'test-double', key: [values.length], source: twice, settings: { output: [values.length] },
  args: [{ data: Float32Array.from(values), dims: null }],
})

const broken: Call = { name: 'test-broken', key: [1], source: uncompilable, settings: { output: [1] }, args: [{ data: new Float32Array(1), dims: null }] }

describe('worker threads', () => {
  it('run the calls posted to them, in order, while the caller works', () => {
    const { local, remote } = fanOut([[double([1, 2, 3]), double([4, 5])]], () => 'mine')
    assert.equal(local, 'mine')
    assert.deepEqual(remote[0]!.map((out) => [...out]), [[2, 4, 6], [8, 10]])
  })
  it('pass an earlier output of the same list as an argument, here and on a worker', () => {
    const chain: Call[] = [double([1, 2]), { name: 'test-sum', key: [2], source: sumOf, settings: { output: [2] }, args: [{ from: 0, dims: null }, { data: Float32Array.of(10, 20), dims: null }] }]
    assert.deepEqual(runHere(chain).map((out) => [...out]), [[2, 4], [12, 24]])
    assert.deepEqual(fanOut([chain], () => 0).remote[0]!.map((out) => [...out]), [[2, 4], [12, 24]])
  })
  it('report a failing kernel, and the next call gets its own result', () => {
    assert.throws(() => fanOut([[broken]], () => 0), /worker thread 0:/)
    assert.deepEqual([...fanOut([[double([7])]], () => 0).remote[0]![0]!], [14])
  })
  it('are collected when the calling thread throws', () => {
    assert.throws(() => fanOut([[double([1])]], () => { throw new Error('local failure') }), /local failure/)
    assert.deepEqual([...fanOut([[double([3])]], () => 0).remote[0]![0]!], [6])
  })
  it('run a late worker\'s calls on the calling thread, and start a fresh worker for the next call', () => {
    const slow: Call = {
      name: 'test-slow', key: [1], source: slowScale, settings: { output: [2], constants: { N: 5_000_000 } },
      args: [{ data: Float32Array.of(1, 2), dims: null }],
    }
    const expected = [...runHere([slow])[0]!]
    const said: string[] = [], write = process.stderr.write
    process.stderr.write = ((text: string) => said.push(text) > 0) as typeof write
    setWorkerTimeout(1) // the worker cannot compile and run 10^7 steps in 1 ms
    try {
      assert.deepEqual([...fanOut([[slow]], () => 0).remote[0]![0]!], expected)
    } finally {
      setWorkerTimeout(20_000)
      process.stderr.write = write
    }
    assert.match(said.join(''), /worker thread 0 did not answer within 0.001 s/)
    assert.deepEqual([...fanOut([[double([5])]], () => 0).remote[0]![0]!], [10])
  })
})
