#!/usr/bin/env node
// The `haplovl` command: registers tsx's ESM loader, then runs the TypeScript entry point.
import { register } from 'tsx/esm/api'

register({ tsconfig: new URL('../tsconfig.json', import.meta.url).pathname })
await import('../src/cli/main.ts')
