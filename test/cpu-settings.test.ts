// cpu.status(), cpu.setThreads and cpu.setWorkerSpin (lib/cpu.ts): the settings take effect (the
// pool's threads as the kernel lists them, the workers' state after a job), results stay bitwise
// the same under every setting, and bad values are refused with a coded error, changing nothing.
import { afterAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cpu, seForward } from '../dist/index.js';
import { freshRng, noteSkip, onPath, seedNote } from './helpers.js';

const initial = cpu.status();
afterAll(() => {
  cpu.setThreads(0);
  cpu.setWorkerSpin(initial.workerSpinMicroseconds);
});

const linux = process.platform === 'linux';
/** This process's thread ids (Linux). */
const taskIds = (): Set<string> => new Set(readdirSync('/proc/self/task'));
/** A thread's scheduler state letter: R running or runnable, S asleep, ... (Linux). */
const taskState = (tid: string): string => {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
};
const sleepMs = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/** call throws a Ctor with `code` and `argument`, whose message says what was expected and received. */
function expectRefusal(call: () => void, Ctor: ErrorConstructor, code: string, argument: string, expected: string, received: string): void {
  let err: unknown;
  try {
    call();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(Ctor);
  expect(err).toMatchObject({ code, argument });
  expect((err as Error).message).toContain(expected);
  expect((err as Error).message).toContain(received);
}

function seCase() {
  const rng = freshRng();
  const shape: [number, number, number, number] = [2, 64, 28, 28];
  const n = shape[0] * shape[1] * shape[2] * shape[3];
  const x = new Float32Array(n).map(() => rng.uniform(-4, 4));
  const w = {
    w1: new Float32Array(16 * 64).map(() => rng.uniform(-0.3, 0.3)),
    b1: new Float32Array(16).map(() => rng.uniform(-0.1, 0.1)),
    w2: new Float32Array(64 * 16).map(() => rng.uniform(-0.3, 0.3)),
    b2: new Float32Array(64).map(() => rng.uniform(-0.1, 0.1)),
  };
  const run = (): Uint32Array => new Uint32Array(seForward(x, shape, w, { device: 'cpu' }).buffer);
  return { run, note: seedNote(rng) };
}

describe('cpu.status', () => {
  test('reports the pool, its default, the kernels and the spin, frozen', () => {
    const s = cpu.status();
    expect(Object.isFrozen(s)).toBe(true);
    expect(Number.isInteger(s.threads) && s.threads >= 1 && s.threads <= 256).toBe(true);
    expect(Number.isInteger(s.defaultThreads) && s.defaultThreads >= 1 && s.defaultThreads <= 256).toBe(true);
    expect(['avx512', 'avx2', 'sse2', 'neon', 'scalar']).toContain(s.simd);
    expect(s.workerSpinMicroseconds).toBe(50);
    expect(Object.keys(s).sort()).toEqual(['defaultThreads', 'simd', 'threads', 'workerSpinMicroseconds']);
  });
});

describe('cpu.setThreads', () => {
  test('sets the count status reports; 0 restores the default', () => {
    cpu.setThreads(1);
    expect(cpu.status().threads).toBe(1);
    cpu.setThreads(3);
    expect(cpu.status().threads).toBe(3);
    cpu.setThreads(0);
    expect(cpu.status().threads).toBe(cpu.status().defaultThreads);
  });

  test.skipIf(!linux)('1 runs ops without pool threads; n starts n - 1 of them at the next op', () => {
    const { run } = seCase();
    cpu.setThreads(1);
    run();
    const alone = taskIds();
    cpu.setThreads(4);
    run();
    const started = [...taskIds()].filter((t) => !alone.has(t));
    expect(started.length).toBe(3);
    cpu.setThreads(1);
    run();
    const after = taskIds();
    // the workers were joined, not left behind
    expect(started.filter((t) => after.has(t))).toEqual([]);
  });

  test('results are bitwise the same at 1, 2, 3 and 8 threads', () => {
    const { run, note } = seCase();
    cpu.setThreads(1);
    const ref = run();
    for (const t of [2, 3, 8]) {
      cpu.setThreads(t);
      const got = run();
      let diff = -1;
      for (let i = 0; i < ref.length; i++) if (got[i] !== ref[i]) { diff = i; break; }
      expect(diff, `${t} threads, ${note}`).toBe(-1);
    }
    cpu.setThreads(0);
  });

  test.each([
    ['a string', '2', TypeError, 'ERR_INVALID_ARG_TYPE', 'received the string "2"'],
    ['a bigint', 2n, TypeError, 'ERR_INVALID_ARG_TYPE', 'received'],
    ['undefined', undefined, TypeError, 'ERR_INVALID_ARG_TYPE', 'received undefined'],
    ['a fraction', 2.5, RangeError, 'ERR_OUT_OF_RANGE', 'received the number 2.5'],
    ['a negative', -1, RangeError, 'ERR_OUT_OF_RANGE', 'received the number -1'],
    ['past 256', 257, RangeError, 'ERR_OUT_OF_RANGE', 'received the number 257'],
    ['NaN', Number.NaN, RangeError, 'ERR_OUT_OF_RANGE', 'received the number NaN'],
    ['Infinity', Number.POSITIVE_INFINITY, RangeError, 'ERR_OUT_OF_RANGE', 'received the number Infinity'],
  ])('refuses %s, naming the argument, changing nothing', (_what, value, Ctor, code, received) => {
    cpu.setThreads(3);
    expectRefusal(() => cpu.setThreads(value as number), Ctor, code, 'threads', 'cpu.setThreads: threads must be an integer in [0, 256] (0: the default, one per CPU the process may run on)', received);
    expect(cpu.status().threads).toBe(3);
    cpu.setThreads(0);
  });
});

// From an attack (2026-12-05): with a thread limit the pool could not start all the threads set
// (setThreads(64) under RLIMIT_NPROC 16 started 9), status() still said 64, and every op stopped
// and started the workers again (466 thread ids in 50 ops). The pool now keeps what it got and says
// so. RLIMIT_NPROC binds only a user without CAP_SYS_RESOURCE: the child runs as nobody.
const distIndex = path.resolve(__dirname, '../dist/index.js');
const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
/** Whether nobody can run this node and load the package (a node or a checkout under /root cannot). */
/** Whether nobody can run this node and load the package and its addon under the test's thread
 * limit (one under a root-only folder cannot, such as CI's node-gyp build in a mktemp folder; other
 * processes of nobody's count against RLIMIT_NPROC). */
const nobodyCanLoad = (): boolean =>
  spawnSync('prlimit', ['--nproc=16', ...asNobody, process.execPath, '-e', `require(${JSON.stringify(distIndex)}).cpu.status()`], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const limitSkip = noteSkip(
  !(linux && process.getuid?.() === 0 && onPath('setpriv') && onPath('prlimit') && nobodyCanLoad()),
  'cpu-settings: a refused thread start',
  'needs Linux, root (to run the child as nobody under RLIMIT_NPROC), setpriv, prlimit, and a node and checkout that nobody can load under 16 threads',
);
describe.skipIf(limitSkip)('cpu.setThreads where the system refuses threads', () => {
  test('the pool keeps the threads it started, status() reports them, results stay bitwise', { timeout: 60_000 }, () => {
    const script = `
      const { cpu, seForward } = require(${JSON.stringify(distIndex)});
      const fs = require('fs');
      const shape = [8, 64, 28, 28];
      const x = new Float32Array(8 * 64 * 28 * 28).map((_, i) => Math.sin(i) * 3);
      const w = { w1: new Float32Array(16 * 64).map((_, i) => Math.cos(i) * 0.2), w2: new Float32Array(64 * 16).map((_, i) => Math.sin(i * 3) * 0.2) };
      const run = () => new Uint32Array(seForward(x, shape, w, { device: 'cpu' }).buffer);
      cpu.setThreads(1);
      const ref = run();
      const before = new Set(fs.readdirSync('/proc/self/task'));
      cpu.setThreads(64);
      let same = true;
      const seen = new Set();
      for (let i = 0; i < 30; i++) {
        const y = run();
        for (let j = 0; j < y.length; j++) if (y[j] !== ref[j]) { same = false; break; }
        for (const t of fs.readdirSync('/proc/self/task')) if (!before.has(t)) seen.add(t);
      }
      const now = [...fs.readdirSync('/proc/self/task')].filter((t) => !before.has(t)).length;
      process.stdout.write(JSON.stringify({ threads: cpu.status().threads, started: now, idsSeen: seen.size, same }));`;
    const r = spawnSync('prlimit', ['--nproc=16', ...asNobody, process.execPath, '-e', script], { encoding: 'utf8', timeout: 55_000 });
    expect(r.stderr).toBe('');
    const o = JSON.parse(r.stdout) as { threads: number; started: number; idsSeen: number; same: boolean };
    expect(o.same, 'bitwise equal to one thread').toBe(true);
    expect(o.started, 'some threads refused').toBeLessThan(63);
    expect(o.threads, 'status() counts the caller and the workers started').toBe(o.started + 1);
    expect(o.idsSeen, 'no worker stopped and started again').toBe(o.started);
  });
});

// From an attack (2026-12-05): defaultThreads was read once per process, so after the process's
// affinity was narrowed (taskset -p) status() and setThreads(0) still used the old CPU count.
const affinitySkip = noteSkip(
  !(linux && onPath('taskset') && initial.defaultThreads >= 2),
  'cpu-settings: defaultThreads after an affinity change',
  'needs Linux, taskset and at least 2 CPUs',
);
describe.skipIf(affinitySkip)('cpu.status().defaultThreads after the affinity changes', () => {
  test('reads the CPUs now; setThreads(0) sizes the pool by them', { timeout: 30_000 }, () => {
    const script = `
      const { cpu, seForward } = require(${JSON.stringify(path.resolve(__dirname, '../dist/index.js'))});
      const { execFileSync } = require('child_process');
      const run = () => seForward(new Float32Array(2 * 64 * 28 * 28).fill(1), [2, 64, 28, 28], { w1: new Float32Array(16 * 64), w2: new Float32Array(64 * 16) });
      run();
      const before = cpu.status();
      // The first CPU of the current mask (CPU 0 may be outside a container's cpuset).
      const first = /^Cpus_allowed_list:\\s*(\\d+)/m.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1];
      execFileSync('taskset', ['-a', '-p', '-c', first, String(process.pid)], { stdio: 'ignore' });
      const narrowed = cpu.status();
      cpu.setThreads(0);
      run();
      process.stdout.write(JSON.stringify({ before, narrowed, after: cpu.status() }));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 25_000 });
    expect(r.stderr).toBe('');
    const o = JSON.parse(r.stdout) as Record<'before' | 'narrowed' | 'after', { threads: number; defaultThreads: number }>;
    expect(o.before.defaultThreads).toBeGreaterThanOrEqual(2);
    expect(o.narrowed.defaultThreads, 'read anew').toBe(1);
    expect(o.narrowed.threads, 'the pool keeps its size until setThreads(0)').toBe(o.before.threads);
    expect(o.after).toMatchObject({ threads: 1, defaultThreads: 1 });
  });
});

describe('cpu.setWorkerSpin', () => {
  test('sets the spin status reports', () => {
    cpu.setWorkerSpin(0);
    expect(cpu.status().workerSpinMicroseconds).toBe(0);
    cpu.setWorkerSpin(1_000_000);
    expect(cpu.status().workerSpinMicroseconds).toBe(1_000_000);
    cpu.setWorkerSpin(50);
    expect(cpu.status().workerSpinMicroseconds).toBe(50);
  });

  // A worker that spins is runnable (R) after its job; one that sleeps is in its wait (S). The
  // workers are the threads that setThreads(2) adds at the next op.
  test.skipIf(!linux)('a long spin keeps the workers running after a job; set back to 0, they sleep', () => {
    const { run } = seCase();
    cpu.setThreads(1);
    run();
    const alone = taskIds();
    cpu.setThreads(2);
    cpu.setWorkerSpin(1_000_000);
    run();
    const workers = [...taskIds()].filter((t) => !alone.has(t));
    expect(workers.length).toBe(1);
    sleepMs(30);
    expect(taskState(workers[0]!), 'spinning 1 s after the job').toBe('R');
    cpu.setWorkerSpin(0);
    run();
    // Polled: on a loaded machine the worker may take a while to be scheduled and reach its wait.
    let state = taskState(workers[0]!);
    for (let i = 0; i < 100 && state !== 'S'; i++) {
      sleepMs(20);
      state = taskState(workers[0]!);
    }
    expect(state, 'spin 0: asleep after the job (the 1 s spin would still hold it running)').toBe('S');
    cpu.setWorkerSpin(50);
    cpu.setThreads(0);
  });

  test('results are bitwise the same with a spin of 0, 50 and 100000 us, and after the pool slept', () => {
    const { run, note } = seCase();
    cpu.setThreads(2);
    const ref = run();
    for (const us of [0, 100_000, 50]) {
      cpu.setWorkerSpin(us);
      for (const pause of [0, 5]) {
        if (pause > 0) sleepMs(pause);
        const got = run();
        let diff = -1;
        for (let i = 0; i < ref.length; i++) if (got[i] !== ref[i]) { diff = i; break; }
        expect(diff, `spin ${us} us, after ${pause} ms, ${note}`).toBe(-1);
      }
    }
    cpu.setThreads(0);
  });

  test.each([
    ['a string', '100', TypeError, 'ERR_INVALID_ARG_TYPE', 'received the string "100"'],
    ['null', null, TypeError, 'ERR_INVALID_ARG_TYPE', 'received null'],
    ['a fraction', 0.5, RangeError, 'ERR_OUT_OF_RANGE', 'received the number 0.5'],
    ['a negative', -50, RangeError, 'ERR_OUT_OF_RANGE', 'received the number -50'],
    ['past 1 s', 1_000_001, RangeError, 'ERR_OUT_OF_RANGE', 'received the number 1000001'],
    ['NaN', Number.NaN, RangeError, 'ERR_OUT_OF_RANGE', 'received the number NaN'],
  ])('refuses %s, naming the argument, changing nothing', (_what, value, Ctor, code, received) => {
    cpu.setWorkerSpin(777);
    expectRefusal(() => cpu.setWorkerSpin(value as number), Ctor, code, 'microseconds', 'cpu.setWorkerSpin: microseconds must be an integer in [0, 1000000] (default 50)', received);
    expect(cpu.status().workerSpinMicroseconds).toBe(777);
    cpu.setWorkerSpin(50);
  });
});
