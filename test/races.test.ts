// From an attack (2026-12-01) on what the native side is handed: lengths that change after lib/
// checked them (a growable SharedArrayBuffer grown by another thread, a resizable buffer resized by
// code that ran inside the call), built-ins replaced after load, and a shared safetensors source
// rewritten while it was parsed. Runs on the emulated CUDA binding (test/fake-cuda.ts): what a
// DeviceTensor call hands cudaUpload is what would reach the GPU.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { expect, onTestFinished, test, vi } from 'vitest';

vi.mock('../dist/backend/load.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../dist/backend/load.js')>();
  const mod = await import('./fake-cuda.js');
  const f = mod.installFakeCuda();
  return { ...original, loadBinding: () => f.binding, bindingPath: () => mod.FAKE_BINARY_PATH };
});

import { DeviceTensor, seForward } from '../dist/index.js';
import { installFakeCuda } from './fake-cuda.js';

type Growable = SharedArrayBuffer & { grow(n: number): void };
const GrowableSAB = SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Growable;
const ResizableAB = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void };

/** A worker that grows the SharedArrayBuffer it is sent after a spin of `spin` iterations, once released. */
async function grower(): Promise<{ run(sab: Growable, spin: number, call: () => void): void; stop(): Promise<number> }> {
  const ctl = new Int32Array(new SharedArrayBuffer(16));
  const w = new Worker(`
    const { workerData: { ctl }, parentPort } = require('node:worker_threads');
    parentPort.on('message', ({ sab, spin }) => {
      Atomics.store(ctl, 1, 1);
      while (Atomics.load(ctl, 0) === 0) {}
      for (let i = 0; i < spin; i++) {}
      sab.grow(sab.byteLength + 4096);
      Atomics.store(ctl, 0, 0);
      Atomics.store(ctl, 2, 1); Atomics.notify(ctl, 2);
    });`, { eval: true, workerData: { ctl } });
  await new Promise((r) => w.once('online', r));
  return {
    run(sab, spin, call) {
      Atomics.store(ctl, 1, 0);
      Atomics.store(ctl, 2, 0);
      w.postMessage({ sab, spin });
      while (Atomics.load(ctl, 1) === 0) { /* wait for the worker */ }
      Atomics.store(ctl, 0, 1);
      try {
        call();
      } finally {
        Atomics.wait(ctl, 2, 0);
      }
    },
    stop: () => w.terminate(),
  };
}

test('a replaced Array.prototype.map that resizes data during the first CUDA query changes nothing uploaded', () => {
  // First in this file: the CUDA status is queried (and cached) on first use, inside this call.
  const fake = installFakeCuda();
  const rab = new ResizableAB(1024, { maxByteLength: 1 << 20 });
  const data = new Float32Array(rab); // length-tracking, 256 elements
  const map = Array.prototype.map;
  const before = fake.log.length;
  Array.prototype.map = function (this: unknown[], ...args: unknown[]) {
    rab.resize(1 << 20);
    return map.apply(this, args as never);
  } as typeof map;
  try {
    DeviceTensor.from(data, [1, 16, 4, 4]).dispose();
  } finally {
    Array.prototype.map = map;
  }
  const uploads = (fake.log.slice(before) as { fn: string; bytes?: number }[]).filter((r) => r.fn === 'cudaUpload');
  expect(uploads.map((r) => r.bytes)).toEqual([1024]);
});

