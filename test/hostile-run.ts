// Runs a script of test/hostile/ in a fresh node (a crash must be a failed test, not a dead
// runner) and asserts a clean exit and the script's own checks: each script prints one JSON line
// {ok, checks, failures, ...} last (test/hostile/common.cjs).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { freshRng, underAsan } from './helpers.js';

export const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const HOSTILE = fileURLToPath(new URL('./hostile/', import.meta.url));

export interface HostileReport {
  ok: boolean;
  checks: number;
  failures: string[];
  [key: string]: unknown;
}

/**
 * `cgroup`: a cgroup folder (memoryCgroup) the child is moved into before node starts, through
 * /bin/sh (exit 137 is then the cgroup's OOM killer).
 */
export function runHostile(name: string, env: Record<string, string> = {}, timeoutMs = 120_000, cgroup?: string): HostileReport {
  const node = [process.execPath, '--expose-gc', `${HOSTILE}${name}`];
  const [cmd, args] = cgroup === undefined
    ? [node[0]!, node.slice(1)]
    : ['/bin/sh', ['-c', 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"', 'sh', cgroup, ...node]];
  const r = spawnSync(cmd, args, {
    env: { ...process.env, SQEX_DIST: DIST, ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 16 << 20,
  });
  const context = `${name}${cgroup === undefined ? '' : ` in ${cgroup}`} ${JSON.stringify(env)}: signal ${r.signal}, status ${r.status}\nstderr: ${r.stderr.slice(-2000)}`;
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
export { underAsan };

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

/**
 * A fresh memory cgroup of `limitBytes` under this process's own (cgroup v1's memory hierarchy, or
 * v2 where the memory controller is delegated), for a child that must meet a memory limit the
 * kernel enforces with its OOM killer (which then ends only that child). Needs write access to
 * the cgroup files (root, or a delegated subtree). Returns { dir, remove } or { reason }.
 */
export function memoryCgroup(limitBytes: number): { dir: string; remove: () => void; reason?: undefined } | { reason: string; dir?: undefined; remove?: undefined } {
  if (process.platform !== 'linux') return { reason: 'Linux only (cgroups)' };
  let lines: string[];
  try {
    lines = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
  } catch (err) {
    return { reason: `cannot read /proc/self/cgroup (${(err as Error).message})` };
  }
  const name = `sqex-test-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
  const tries: { dir: string; limitFile: string }[] = [];
  for (const line of lines) {
    const [, controllers, rel] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (rel === undefined) continue;
    if (controllers!.split(',').includes('memory')) tries.push({ dir: path.join('/sys/fs/cgroup/memory', rel, name), limitFile: 'memory.limit_in_bytes' });
    if (controllers === '') tries.push({ dir: path.join('/sys/fs/cgroup', rel, name), limitFile: 'memory.max' });
  }
  const failures: string[] = [];
  for (const t of tries) {
    try {
      mkdirSync(t.dir);
    } catch (err) {
      failures.push(`${t.dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      continue;
    }
    const remove = () => {
      try {
        rmdirSync(t.dir);
      } catch {
        // a child still inside (it was killed and not yet reaped): the kernel frees it later
      }
    };
    try {
      writeFileSync(path.join(t.dir, t.limitFile), String(limitBytes));
      if (Number(readFileSync(path.join(t.dir, t.limitFile), 'utf8')) !== limitBytes) throw new Error('the limit did not take');
      return { dir: t.dir, remove };
    } catch (err) {
      failures.push(`${t.dir}/${t.limitFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      remove();
    }
  }
  return { reason: `no memory cgroup could be made here (${failures.join('; ') || 'no memory controller in /proc/self/cgroup'})` };
}
