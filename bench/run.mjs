#!/usr/bin/env node
// `npm run bench`: the CPU table always, the GPU table whenever CUDA is available.
// Flags: --quick (fewer shapes/iterations), --cpu-only, --gpu-only.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const log = (msg) => process.stderr.write(`${msg}\n`);

const { cuda } = require('../dist/index.js');

if (!args.has('--gpu-only')) {
  const { runCpuBench } = await import('./cpu.mjs');
  await runCpuBench({ quick, log });
}
if (!args.has('--cpu-only')) {
  const status = cuda.status();
  if (status.available) {
    const { runGpuBench } = await import('./gpu.mjs');
    await runGpuBench({ quick, log });
  } else {
    log(`GPU table skipped: ${status.reason}`);
  }
}
