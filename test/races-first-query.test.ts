// From an attack (2026-12-01): the first CUDA query of a process runs inside a call; code the
// caller replaced (Array.prototype.map) threw there once, and the failed query was cached: CUDA
// stayed unavailable for the rest of the process. Its own file: the query must be this process's first.
import { expect, test } from 'vitest';
import { DeviceTensor, cuda } from '../dist/index.js';
import { installFakeCuda } from './fake-cuda.js';

installFakeCuda(); // before anything in dist/ asks for the binding

test('a replaced Array.prototype.map is not called by the first query, and a failed query is not cached', () => {
  const map = Array.prototype.map;
  let calls = 0;
  Array.prototype.map = function (this: unknown[], ...a: unknown[]) {
    calls++;
    throw new Error('boom');
  } as typeof map;
  try {
    DeviceTensor.empty([1, 1, 1, 1]).dispose();
  } finally {
    Array.prototype.map = map;
  }
  expect(calls).toBe(0);
  expect(cuda.status().available).toBe(true);
  expect(() => DeviceTensor.empty([1, 1, 1, 1]).dispose()).not.toThrow();
});
