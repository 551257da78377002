// Async host calls and the libuv pool (native/binding/async_worker.cpp, EnvState): one staged call
// of a thread's runs on the pool at a time, the rest wait in call order without a pool thread.
// So fs, dns, crypto and zlib requests made after a burst of calls are not queued behind all of
// them, and a Worker terminated with calls queued waits for the one running only (before: 400
// queued calls of SE 8x256x28x28 held terminate() for 4.5-5 s; every one of them ran).
// Nothing here is timed: the tests count which calls ran before an event.
import { readFile } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { describe, expect, test } from 'vitest';
import { seForward, seForwardAsync } from '../dist/index.js';
import type { Shape4 } from './reference.js';
import { bitsEqual, freshRng, numel, poisoned, randSEWeights, seedNote } from './helpers.js';

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
});
