// isSqexError and the SqexErrorCode union (lib/errors.ts): every code the sources throw is one of
// them, real refusals narrow, and what is not this package's error does not.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { isSqexError, readSafetensors, seForward, type SqexErrorCode } from '../dist/index.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
// Codes the sources name but only read from errors of others (Node's loader, its allocators).
const FOREIGN = new Set(['ERR_DLOPEN_DISABLED', 'ERR_DLOPEN_FAILED', 'ERR_ACCESS_DENIED', 'ERR_MEMORY_ALLOCATION_FAILED', 'ERR_BUFFER_TOO_LARGE']);

function sources(dir: string, ext: RegExp): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => ext.test(f)).map((f) => path.join(dir, f));
}

describe('isSqexError and SqexErrorCode', () => {
  test('every ERR_ code that lib/ and native/binding/ throw is a SqexErrorCode', () => {
    const found = new Set<string>();
    for (const file of [...sources(path.join(ROOT, 'lib'), /\.ts$/), ...sources(path.join(ROOT, 'native', 'binding'), /\.(cpp|h)$/)]) {
      for (const m of readFileSync(file, 'utf8').matchAll(/['"](ERR_[A-Z_]+)['"]/g)) found.add(m[1]!);
    }
    const ours = [...found].filter((c) => !FOREIGN.has(c)).sort();
    expect(ours.length).toBeGreaterThan(15);
    const notCovered = ours.filter((code) => !isSqexError(Object.assign(new Error('x'), { code })));
    expect(notCovered).toEqual([]);
  });

  test('a refusal narrows, with its argument; other errors and non-errors do not', () => {
    let caught: unknown;
    try {
      seForward(new Float32Array(4), [1, 1, 2, 2], { w1: new Float32Array(2) }, { device: 'cpu' });
    } catch (e) {
      caught = e;
    }
    expect(isSqexError(caught)).toBe(true);
    if (isSqexError(caught)) {
      const code: SqexErrorCode = caught.code;
      expect(code).toBe('ERR_OUT_OF_RANGE');
      expect(caught.argument).toBe('weights.w1');
    }
    try {
      readSafetensors(path.join(ROOT, 'no-such-file.safetensors'));
    } catch (e) {
      caught = e;
    }
    expect((caught as { code?: string }).code).toBe('ENOENT');
    expect(isSqexError(caught)).toBe(false);
    expect(isSqexError({ code: 'ERR_SQEX_CUDA', message: 'not an Error' })).toBe(false);
    expect(isSqexError(Object.assign(new Error('x'), { code: 'ERR_SOMETHING_ELSE' }))).toBe(false);
    expect(isSqexError(null)).toBe(false);
    const hostile = new Proxy(new Error('x'), { get() { throw new Error('trap'); }, getPrototypeOf() { throw new Error('trap'); } });
    expect(isSqexError(hostile)).toBe(false);
  });
});
