/**
 * TensorFlow.js with its WebAssembly backend (XNNPACK kernels, SIMD), the peer every row is compared with.
 * In Node the .wasm files are found through a file path; its multi-threaded build does not run in Node.
 */
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'

export async function loadTfjs(): Promise<typeof tf> {
  const require = createRequire(import.meta.url)
  // tfjs-core's Node bundle registers no gradient functions (the full 'tfjs' package does); its ES module
  // sources do, into the same global registry, and resolve only through require's file-before-folder rule
  require('@tensorflow/tfjs-core/dist/register_all_gradients.js')
  setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/')
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend did not initialise')
  await tf.ready()
  return tf
}

export type Tf = typeof tf
