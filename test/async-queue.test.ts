// Async host calls and the libuv pool (native/binding/async_worker.cpp, EnvState): one staged call
// of a thread's runs on the pool at a time, the rest wait in call order without a pool thread.
// So fs, dns, crypto and zlib requests made after a burst of calls are not queued behind all of
// them, and a Worker terminated with calls queued waits for the one running only (before: 400
// queued calls of SE 8x256x28x28 held terminate() for 4.5-5 s; every one of them ran).
// Nothing here is timed: the tests count which calls ran before an event.
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { describe, expect, test } from 'vitest';
import { seForward, seForwardAsync } from '../dist/index.js';
import type { Shape4 } from './reference.js';
import { bitsEqual, freshRng, numel, onPath, poisoned, randSEWeights, seedNote } from './helpers.js';

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const rng = freshRng();
const note = seedNote(rng);
const shape: Shape4 = [4, 64, 24, 24];
const weights = randSEWeights(rng, 64, 16, { twoFc: true, b1: true, b2: true });

describe('async host calls on the libuv pool', () => {
  test('a burst of 100 calls takes one pool thread: fs.readFile made after it completes before most of them settle; all settle in call order with the sync bits', async () => {
    const x = rng.normals(numel(shape), 1);
    const expected = seForward(x, shape, weights, { device: 'cpu' });
    const outs = Array.from({ length: 100 }, () => poisoned(x.length));
    const settled: number[] = [];
    const calls = outs.map((out, i) =>
      seForwardAsync(x, shape, weights, { device: 'cpu', out, offload: 'always' }).then(() => settled.push(i)),
    );
    const settledAtRead = await new Promise<number>((resolve, reject) =>
      readFile(DIST, (err) => (err ? reject(err) : resolve(settled.length))),
    );
    await Promise.all(calls);
    // Before, the 100 works filled the pool's queue ahead of readFile's requests: 100 of 100 had
    // settled when it completed. Now 1-2 here.
    expect(settledAtRead, 'calls settled before readFile completed').toBeLessThan(10);
    expect(settled, 'settle order').toEqual(outs.map((_, i) => i));
    expect(outs.every((o) => bitsEqual(o, expected)), note).toBe(true);
  });

  test("a running call takes its output block when it starts, reusing a finished call's: a burst of 30 calls faults in about its inputs' pages, not twice that", async () => {
    // 4 MiB tensors: staging blocks of 1 MiB and more are mapped fresh from the system unless a
    // cached one fits. Before, every call took its output block when made: 30 fresh output
    // blocks beside the 30 input copies, about 2 x 30 x 1024 page faults.
    const big: Shape4 = [1, 64, 128, 128];
    const bigWeights = randSEWeights(rng, 64, 16, { twoFc: true, b1: false, b2: false });
    const x = rng.normals(numel(big), 1);
    const out = new Float32Array(x.length);
    await seForwardAsync(x, big, bigWeights, { device: 'cpu', out, offload: 'always' });
    const pagesPerTensor = (x.length * 4) / 4096;
    const before = process.resourceUsage().minorPageFault;
    await Promise.all(Array.from({ length: 30 }, () => seForwardAsync(x, big, bigWeights, { device: 'cpu', out, offload: 'always' })));
    const faults = process.resourceUsage().minorPageFault - before;
    expect(faults, `minor page faults over the burst (${pagesPerTensor} pages a tensor)`).toBeLessThan(45 * pagesPerTensor);
    expect(bitsEqual(out, seForward(x, big, bigWeights, { device: 'cpu' })), note).toBe(true);
  });

  // x and every out on a SharedArrayBuffer: the work reads and writes them in place (host_staging.h),
  // so the main thread sees which calls ran, after the worker is gone.
  const QUEUE_SCRIPT = `
const { parentPort, workerData } = require('node:worker_threads');
const sqex = require(workerData.dist);
const { sab, calls, shape, weights, exit } = workerData;
const n = shape.reduce((a, b) => a * b, 1);
const x = new Float32Array(sab, 0, n);
for (let i = 0; i < calls; i++) {
  const out = new Float32Array(sab, (i + 1) * n * 4, n);
  sqex.seForwardAsync(x, shape, weights, { device: 'cpu', out, offload: 'always' }).catch(() => {});
}
if (exit) process.exit(0);
parentPort.postMessage('queued');
`;

  async function queuedThenGone(calls: number, how: 'terminate' | 'exit'): Promise<{ ran: number; expected: Float32Array; outs: Float32Array[] }> {
    const n = numel(shape);
    const sab = new SharedArrayBuffer((calls + 1) * n * 4);
    const x = new Float32Array(sab, 0, n);
    x.set(rng.normals(n, 1));
    const outs = Array.from({ length: calls }, (_, i) => new Float32Array(sab, (i + 1) * n * 4, n).fill(Number.NaN));
    const expected = seForward(x, shape, weights, { device: 'cpu' });
    const worker = new Worker(QUEUE_SCRIPT, { eval: true, workerData: { dist: DIST, sab, calls, shape, weights, exit: how === 'exit' } });
    if (how === 'terminate') {
      await once(worker, 'message');
      await worker.terminate();
    } else {
      await once(worker, 'exit');
    }
    // A call's out is written whole or not at all once the worker is gone.
    const ran = outs.filter((o) => !Number.isNaN(o[0])).length;
    return { ran, expected, outs };
  }

  test('a Worker terminated with 300 calls queued runs the one in flight, not the rest; the calls that ran have the sync bits', async () => {
    const { ran, expected, outs } = await queuedThenGone(300, 'terminate');
    // Before, teardown waited for every queued work: 300 of 300 ran.
    expect(ran, 'calls that ran').toBeLessThan(30);
    for (const o of outs) if (!Number.isNaN(o[0])) expect(bitsEqual(o, expected), note).toBe(true);
    // The main thread still computes.
    const x = rng.normals(numel(shape), 1);
    expect(bitsEqual(await seForwardAsync(x, shape, weights, { device: 'cpu', offload: 'always' }), seForward(x, shape, weights, { device: 'cpu' })), note).toBe(true);
  });

  test('a Worker that calls process.exit() with 300 calls queued ends without running them', async () => {
    const { ran } = await queuedThenGone(300, 'exit');
    expect(ran, 'calls that ran').toBeLessThan(30);
  });
  // The output block is taken when the work starts, so running out of memory there is found on
  // the pool thread: the rejection still names the block and its size (it said "host memory for
  // the call", without bytes, until this was mended). The child caps its own address space
  // (prlimit) after queueing 6 calls of a 16 MiB tensor, leaving room for a few blocks.
  const LATE_OOM_SCRIPT = `
const sqex = require(process.argv[1]); const { execFileSync } = require('node:child_process'); const fs = require('node:fs');
const mk = (n, s) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = Math.sin(i * s); return a; };
const C = 64, shape = [4, C, 128, 128], n = shape.reduce((a, b) => a * b), w = { w1: mk(16 * C, 0.1), w2: mk(C * 16, 0.2) }, x = mk(n, 1);
const vm = () => Number(/VmSize:\\s+(\\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
(async () => {
  await sqex.seForwardAsync(mk(C * 16, 1), [1, C, 4, 4], w, { device: 'cpu', offload: 'always' });
  const ps = Array.from({ length: 6 }, () => sqex.seForwardAsync(x, shape, w, { device: 'cpu', offload: 'always', out: new Float32Array(n) })
    .then(() => 'ok', (e) => ({ code: e.code, message: e.message, bytes: e.bytes })));
  execFileSync('prlimit', ['--pid', String(process.pid), '--as=' + (vm() + (8 << 20)) + ':']);
  const r = await Promise.all(ps);
  execFileSync('prlimit', ['--pid', String(process.pid), '--as=unlimited:unlimited']);
  process.stdout.write(JSON.stringify(r));
})();
`;
  test.skipIf(process.platform !== 'linux' || !onPath('prlimit'))('an output block that cannot be had when the call starts: ERR_SQEX_OUT_OF_MEMORY naming it and its bytes; the other calls run (needs Linux and prlimit)', () => {
    const r = spawnSync(process.execPath, ['-e', LATE_OOM_SCRIPT, DIST], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout) as (string | { code: string; message: string; bytes?: number })[];
    const refused = results.filter((v): v is { code: string; message: string; bytes?: number } => typeof v !== 'string');
    expect(refused.length, r.stdout).toBeGreaterThan(0);
    expect(results.filter((v) => v === 'ok').length, r.stdout).toBeGreaterThan(0);
    for (const e of refused) {
      expect(e.code).toBe('ERR_SQEX_OUT_OF_MEMORY');
      expect(e.message).toContain('the staging block for options.out (16.0 MiB)');
      expect(e.bytes).toBe(16 * 1024 * 1024);
    }
  });
});

