#!/usr/bin/env node
// `npm run bench`: the CPU table always, the GPU table whenever CUDA is available.
// Progress goes to stderr while it runs; the tables go to stdout at the end, and the CPU table is
// also kept as bench/results/cpu-<host>-<date>.md (the GPU half writes its own file).
// Flags: --quick (fewer shapes/iterations), --cpu-only, --gpu-only, --no-save.
import { execSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';

const require = createRequire(import.meta.url);
const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const log = (msg) => process.stderr.write(`${msg}\n`);

const { cuda } = require('../dist/index.js');
const { loadBinding } = require('../dist/backend/load.js');

function commit() {
  try {
    const sha = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execSync('git status --porcelain --untracked-files=no', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return dirty ? `${sha} (with uncommitted changes)` : sha;
  } catch {
    return 'unknown';
  }
}

function cpuTable(rows) {
  const info = loadBinding().info();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    `CPU: ${cpu}, ${os.cpus().length} cores, ${info.threads} pool threads, ${info.simd} kernels; Node ${process.version}; commit ${commit()}; ${new Date().toISOString().slice(0, 10)}`,
    'Ratio = op time / single-threaded memcpy of the same bytes (dst.set(src)), measured in the same run; GB/s counts one read of x and one write of y.',
    '',
    '| op | shape (N×C×H×W) | layout | dtype | ms | GB/s | memcpy ms | ratio |',
    '| --- | --- | --- | --- | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.op} | ${r.shape.replaceAll('x', '×')} | ${r.layout} | ${r.dtype} | ${r.ms.toFixed(3)} | ${r.gbps.toFixed(1)} | ${r.copyMs.toFixed(3)} | ${r.ratio.toFixed(2)} |`),
  ];
  return lines.join('\n');
}

if (!args.has('--gpu-only')) {
  const { runCpuBench } = await import('./cpu.mjs');
  log('CPU table: each op against a same-size memcpy');
  const rows = await runCpuBench({ quick, log });
  const table = cpuTable(rows);
  console.log(`\n## CPU\n\n${table}\n`);
  if (!args.has('--no-save') && !quick) {
    const file = new URL(`./results/cpu-${os.hostname().replace(/[^\w.-]/g, '_')}-${new Date().toISOString().slice(0, 10)}.md`, import.meta.url);
    writeFileSync(file, `# CPU benchmark\n\n${table}\n`);
    log(`saved ${file.pathname}`);
  }
}
if (!args.has('--cpu-only')) {
  const status = cuda.status();
  if (status.available) {
    const { runGpuBench } = await import('./gpu.mjs');
    await runGpuBench({ quick, log });
    const { runOverheadBench } = await import('./overhead.mjs');
    const rows = await runOverheadBench({ log });
    console.log('\n## Host overhead per call (10k back-to-back calls on resident DeviceTensors)\n');
    console.log('| call | shape | dtype | µs per call (enqueue) | µs per call (incl. final sync) |');
    console.log('| --- | --- | --- | ---: | ---: |');
    for (const r of rows) console.log(`| ${r.what} | ${r.shape.replaceAll('x', '×')} | ${r.dtype} | ${r.enqueueUs.toFixed(2)} | ${r.withSyncUs.toFixed(2)} |`);
  } else {
    log(`GPU table skipped: ${status.reason}`);
  }
}
