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

test('a CUDA query that throws is not cached: the next call asks again', async () => {
  // A fresh module state is needed: this file's first test cached a good status. Reset by loading
  // lib/cuda.js's availability anew is not possible from outside, so the query is made to throw
  // in a child process instead.
  const { execFileSync } = await import('node:child_process');
  const path = await import('node:path');
  const script = `
    const { createRequire } = require('node:module');
    const dist = ${JSON.stringify(path.resolve(__dirname, '../dist'))};
    const load = require(dist + '/backend/load.js');
    const real = load.loadBinding();
    let throwOnce = true;
    const binding = new Proxy(real, { get(t, k) {
      if (k === 'cudaStatus') return () => { if (throwOnce) { throwOnce = false; throw new Error('boom'); } return { ...real.cudaStatus(), compiled: true, available: true, deviceCount: 1, reason: null, devices: [{ index: 0, name: 'fake', computeCapability: '9.0', multiprocessors: 132, totalMemory: 1, l2Bytes: 1 }], driverVersion: '13.0', runtimeVersion: '13.0', minDriverVersion: '13.0' }; };
      const v = t[k]; return typeof v === 'function' ? v.bind(t) : v; } });
    load.loadBinding = () => binding;
    const { cuda } = require(dist + '/index.js');
    const { useCuda } = require(dist + '/cuda.js');
    const out = [];
    try { useCuda('t', 'cuda', undefined); out.push('ran'); } catch (e) { out.push(e.code); }
    try { useCuda('t', 'cuda', undefined); out.push('ran'); } catch (e) { out.push(e.code); }
    console.log(JSON.stringify(out));`;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as string[];
  // The first query threw (refused as unavailable); the second is asked again and finds CUDA.
  expect(out).toEqual(['ERR_SQEX_CUDA_UNAVAILABLE', 'ran']);
});
