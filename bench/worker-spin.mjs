// The CPU pool's worker spin (cpu.setWorkerSpin) against an app's other work between calls:
// SE (or ECA) fp32 NCHW with `out` through the public API, back to back and after GAP_MS of busy
// JavaScript before each call, under the default spin (50 us) and SPIN us, alternated ROUNDS
// times (300 calls each way a round); prints a markdown table of the per-round medians in us.
//
//   node bench/worker-spin.mjs            (env: GAP_MS=0.5 SPIN=2000 ROUNDS=3 OP=se|eca SHAPES=1x240x28x28,...)
//
// Timings on a quiet machine only: a spinning worker helps where its core is otherwise idle
// (README, "The CPU pool's settings"; native/dev/NOTES-cpu.md item 75).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

import { xorshiftFiller } from './random.mjs';

const require = createRequire(import.meta.url);
const api = require('../dist/index.js');

const GAP_MS = Number(process.env.GAP_MS ?? 0.5);
const SPIN = Number(process.env.SPIN ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const OP = process.env.OP ?? 'se';
const SHAPES = (process.env.SHAPES ?? '1x240x28x28,1x512x28x28,1x1024x14x14,1x2048x7x7,1x256x56x56,8x240x28x28').split(',');
const CALLS = 300;

const busy = (ms) => {
  const t = performance.now();
  while (performance.now() - t < ms);
};
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

const defaultSpin = api.cpu.status().workerSpinMicroseconds;
const rows = new Map();
for (let round = 0; round < ROUNDS; round++) {
  for (const spin of [defaultSpin, SPIN]) {
    api.cpu.setWorkerSpin(spin);
    for (const s of SHAPES) {
      const [n, c, h, w] = s.split('x').map(Number);
      const rand = xorshiftFiller(c + round);
      // EfficientNet's 96 -> 4 and 240 -> 10, else SE-ResNet's reduction 16 (bench/cpu.mjs's hidden)
      const hidden = c === 240 ? 10 : c === 96 ? 4 : Math.max(8, c / 16);
      const weights = OP === 'eca' ? { weight: rand(5, 0.3) } : { w1: rand(hidden * c, 0.1), b1: rand(hidden, 0.1), w2: rand(c * hidden, 0.1), b2: rand(c, 0.1) };
      const forward = OP === 'eca' ? api.ecaForward : api.seForward;
      const shape = [n, c, h, w];
      const x = rand(n * c * h * w, 1);
      const out = new Float32Array(x.length);
      for (let i = 0; i < 50; i++) forward(x, shape, weights, { out });
      const backToBack = [];
      const afterWork = [];
      for (let i = 0; i < CALLS; i++) {
        const t = performance.now();
        forward(x, shape, weights, { out });
        backToBack.push((performance.now() - t) * 1e3);
      }
      for (let i = 0; i < CALLS; i++) {
        busy(GAP_MS);
        const t = performance.now();
        forward(x, shape, weights, { out });
        afterWork.push((performance.now() - t) * 1e3);
      }
      const key = `${s}\t${spin}`;
      if (!rows.has(key)) rows.set(key, { bb: [], aw: [] });
      rows.get(key).bb.push(median(backToBack).toFixed(1));
      rows.get(key).aw.push(median(afterWork).toFixed(1));
    }
  }
}
api.cpu.setWorkerSpin(defaultSpin);

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {}
const st = api.cpu.status();
console.log(`# Worker spin: ${OP.toUpperCase()} fp32 NCHW with out, back to back and after ${GAP_MS} ms of busy JavaScript`);
console.log('');
console.log(`${os.cpus()[0]?.model ?? 'unknown CPU'}, ${st.threads} pool threads, ${st.simd}; Node ${process.version}; commit ${commit}; ${new Date().toISOString()}; load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')} at the end.`);
console.log(`Medians of ${CALLS} calls per round, ${ROUNDS} rounds alternating the spins (one value a round), in µs.`);
console.log('');
console.log('| shape | spin µs | back to back µs | after other work µs |');
console.log('|---|---:|---|---|');
for (const [key, v] of rows) {
  const [shape, spin] = key.split('\t');
  console.log(`| ${shape} | ${spin} | ${v.bb.join(' / ')} | ${v.aw.join(' / ')} |`);
}
