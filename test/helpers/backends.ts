/**
 * Run a suite on every backend that can run here: cpu and webasm always; headlessgl when the optional `gl`
 * module loads and a display exists (under xvfb-run), otherwise the reason is printed once.
 */
import { GPU } from 'gpu.js'
import { setBackend, getBackend, type BackendName } from '../../kernels/backend.ts'

export function availableBackends(): BackendName[] {
  const names: BackendName[] = ['cpu', 'webasm']
  if (GPU.isHeadlessGLSupported) names.push('headlessgl')
  else if (!reported) {
    reported = true
    console.log('# headlessgl skipped: the optional gl module did not load or no display is present (run under xvfb-run with gl built)')
  }
  return names
}
let reported = false

/** Call fn once per backend with that backend selected; the previous backend is restored afterwards. */
export function onEachBackend(fn: (backend: BackendName) => void): void {
  const before = getBackend()
  try {
    for (const b of availableBackends()) {
      setBackend(b)
      fn(b)
    }
  } finally {
    setBackend(before)
  }
}