test('DeviceTensor.from and copyFrom upload the length checked while another thread grows the buffer (5 KB went into a 1 KB tensor)', async () => {
  const fake = installFakeCuda();
  const n = 256;
  const g = await grower();
  const t = DeviceTensor.empty([1, 16, 4, 4]);
  let uploads = 0;
  let refused = 0;
  try {
    for (let k = 0; k < 1500; k++) {
      const sab = new GrowableSAB(n * 4, { maxByteLength: n * 4 + 4096 });
      const data = new Float32Array(sab); // length-tracking
      const before = fake.log.length;
      g.run(sab, k % 400, () => {
        try {
          if (k % 2 === 0) t.copyFrom(data);
          else DeviceTensor.from(data, [1, 16, 4, 4]).dispose();
        } catch (err) {
          // Grown before the check: refused by lib/, naming the argument, nothing uploaded.
          expect(err).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: 'data' });
          refused++;
        }
      });
      for (const rec of fake.log.slice(before) as { fn: string; bytes?: number }[]) {
        if (rec.fn !== 'cudaUpload') continue;
        uploads++;
        expect(rec.bytes).toBe(n * 4);
      }
    }
  } finally {
    await g.stop();
    t.dispose();
  }
  expect(uploads + refused).toBe(1500);
}, 120_000);

test('an op over a growable out grown mid-call is refused by lib/ with its argument, or runs on the checked length', async () => {
  const g = await grower();
  const shape: [number, number, number, number] = [1, 16, 4, 4];
  const x = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i));
  const w = { w1: new Float32Array(64).fill(0.1), w2: new Float32Array(64).fill(0.1) };
  const outcomes = { ran: 0, refused: 0 };
  try {
    for (let k = 0; k < 1000; k++) {
      const sab = new GrowableSAB(256 * 4, { maxByteLength: 256 * 4 + 4096 });
      const out = new Float32Array(sab);
      g.run(sab, k % 300, () => {
        try {
          const y = seForward(x, shape, w, { out, device: 'cpu' });
          expect(y).toBe(out);
          outcomes.ran++;
        } catch (err) {
          // Before: 21 of 3,000 were the addon's re-check, without `argument` or the function.
          expect(err).toMatchObject({ code: 'ERR_OUT_OF_RANGE', argument: 'options.out' });
          expect((err as Error).message).toMatch(/^seForward: options\.out must be/);
          outcomes.refused++;
        }
      });
    }
  } finally {
    await g.stop();
  }
  expect(outcomes.ran + outcomes.refused).toBe(1000);
}, 120_000);

test('replaced built-ins do not decide what a safetensors header passes, nor which bytes are read (Symbol.species)', () => {
  const dist = JSON.stringify(path.resolve(__dirname, '../dist/index.js'));
  const script = `
    const sqex = require(${dist});
    const file = (header, data = Buffer.alloc(0)) => {
      const h = Buffer.from(JSON.stringify(header));
      const n = Buffer.alloc(8); n.writeBigUInt64LE(BigInt(h.length));
      return new Uint8Array(Buffer.concat([n, h, data]));
    };
    const outcome = (fn) => { try { fn(); return 'read'; } catch (e) { return e.code + ' ' + (e.check || ''); } };
    const out = {};
    // A valid file whose header lists the tensors out of data order (the validation sorts them).
    const unordered = file({ b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] }, a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, Buffer.alloc(8));
    try { out.order = 'read ' + sqex.readSafetensorsHeader(unordered).tensors.map((t) => t.name).join(','); } catch (e) { out.order = e.code + ' ' + e.check; }
    const every = Array.prototype.every;
    Array.prototype.every = () => true;
    out.every = outcome(() => sqex.readSafetensors(file({ t: { dtype: 'F32', shape: ['x'], data_offsets: [0, 4] } }, Buffer.alloc(4))));
    Array.prototype.every = every;
    const overlapping = file({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, Buffer.alloc(8));
    const entries = Object.entries;
    Object.entries = (o) => entries(o).filter(([k]) => k !== 'a');
    out.entries = outcome(() => sqex.readSafetensorsHeader(overlapping));
    Object.entries = entries;
    const iter = Array.prototype[Symbol.iterator];
    Array.prototype[Symbol.iterator] = function* () { for (let i = 0; i < this.length; i++) if (!(this[i] && this[i][0] === 'a')) yield this[i]; };
    out.iterator = outcome(() => sqex.readSafetensors(overlapping));
    Array.prototype[Symbol.iterator] = iter;
    // Symbol.species: subarray would hand back other bytes than the source's.
    const real = file({ t: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, Buffer.from(new Float32Array([1.5]).buffer));
    const decoy = file({ t: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } }, Buffer.alloc(4));
    Object.defineProperty(Uint8Array, Symbol.species, { configurable: true, get: () => function (buf, off, len) { return new Uint8Array(decoy.buffer, decoy.byteOffset + 8, len ?? 0); } });
    const st = sqex.readSafetensors(real);
    out.species = st.tensors.t.dtype + ' ' + st.tensors.t.data[0];
    console.log(JSON.stringify(out));`;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as Record<string, string>;
  expect(out.order).toBe('read a,b');
  expect(out).toEqual({
    order: 'read a,b',
    every: 'ERR_SQEX_SAFETENSORS header-structure',
    entries: 'ERR_SQEX_SAFETENSORS offsets',
    iterator: 'ERR_SQEX_SAFETENSORS offsets',
    species: 'F32 1.5',
  });
});

