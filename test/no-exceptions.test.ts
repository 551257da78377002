// Ordinary calls throw and catch no exception inside the library (test/hostile/no-exceptions.cjs):
// a caught exception captures a stack trace, microseconds each, and an exception-driven type probe
// once tripled the cost of a small call. Deterministic, unlike a timing: the inspector counts them.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, test } from 'vitest';

test('no exception is thrown inside the library by ordinary calls (sync, async, blocks; plain, shared and resizable buffers)', () => {
  const dist = path.resolve(__dirname, '..', 'dist', 'index.js');
  const out = execFileSync(process.execPath, [path.join(__dirname, 'hostile', 'no-exceptions.cjs')], { env: { ...process.env, SQEX_DIST: dist }, encoding: 'utf8' });
  const result = JSON.parse(out) as Record<string, string[]>;
  expect(Object.keys(result).length).toBe(12);
  for (const [name, where] of Object.entries(result)) expect(where, name).toEqual([]);
});
