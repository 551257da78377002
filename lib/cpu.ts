// The CPU backend's status and its two process-wide settings: how many threads an op runs on, and
// how long the pool's workers spin after a job before they sleep (native/cpu/thread_pool.cpp).

import { binding } from './cuda.js';
import { codedError, rangeError, typeError } from './arg-errors.js';
import { NumberIsInteger as isInteger, ObjectFreeze } from './primordials.js';

/** What `cpu.status()` reports (a new frozen object each call). */
export interface CpuStatus {
  /**
   * Threads a CPU op runs on: the calling thread and `threads − 1` pool workers; fewer than set once
   * the system refused to start some (a process or cgroup thread limit: the pool keeps the ones it
   * got, and tries again at the next {@link cpu.setThreads}).
   */
  readonly threads: number;
  /**
   * One per CPU the process may run on now (the machine's CPUs, fewer under an affinity mask such
   * as `taskset` or a cpuset, or a cgroup CPU quota such as a container's CPU limit), at most 256,
   * read afresh at each call of `status()`. Without {@link cpu.setThreads}, `threads` is this count
   * as it was when the pool first started: the pool reads it then and at `setThreads(0)` only, so
   * after a mask or quota changes the two differ until the next `setThreads(0)`.
   */
  readonly defaultThreads: number;
  /** The instruction set the kernels were dispatched to: 'avx512', 'avx2', 'sse2', 'neon' or 'scalar'. */
  readonly simd: string;
  /** How long the pool's workers spin after a job before they sleep, in microseconds (default 50). */
  readonly workerSpinMicroseconds: number;
}

const MAX_THREADS = 256;
const MAX_SPIN_US = 1_000_000;
const DEFAULT_SPIN_US = 50;

/**
 * The CPU backend (a frozen object). One pool of threads serves every CPU op of the process, its
 * main thread and its Workers alike, so both settings are process-wide and last until changed.
 * `import { cpu } from 'squeeze-excite'; cpu.setThreads(1)`.
 */
export const cpu = ObjectFreeze({
  /**
   * The pool's thread count, its default, the kernels' instruction set and the workers' spin.
   * @throws the loader's Error (code 'ERR_SQEX_LOAD') when the addon cannot load.
   */
  status(): CpuStatus {
    const info = binding().info();
    return ObjectFreeze({
      threads: info.threads,
      defaultThreads: info.defaultThreads ?? info.threads,
      simd: info.simd,
      workerSpinMicroseconds: info.workerSpinUs ?? DEFAULT_SPIN_US,
    });
  },

  /**
   * Sets how many threads a CPU op runs on, the calling thread included (as PyTorch's
   * `torch.set_num_threads` and onnxruntime's `intraOpNumThreads`): 1 runs every op on the calling
   * thread alone (one process per core, e.g. Node's `cluster` with a worker per CPU, wants that),
   * 0 goes back to the default ({@link CpuStatus.defaultThreads}). Results are bitwise the same at
   * every count. Waits for the parallel step the pool is running for another thread (an async
   * call on the libuv pool, a Worker's call) to finish; the pool's threads start again at the
   * next op.
   * @param threads - an integer in [0, 256].
   * @throws TypeError (code 'ERR_INVALID_ARG_TYPE') for a non-number, RangeError (code
   *   'ERR_OUT_OF_RANGE') for a number that is not an integer in [0, 256]; argument 'threads'.
   */
  setThreads(threads: number): void {
    const expected = `an integer in [0, ${MAX_THREADS}] (0: the default, one per CPU the process may run on)`;
    if (typeof threads !== 'number') throw typeError('cpu.setThreads', 'threads', expected, threads);
    if (!isInteger(threads) || threads < 0 || threads > MAX_THREADS) throw rangeError('cpu.setThreads', 'threads', expected, threads);
    binding().setThreads(threads);
  },

  /**
   * Sets how long the pool's workers spin after a job before they sleep, in microseconds (default
   * 50; as OpenMP's `OMP_WAIT_POLICY` / `KMP_BLOCKTIME` and onnxruntime's
   * `session.intra_op.allow_spinning`). Waking a sleeping worker takes tens of microseconds (more in a
   * VM), so an app that runs other work between CPU ops (the other layers of a network) finds the
   * workers asleep at every op; a spin longer than that gap keeps them awake, at the cost of a core
   * held spinning meanwhile (taken from the app's other threads and processes on a busy machine).
   * Measured effects: README, "The CPU pool's settings".
   * @param microseconds - an integer in [0, 1000000]; 0 sleeps at once after each job.
   * @throws TypeError (code 'ERR_INVALID_ARG_TYPE') for a non-number, RangeError (code
   *   'ERR_OUT_OF_RANGE') for a number that is not an integer in [0, 1000000]; argument
   *   'microseconds'. Error (code 'ERR_SQEX_UNSUPPORTED') for an addon built before this setting.
   */
  setWorkerSpin(microseconds: number): void {
    const expected = `an integer in [0, ${MAX_SPIN_US}] (default ${DEFAULT_SPIN_US})`;
    if (typeof microseconds !== 'number') throw typeError('cpu.setWorkerSpin', 'microseconds', expected, microseconds);
    if (!isInteger(microseconds) || microseconds < 0 || microseconds > MAX_SPIN_US) {
      throw rangeError('cpu.setWorkerSpin', 'microseconds', expected, microseconds);
    }
    const native = binding();
    if (native.setWorkerSpin === undefined) {
      throw codedError('cpu.setWorkerSpin: the loaded addon predates this setting; rebuild it (npm run build:native) or reinstall the package', 'ERR_SQEX_UNSUPPORTED');
    }
    native.setWorkerSpin(microseconds);
  },
});