test('x, scaleOut and the weights over growable buffers grown mid-call: refused with their argument, or run on the checked lengths', async () => {
  const g = await grower();
  const shape: [number, number, number, number] = [1, 16, 4, 4];
  const plainX = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i));
  const w1 = new Float32Array(64).fill(0.1);
  try {
    for (const which of ['x', 'scaleOut', 'w1'] as const) {
      for (let k = 0; k < 300; k++) {
        const n = which === 'x' ? 256 : which === 'scaleOut' ? 16 : 64;
        const sab = new GrowableSAB(n * 4, { maxByteLength: n * 4 + 4096 });
        const grown = new Float32Array(sab);
        grown.set(which === 'x' ? plainX : new Float32Array(n).fill(0.1));
        const x = which === 'x' ? grown : plainX;
        const scaleOut = which === 'scaleOut' ? grown : new Float32Array(16);
        const weights = { w1: which === 'w1' ? grown : w1, w2: new Float32Array(64).fill(0.1) };
        g.run(sab, k % 300, () => {
          try {
            seForward(x, shape, weights, { device: 'cpu', scaleOut });
          } catch (err) {
            // The addon's re-check refused a grown length without the argument's name before.
            expect((err as { argument?: unknown }).argument, String(err)).toBeDefined();
            expect((err as Error).message).toMatch(/^seForward: /);
          }
        });
      }
    }
  } finally {
    await g.stop();
  }
}, 120_000);

test('a host call returns the caller\'s own out on every path (CUDA sync and async, the CPU fallback, CPU, blocks), over a resizable buffer', async () => {
  const fake = installFakeCuda();
  const { seForwardAsync, SEBlock } = await import('../dist/index.js');
  // The CPU fallback below warns (SQEX_CPU_FALLBACK) on purpose: recorded here, not printed into
  // the suite's output, and checked.
  const fallbacks: string[] = [];
  const onWarning = (w: Error & { code?: string }): void => void (w.code === 'SQEX_CPU_FALLBACK' && fallbacks.push(w.message));
  const emit = process.emitWarning;
  process.emitWarning = ((w: string | Error, o?: unknown) => {
    const code = typeof o === 'object' && o !== null ? (o as { code?: string }).code : undefined;
    if (code === 'SQEX_CPU_FALLBACK') onWarning(Object.assign(new Error(String(w)), { code }));
    else (emit as (...a: unknown[]) => void).call(process, w, o);
  }) as typeof process.emitWarning;
  onTestFinished(() => void (process.emitWarning = emit));
  const shape: [number, number, number, number] = [1, 16, 4, 4];
  const x = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i));
  const w = { w1: new Float32Array(64).fill(0.1), w2: new Float32Array(64).fill(0.1) };
  const outOf = (): Float32Array => new Float32Array(new ResizableAB(1024, { maxByteLength: 4096 }));
  let o = outOf();
  expect(seForward(x, shape, w, { out: o, device: 'cuda' })).toBe(o);
  o = outOf();
  expect(await seForwardAsync(x, shape, w, { out: o, device: 'cuda' })).toBe(o);
  o = outOf();
  fake.failNextForward('ERR_SQEX_UNSUPPORTED');
  expect(await seForwardAsync(x, shape, w, { out: o, device: 'auto', deviceIndex: 0 })).toBe(o);
  o = outOf();
  fake.failNextForward('ERR_SQEX_UNSUPPORTED');
  expect(seForward(x, shape, w, { out: o, device: 'auto', deviceIndex: 0 })).toBe(o);
  o = outOf();
  expect(seForward(x, shape, w, { out: o, device: 'cpu' })).toBe(o);
  const block = new SEBlock(w, { device: 'cpu', channels: 16 });
  o = outOf();
  expect(block.forward(x, shape, { out: o })).toBe(o);
  o = outOf();
  expect(await block.forwardAsync(x, shape, { out: o })).toBe(o);
  expect(fallbacks.length, 'the CPU fallback warned (once per process)').toBe(1);
});

