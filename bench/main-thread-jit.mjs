// V8 compiles hot JavaScript on background threads. On a 2-core machine those threads took a core
// from the pool for tens of ms at a time in the first second or so of a run, and whichever rows
// were timed then ran at their one-thread speed (native/dev/NOTES-cpu.md item 37). The bench
// scripts run with V8 compiling on the main thread, inside their untimed warm-ups: `npm run bench`
// passes the flag, and a script started without it runs itself again with it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const MAIN_THREAD_JIT = '--no-concurrent-recompilation';

/** Re-runs the script at `scriptUrl` with MAIN_THREAD_JIT (same arguments) and exits with its status, unless this process has it. */
export function ensureMainThreadJit(scriptUrl) {
  if (process.execArgv.includes(MAIN_THREAD_JIT)) return;
  const r = spawnSync(process.execPath, [MAIN_THREAD_JIT, ...process.execArgv, fileURLToPath(scriptUrl), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
