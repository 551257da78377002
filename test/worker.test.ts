// The addon in several worker_threads at once, with the main thread computing at the same time.
// Each worker loads the CommonJS build by absolute path (an inline CJS script), runs sync and async
// forwards on the CPU, and returns its results; the main thread checks them against the float64
// reference. Then: workers terminated mid-flight, and repeated load/unload, leave the process working.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import { cbamForward, ecaForward, seForward, seForwardAsync } from '../dist/index.js';
import { refCBAM, refECA, refSE, type Shape4 } from './reference.js';
import { TOL_F32, expectClose, freshRng, numel, randCBAMWeights, randECAWeight, randSEWeights, seedNote } from './helpers.js';

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

// Runs every job `rounds` times, alternating sync and async calls; reports the first result of
// each job and whether every later round was bitwise identical to it.
const WORKER_SCRIPT = `
const { parentPort, workerData } = require('node:worker_threads');
const sqex = require(workerData.dist);
const same = (a, b) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
(async () => {
  const first = [];
  let mismatches = 0;
  for (let r = 0; r < workerData.rounds; r++) {
    for (let j = 0; j < workerData.jobs.length; j++) {
      const { op, x, shape, weights, options } = workerData.jobs[j];
      const opts = Object.assign({}, options, { device: 'cpu' });
      const y = (r + j) % 2 === 0
        ? sqex[op + 'Forward'](x, shape, weights, opts)
        : await sqex[op + 'ForwardAsync'](x, shape, weights, opts);
      if (r === 0) first.push(y);
      else if (!same(first[j], y)) mismatches++;
    }
  }
  parentPort.postMessage({ ok: true, results: first, mismatches });
})().catch((e) => parentPort.postMessage({ ok: false, error: String((e && e.stack) || e) }));
`;

// Loops async forwards until terminated.
const BUSY_SCRIPT = `
const { parentPort, workerData } = require('node:worker_threads');
const sqex = require(workerData.dist);
const { x, shape, weights } = workerData;
let n = 0;
(async () => {
  for (;;) {
    await sqex.seForwardAsync(x, shape, weights, { device: 'cpu' });
    sqex.seForward(x, shape, weights, { device: 'cpu' });
    if (++n === 2) parentPort.postMessage('running');
  }
})();
`;

interface Job {
  op: 'se' | 'eca' | 'cbam';
  x: Float32Array;
  shape: Shape4;
  weights: Record<string, Float32Array>;
  options: Record<string, unknown>;
  expected: Float64Array;
}

function makeJobs(rng: ReturnType<typeof freshRng>, k: number): Job[] {
  const shapes: Shape4[] = [
    [2, 24 + k, 14, 14],
    [1, 7, 13, 11],
    [3, 16, 9, 9],
  ];
  const jobs: Job[] = [];
  for (const [i, shape] of shapes.entries()) {
    const C = shape[1];
    const layout = (i + k) % 2 ? 'NHWC' : 'NCHW';
    const x = rng.normals(numel(shape), 1, 0.3);
    const seW = randSEWeights(rng, C, Math.max(1, C >> 2), { twoFc: true, b1: true, b2: true });
    const seOpts = { layout, activation: 'silu', gate: 'sigmoid' } as const;
    jobs.push({ op: 'se', x, shape, weights: { ...seW }, options: seOpts, expected: refSE(x, shape, seW, seOpts).y });
    const weight = randECAWeight(rng, 5);
    const ecaOpts = { layout, gate: 'hardsigmoid' } as const;
    jobs.push({ op: 'eca', x, shape, weights: { weight }, options: ecaOpts, expected: refECA(x, shape, { weight }, ecaOpts).y });
    const cbW = randCBAMWeights(rng, C, Math.max(1, C >> 2), 7, { b1: true, b2: true, spatialBias: true });
    const cbOpts = { layout, activation: 'relu', gate: 'sigmoid' } as const;
    jobs.push({ op: 'cbam', x, shape, weights: { ...cbW }, options: cbOpts, expected: refCBAM(x, shape, cbW, cbOpts).y });
  }
  return jobs;
}

