// Runs a script of test/hostile/ in a fresh node (a crash must be a failed test, not a dead
// runner) and asserts a clean exit and the script's own checks: each script prints one JSON line
// {ok, checks, failures, ...} last (test/hostile/common.cjs).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { freshRng } from './helpers.js';

export const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const HOSTILE = fileURLToPath(new URL('./hostile/', import.meta.url));

export interface HostileReport {
  ok: boolean;
  checks: number;
  failures: string[];
  [key: string]: unknown;
}

export function runHostile(name: string, env: Record<string, string> = {}, timeoutMs = 120_000): HostileReport {
  const r = spawnSync(process.execPath, ['--expose-gc', `${HOSTILE}${name}`], {
    env: { ...process.env, SQEX_DIST: DIST, ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 16 << 20,
  });
  const context = `${name} ${JSON.stringify(env)}: signal ${r.signal}, status ${r.status}\nstderr: ${r.stderr.slice(-2000)}`;
  expect(r.signal, context).toBeNull();
  expect(r.status, context).toBe(0);
  const report = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as HostileReport;
  expect(report.failures, context).toEqual([]);
  expect(report.ok, context).toBe(true);
  expect(report.checks, context).toBeGreaterThan(0);
  return report;
}

/** A fresh seed for a child (its failures print it: SQEX_SEED replays). */
export const seed = (): string => String(freshRng().seed);

/** scripts/sanitize.sh preloads ASan: its quarantine and shadow memory change what some tests can see. */
export const underAsan = /asan/.test(process.env.LD_PRELOAD ?? '');

// RLIMIT_AS through util-linux prlimit; not under ASan, whose shadow memory needs the address
// space, and only where the kernel enforces it (a sandbox may not): a probe child caps itself
// 256 MiB above its size and must then fail to allocate 512 MiB.
function memoryCapProbe(): { ok: boolean; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'Linux only (RLIMIT_AS, /proc)' };
  if (underAsan) return { ok: false, reason: 'under ASan, which needs the address space for its shadow memory' };
  if (spawnSync('prlimit', ['--version']).status !== 0) return { ok: false, reason: 'util-linux prlimit not found' };
  const probe = `const { execFileSync } = require('node:child_process');
const vm = Number(/VmSize:\\s+(\\d+) kB/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
execFileSync('prlimit', ['--pid', String(process.pid), '--as=' + (vm + 268435456) + ':']);
try { new Float32Array(134217728); process.exit(3); } catch { process.exit(0); }`;
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
  return r.status === 0 ? { ok: true, reason: '' } : { ok: false, reason: `RLIMIT_AS is not enforced here (probe exit ${r.status})` };
}
/** Whether a child can cap its own address space (test/hostile/oom*.cjs), or why not. */
export const memoryCap = memoryCapProbe();