// A user's trial (2026-12-05): with offload 'auto' a call that costs less than staging runs on the
// calling thread and its promise was already resolved, so `await` went on in a microtask and a
// loop of 100 awaited SE 8x256x56x56 calls (181 ms) let not one 1 ms timer fire. Such calls now
// settle after a turn of the event loop once they have held the thread 1 ms in all since the last
// (lib/event-loop-turn.ts).
describe('async calls run on the calling thread still let the event loop turn', () => {
  // offload 'auto' runs it on this thread (staging it costs more), ~1-2 ms on a 2-core VM
  const big: Shape4 = [8, 256, 56, 56];
  const bigWeights = randSEWeights(rng, 256, 16, { twoFc: true, b1: true, b2: true });
  const x = rng.normals(numel(big), 1);
  test('a setImmediate scheduled before such a call runs before the awaited call goes on', async () => {
    const expected = seForward(x, big, bigWeights, { device: 'cpu' });
    for (let i = 0; i < 3; i++) {
      let ran = false;
      setImmediate(() => {
        ran = true;
      });
      const out = poisoned(x.length);
      const t0 = performance.now();
      const p = seForwardAsync(x, big, bigWeights, { device: 'cpu', out });
      const ms = performance.now() - t0;
      // it ran on this thread: out is written before the call returns
      expect(bitsEqual(out, expected), `the call was staged, not run here: ${note}`).toBe(true);
      expect(await p).toBe(out);
      // (a call under 1 ms may rightly settle without one; on any machine this shape takes longer)
      if (ms >= 1) expect(ran, `call ${i} (${ms.toFixed(2)} ms): the awaited call went on before the event loop turned`).toBe(true);
    }
  });
  test('a loop of such awaited calls lets a 1 ms interval fire (it fired 0 times before)', async () => {
    const out = poisoned(x.length);
    let ticks = 0;
    let heldMs = 0;
    const iv = setInterval(() => ticks++, 1);
    try {
      while (heldMs < 30) {
        const t0 = performance.now();
        const p = seForwardAsync(x, big, bigWeights, { device: 'cpu', out });
        heldMs += performance.now() - t0;
        await p;
      }
    } finally {
      clearInterval(iv);
    }
    expect(ticks).toBeGreaterThan(5);
  });
});