describe('worker_threads', () => {
  test('3 workers and the main thread compute concurrently and correctly; workers exit cleanly', async () => {
    const rng = freshRng();
    const WORKERS = 3;
    const jobSets = Array.from({ length: WORKERS }, (_, k) => makeJobs(rng, k));
    const workers = jobSets.map(
      (jobs) =>
        new Worker(WORKER_SCRIPT, {
          eval: true,
          workerData: { dist: DIST, rounds: 4, jobs: jobs.map(({ expected: _e, ...j }) => j) },
        }),
    );
    const messages = workers.map((w) => once(w, 'message'));
    const exits = workers.map((w) => once(w, 'exit'));

    // The main thread works at the same time, on its own data.
    const mainJobs = makeJobs(rng, 7);
    const fwd = { se: seForward, eca: ecaForward, cbam: cbamForward } as const;
    for (let r = 0; r < 3; r++) {
      for (const job of mainJobs) {
        const fn = fwd[job.op] as (x: Float32Array, s: Shape4, w: unknown, o: unknown) => Float32Array;
        const y = fn(job.x, job.shape, job.weights, { ...job.options, device: 'cpu' });
        expectClose(y, job.expected, TOL_F32, `main thread ${job.op} ${seedNote(rng)}`);
      }
      const first = mainJobs[0];
      const y = await seForwardAsync(first.x, first.shape, first.weights as { w1: Float32Array }, { ...(first.options as object), device: 'cpu' });
      expectClose(y, first.expected, TOL_F32, `main thread async ${seedNote(rng)}`);
    }

    const replies = await Promise.all(messages);
    replies.forEach(([msg], k) => {
      expect(msg.ok, msg.error).toBe(true);
      expect(msg.mismatches, `worker ${k}: a later round differed from the first`).toBe(0);
      jobSets[k].forEach((job, j) =>
        expectClose(msg.results[j], job.expected, TOL_F32, `worker ${k} job ${j} (${job.op} ${job.shape}) ${seedNote(rng)}`),
      );
    });
    const codes = await Promise.all(exits);
    expect(codes.map(([c]) => c)).toEqual(Array(WORKERS).fill(0));
  }, 60_000);

  // Runs in a child process, so that an abort there (the bug this guards against) fails this test
  // with its output instead of killing the test runner.
  test('workers terminated while busy, and repeated load/unload, leave the process working', () => {
    const script = `
const { Worker } = require('node:worker_threads');
const { once } = require('node:events');
const sqex = require(${JSON.stringify(DIST)});
const BUSY = ${JSON.stringify(BUSY_SCRIPT)};
(async () => {
  const shape = [4, 64, 32, 32];
  const x = new Float32Array(4 * 64 * 32 * 32).map((_, i) => Math.sin(i));
  const weights = { w1: new Float32Array(64 * 16).map((_, i) => Math.cos(i) / 8), w2: new Float32Array(16 * 64).map((_, i) => Math.sin(3 * i) / 4) , b1: new Float32Array(16).fill(0.1)};
  const expected = sqex.seForward(x, shape, weights, { device: 'cpu' });
  for (let round = 0; round < 6; round++) {
    const busy = [0, 1].map(() => new Worker(BUSY, { eval: true, workerData: { dist: ${JSON.stringify(DIST)}, x, shape, weights } }));
    await Promise.all(busy.map((w) => once(w, 'message')));
    await Promise.all(busy.map((w) => w.terminate()));
  }
  for (let i = 0; i < 4; i++) {
    const w = new Worker(
      "require(" + JSON.stringify(${JSON.stringify(DIST)}) + ").seForward(new Float32Array([2]), [1, 1, 1, 1], { w1: new Float32Array([1]) }, { device: 'cpu' });",
      { eval: true },
    );
    const [code] = await once(w, 'exit');
    if (code !== 0) throw new Error('short-lived worker exited with ' + code);
  }
  const y = sqex.seForward(x, shape, weights, { device: 'cpu' });
  if (Buffer.compare(Buffer.from(y.buffer), Buffer.from(expected.buffer)) !== 0) throw new Error('result changed');
  console.log('ALIVE');
})().catch((e) => { console.error(e); process.exit(3); });
`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    const output = `status=${r.status} signal=${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    expect(r.signal, output).toBeNull();
    expect(r.status, output).toBe(0);
    expect(r.stdout, output).toContain('ALIVE');
  }, 90_000);
});

// From a stress test (2026-11-30): the CPU pool took one thread per host CPU whatever the process
// may run on, so under `taskset -c 0` (or a container's CPU limit) it started more threads than
// CPUs and time-sliced them against each other. It now counts the affinity mask and a cgroup quota.
const taskset = process.platform === 'linux' && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
describe.skipIf(!taskset)('the CPU pool counts the CPUs this process may run on (needs taskset)', () => {
  test('taskset -c 0: one pool thread, and results equal the unpinned run bit for bit', () => {
    const script = `
      const sqex = require(${JSON.stringify(DIST)});
      const b = require(sqex.loadReport().binary);
      const x = new Float32Array(8 * 64 * 14 * 14); for (let i = 0; i < x.length; i++) x[i] = Math.sin(i);
      const w1 = new Float32Array(16 * 64).map((_, i) => Math.cos(i) / 8), w2 = new Float32Array(64 * 16).map((_, i) => Math.sin(i) / 8);
      const y = sqex.seForward(x, [8, 64, 14, 14], { w1, w2 }, { device: 'cpu' });
      // C = 1024 at batch 1: the split path with the FCs over both threads
      const x2 = x.subarray(0, 1024 * 49), v1 = new Float32Array(64 * 1024).map((_, i) => Math.cos(i) / 32), v2 = new Float32Array(1024 * 64).map((_, i) => Math.sin(i) / 8);
      const y2 = sqex.seForward(x2, [1, 1024, 7, 7], { w1: v1, w2: v2 }, { device: 'cpu' });
      const hash = (a) => require('node:crypto').createHash('sha256').update(a).digest('hex');
      console.log(JSON.stringify({ threads: b.info().threads, y: hash(y) + hash(y2) }));`;
    const run = (pin: boolean): { threads: number; y: string } => {
      const r = pin ? spawnSync('taskset', ['-c', '0', process.execPath, '-e', script], { encoding: 'utf8' }) : spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { threads: number; y: string };
    };
    const pinned = run(true);
    expect(pinned.threads).toBe(1);
    expect(pinned.y).toBe(run(false).y);
  });
});

// From an audit (2026-11-30): the quota was read at the cgroup hierarchy's root only, so a limit on
// the process's own nested cgroup (systemd's CPUQuota=, a container in the host's cgroup
// namespace) was ignored. It is now the smallest on the path from /proc/self/cgroup up. The test
// makes a cgroup v1 `cpu` hierarchy parent with a 1-CPU quota and runs a child process in a
// nested cgroup under it; it needs root and a writable v1 cpu controller (skipped otherwise).
const CGROUP_CPU = '/sys/fs/cgroup/cpu';
const cgroupV1 = process.platform === 'linux' && process.getuid?.() === 0 && existsSync(`${CGROUP_CPU}/cpu.cfs_quota_us`) && (() => {
  try {
    accessSync(CGROUP_CPU, constants.W_OK);
    return true;
  } catch {
    return false;
  }
})();
describe.skipIf(!cgroupV1 || availableParallelism() < 2)('the CPU pool reads a quota set above the process\'s own cgroup (needs root, cgroup v1 cpu, 2+ CPUs)', () => {
  test('a 1-CPU quota on the parent of a nested cgroup: one pool thread', () => {
    const parent = `${CGROUP_CPU}/sqex-test-${process.pid}`;
    const nested = `${parent}/nested`;
    mkdirSync(nested, { recursive: true });
    try {
      writeFileSync(`${parent}/cpu.cfs_period_us`, '100000');
      writeFileSync(`${parent}/cpu.cfs_quota_us`, '100000');
      const script = `const sqex = require(${JSON.stringify(DIST)}); console.log(JSON.stringify({ threads: require(sqex.loadReport().binary).info().threads, cgroup: require('node:fs').readFileSync('/proc/self/cgroup', 'utf8') }));`;
      // The shell moves itself into the nested cgroup, then becomes node (exec keeps the pid).
      const r = spawnSync('sh', ['-c', `echo $$ > ${nested}/cgroup.procs && exec "$0" -e "$1"`, process.execPath, script], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const got = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { threads: number; cgroup: string };
      expect(got.cgroup).toContain(`:cpu:/sqex-test-${process.pid}/nested`);
      expect(got.threads).toBe(1);
    } finally {
      rmdirSync(nested);
      rmdirSync(parent);
    }
  });
});