// From an attack (2026-12-04): device 'auto' with a deviceIndex, the kernel refusing the shape
// after the call returned, and out transferred or resized meanwhile. The CPU rerun then met the
// addon's re-check of the caller's array, an uncoded-argument "out is detached or empty" (or, for
// a grown buffer, wrote it). Now refused as a staged call is: ERR_SQEX_ARRAY_CHANGED naming out,
// nothing written.
test('the CPU fallback of an async CUDA host call whose out was transferred, shrunk or grown meanwhile: ERR_SQEX_ARRAY_CHANGED naming it', async () => {
  const fake = installFakeCuda();
  const { seForwardAsync } = await import('../dist/index.js');
  const emit = process.emitWarning;
  process.emitWarning = ((w: string | Error, o?: unknown) => {
    const code = typeof o === 'object' && o !== null ? (o as { code?: string }).code : undefined;
    if (code !== 'SQEX_CPU_FALLBACK') (emit as (...a: unknown[]) => void).call(process, w, o);
  }) as typeof process.emitWarning;
  onTestFinished(() => void (process.emitWarning = emit));
  const x = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i));
  const w = { w1: new Float32Array(64).fill(0.1), w2: new Float32Array(64).fill(0.1) };
  // Each case a shape of its own: a configuration the kernel refused is not tried on CUDA again.
  const changes: [string, [number, number, number, number], (ab: ArrayBuffer & { resize(n: number): void }) => void][] = [
    ['transferred', [1, 16, 2, 8], (ab) => void structuredClone(ab, { transfer: [ab] })],
    ['shrunk', [1, 16, 8, 2], (ab) => ab.resize(512)],
    ['grown', [1, 16, 1, 16], (ab) => ab.resize(2048)],
  ];
  for (const [how, shape, change] of changes) {
    const ab = new ResizableAB(1024, { maxByteLength: 4096 });
    const out = new Float32Array(ab, 0, 256).fill(-7);
    fake.failNextForward('ERR_SQEX_UNSUPPORTED', { phase: 'settle', target: 'host' }); // refused after the call returned
    const p = seForwardAsync(x, shape, w, { out, device: 'auto', deviceIndex: 0 });
    change(ab);
    const err = await p.then(() => null, (e: unknown) => e);
    expect(err, how).toMatchObject({ code: 'ERR_SQEX_ARRAY_CHANGED', argument: 'options.out' });
    expect((err as Error).message, how).toMatch(/^seForwardAsync: options\.out was detached, transferred or resized while the call ran, so the result was not written\. Keep the array and its buffer as they are until the promise settles, or omit it to receive a new array\.$/);
    if (how === 'grown') expect(out.every((v) => v === -7), 'nothing written').toBe(true);
  }
});
