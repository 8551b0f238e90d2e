#!/usr/bin/env -S node --initial-old-space-size=1024
// The `haplovl` command: registers tsx's ESM loader, then runs the TypeScript entry point.
//
// The flag: every kernel call allocates its output as a fresh ArrayBuffer, and V8 counts those bytes towards
// the limit that starts a full garbage collection. With the default, small starting limit 12 stage-2 steps at
// tiny set off ~430 of them (marking threads then take CPU from the kernel worker); with a 1 GB start, ~90,
// and the steps run ~18% faster. (`npm start` runs this file, shebang included; `node bin/haplovl.js` does not.)
import { register } from 'tsx/esm/api'

register({ tsconfig: new URL('../tsconfig.json', import.meta.url).pathname })
await import('../src/cli/main.ts')
