// The CUDA path of the TypeScript layer, run against an emulated CUDA binding (test/fake-cuda.ts)
// so that CI without a GPU exercises it: DeviceTensor, the functions with DeviceTensors, the
// blocks on CUDA, the (pointer, byte length) contract with the native side, and failure handling.
//
// The fake computes with the real addon's CPU kernels; these tests check what lib/ sends and what
// it does with the answers: the same numbers as the CPU path (bitwise for float32) and the float64
// reference, the right pointers / byte lengths / cfg / stream in each native call, no work and no
// allocation for refused arguments, nothing leaked on any path (every test ends with the fake's
// live allocation count back where it started, and no memory freed under an op in flight).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import {
  FAKE_BINARY_PATH,
  FAKE_DEVICES,
  NATIVE_CFG,
  NATIVE_SLOTS,
  installFakeCuda,
  uninstallFakeCuda,
  type FakeCuda,
  type ForwardRecord,
} from './fake-cuda.js';

// dist/ is CommonJS and its modules load each other through Node's require, which vi.mock does
// not see: installFakeCuda() patches the loader in Node's require cache (the instance dist/
// uses). The mock below gives this file's own ES imports of the loader the same fake.
vi.mock('../dist/backend/load.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../dist/backend/load.js')>();
  const mod = await import('./fake-cuda.js');
  const f = mod.installFakeCuda();
  return { ...original, loadBinding: () => f.binding, bindingPath: () => mod.FAKE_BINARY_PATH };
});

import * as loader from '../dist/backend/load.js';
import { ACT_CODE, BINDING_CONTRACT, CFG, DEV, DTYPE_CODE, GATE_CODE, LAYOUT_CODE, OP_CODE, OUT_ACT_CODE } from '../dist/backend/contract.js';
import {
  CBAMBlock,
  DeviceTensor,
  ECABlock,
  SEBlock,
  cbamForward,
  cuda,
  ecaForward,
  ecaForwardAsync,
  seForward,
  seForwardAsync,
} from '../dist/index.js';
import type { Shape4 as LibShape4 } from '../dist/index.js';
import { type Layout, type RefResult, type Shape4 } from './reference.js';
import {
  HALF_NAN,
  LAYOUTS,
  TOL_F32,
  bitsEqual,
  expectClose,
  freshRng,
  halfBits,
  halfToFloat64,
  numel,
  poisoned,
  randCBAMWeights,
  randECAWeight,
  randSEWeights,
  seedNote,
  type HalfDtype,
} from './helpers.js';
import {
  ABS_TOL,
  ASYNC,
  SYNC,
  TOL,
  cbamProblem,
  ecaProblem,
  quantize,
  seProblem,
  type DType,
  type OpName,
  type Problem,
} from './gpu/gpu-common.js';
import type { Rng } from './reference.js';

const fake: FakeCuda = installFakeCuda();
afterAll(() => uninstallFakeCuda());

// ---------------------------------------------------------------------------------------------
// Per-test bookkeeping: everything a test makes is disposed after it, and the fake must then
// hold exactly the allocations it held before (so any leak on any path fails the test).

interface Disposable {
  dispose(): void;
}
let made: Disposable[] = [];
let liveBefore = 0;
function keep<T extends Disposable>(t: T): T {
  made.push(t);
  return t;
}
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

beforeEach(() => {
  made = [];
  liveBefore = fake.liveCount();
  fake.clearLog();
  fake.clearFaults();
});
afterEach(async () => {
  await settle();
  await settle();
  for (const t of made.reverse()) t.dispose();
  made = [];
  fake.clearFaults();
  expect(fake.inFlight, 'async operations still in flight after the test').toBe(0);
  expect(fake.liveCount(), 'device allocations leaked by the test').toBe(liveBefore);
  expect(fake.freedWhileInFlight, 'memory freed while an async op or download still used it').toBe(0);
});

// The SQEX_CPU_FALLBACK warnings these tests provoke on purpose are recorded here instead of being
// printed (a test run shows no unexplained warnings); every other warning goes through.
const fallbackWarnings: Error[] = [];
// A test's own code to run inside the warning (as a caller's replaced emitWarning would), once.
let insideFallbackWarning: (() => void) | null = null;
const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
process.emitWarning = ((warning: string | Error, options?: unknown, ...rest: unknown[]) => {
  const code = typeof options === 'object' && options !== null ? (options as { code?: unknown }).code : undefined;
  if (code === 'SQEX_CPU_FALLBACK') {
    fallbackWarnings.push(Object.assign(typeof warning === 'string' ? new Error(warning) : warning, { code }));
    const inside = insideFallbackWarning;
    insideFallbackWarning = null;
    inside?.();
    return;
  }
  emitWarning(warning, options, ...rest);
}) as typeof process.emitWarning;

// ---------------------------------------------------------------------------------------------
// Helpers

type Mode = 'sync' | 'async';
const MODES: readonly Mode[] = ['sync', 'async'];
type AnyFn = (x: unknown, shape: Shape4, w: unknown, o: unknown) => unknown;
const FN_NAME: Record<OpName, Record<Mode, string>> = {
  se: { sync: 'seForward', async: 'seForwardAsync' },
  eca: { sync: 'ecaForward', async: 'ecaForwardAsync' },
  cbam: { sync: 'cbamForward', async: 'cbamForwardAsync' },
};

/** Runs op in `mode`; the async variant must return a Promise, the sync one must not. */
async function call(mode: Mode, op: OpName, x: unknown, shape: Shape4, weights: unknown, options: Record<string, unknown>): Promise<unknown> {
  if (mode === 'sync') {
    const r = (SYNC[op] as AnyFn)(x, shape, weights, options);
    expect(r).not.toBeInstanceOf(Promise);
    return r;
  }
  const p = (ASYNC[op] as AnyFn)(x, shape, weights, options);
  expect(p).toBeInstanceOf(Promise);
  return await p;
}

function dt(value: unknown): DeviceTensor {
  expect(value).toBeInstanceOf(DeviceTensor);
  return value as DeviceTensor;
}

function f32(value: unknown): Float32Array {
  expect(value).toBeInstanceOf(Float32Array);
  return value as Float32Array;
}

function upload(data: Float32Array | Uint16Array, shape: Shape4, opts: { layout?: Layout; dtype?: DType; device?: number } = {}): DeviceTensor {
  return keep(DeviceTensor.from(data, shape as LibShape4, opts));
}

/** A tensor whose every element is NaN of its dtype. */
function poisonTensor(shape: Shape4, layout: Layout, dtype: DType, device = 0): DeviceTensor {
  const n = numel(shape);
  const host = dtype === 'float32' ? poisoned(n) : new Uint16Array(n).fill(HALF_NAN[dtype as HalfDtype]);
  return upload(host, shape, { layout, dtype, device });
}

function lastForward(): ForwardRecord {
  const f = fake.forwards();
  expect(f.length, 'no forward call reached the binding').toBeGreaterThan(0);
  return f[f.length - 1] as ForwardRecord;
}

function onlyCudaForward(): ForwardRecord {
  const f = fake.cudaForwards();
  expect(f.length, `expected exactly one CUDA forward call; got ${f.map((r) => r.fn).join(', ')}`).toBe(1);
  return f[0] as ForwardRecord;
}

function devSlot(rec: ForwardRecord, slot: (typeof NATIVE_SLOTS)[number]): [bigint, bigint] {
  const i = NATIVE_SLOTS.indexOf(slot);
  const dev = rec.dev as BigUint64Array;
  return [dev[2 * i] as bigint, dev[2 * i + 1] as bigint];
}

function cfgOf(rec: ForwardRecord): Record<keyof typeof NATIVE_CFG, number> {
  const cfg = rec.cfg as Float64Array;
  const out = {} as Record<keyof typeof NATIVE_CFG, number>;
  for (const [k, i] of Object.entries(NATIVE_CFG) as [keyof typeof NATIVE_CFG, number][]) out[k] = k === 'length' ? cfg.length : (cfg[i] as number);
  return out;
}

/** The error `f` throws (undefined when it does not). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** The error `f` throws or rejects with (undefined when it settles fine). */
async function failure(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** A weights object as the loose record the problem helpers use. */
function asWeights(w: object): Record<string, Float32Array> {
  return w as unknown as Record<string, Float32Array>;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

interface Refusal {
  type: typeof TypeError | typeof RangeError | typeof Error;
  message: RegExp;
}

function checkRefusal(err: unknown, want: Refusal, what: string): void {
  expect(err, `${what}: expected a ${want.type.name}`).toBeInstanceOf(want.type);
  if (want.type === Error) {
    expect(err).not.toBeInstanceOf(TypeError);
    expect(err).not.toBeInstanceOf(RangeError);
  }
  expect((err as Error).message).toMatch(want.message);
}

/**
 * Runs a call that must be refused: the sync form throws, the async form returns a rejected
 * Promise (never a synchronous throw); either way no forward call reaches the binding, nothing is
 * allocated, and `guard`ed tensors keep their bytes.
 */
async function expectRefused(mode: Mode, run: () => unknown, want: Refusal, guard: readonly DeviceTensor[] = []): Promise<void> {
  const before = fake.log.length;
  const live = fake.liveCount();
  const snapshots = guard.map((t) => fake.read(t.device, t.ptr, t.byteLength));
  let err: unknown;
  if (mode === 'sync') {
    try {
      run();
    } catch (e) {
      err = e;
    }
  } else {
    let p: unknown;
    expect(() => {
      p = run();
    }, 'the async form threw synchronously').not.toThrow();
    expect(p).toBeInstanceOf(Promise);
    err = await (p as Promise<unknown>).then(
      () => undefined,
      (e: unknown) => e,
    );
  }
  expect(err, 'the call was not refused').toBeDefined();
  checkRefusal(err, want, 'refused call');
  const after = fake.log.slice(before);
  expect(after.filter((r) => 'cfg' in r).map((r) => r.fn), 'a refused call reached the native forward').toEqual([]);
  expect(after.filter((r) => r.fn === 'cudaAlloc').length, 'a refused call allocated device memory').toBe(0);
  expect(fake.liveCount()).toBe(live);
  guard.forEach((t, i) => expect(bitsEqual(fake.read(t.device, t.ptr, t.byteLength), snapshots[i] as Uint8Array), `${t} was written`).toBe(true));
}

function problem(rng: Rng, op: OpName, shape: Shape4, layout: Layout, variant: number): Problem {
  if (op === 'se') {
    return variant === 0
      ? seProblem(rng, shape, layout, { twoFc: true, b1: true, b2: true, act: 'silu', gate: 'sigmoid', residual: true, outAct: 'relu' })
      : variant === 1
        ? seProblem(rng, shape, layout, { twoFc: false, b1: true, b2: false, act: 'relu', gate: 'hardsigmoid', residual: false, outAct: 'none' })
        : seProblem(rng, shape, layout, { twoFc: true, b1: false, b2: false, act: 'relu', gate: 'hardsigmoid', residual: true, outAct: 'none' });
  }
  if (op === 'eca') return ecaProblem(rng, shape, layout, variant === 0 ? 'sigmoid' : 'hardsigmoid', variant === 0 ? 3 : 5);
  return variant === 0
    ? cbamProblem(rng, shape, layout, { b1: true, b2: true, act: 'relu', gate: 'sigmoid', k: 7, spatialBias: true })
    : cbamProblem(rng, shape, layout, { b1: false, b2: false, act: 'silu', gate: 'hardsigmoid', k: 3, spatialBias: false });
}

/** Odd shapes: C = 1, H = W = 1, C = 3, prime H·W (17, 5·5 with C prime), C not a multiple of 8. */
const SHAPES: readonly Shape4[] = [
  [1, 1, 1, 1],
  [2, 3, 1, 17],
  [3, 5, 2, 3],
  [2, 13, 1, 1],
  [1, 48, 4, 4],
  [2, 7, 5, 5],
];

/** What the CPU path needs of a problem. */
type CpuProblem = Pick<Problem, 'op' | 'shape' | 'layout' | 'weights' | 'options' | 'hasScale'>;

/** The same call on the CPU (device 'cpu'), into poisoned outputs. */
function cpuRun(p: CpuProblem, x: Float32Array, r: Float32Array | undefined): { y: Float32Array; scale: Float32Array | undefined } {
  const n = numel(p.shape);
  const y = poisoned(n);
  const scale = p.hasScale ? poisoned(p.shape[0] * p.shape[1]) : undefined;
  const opts: Record<string, unknown> = { ...p.options, layout: p.layout, device: 'cpu', out: y };
  if (r !== undefined) opts.residual = r;
  if (scale !== undefined) opts.scaleOut = scale;
  (SYNC[p.op] as AnyFn)(x, p.shape, p.weights, opts);
  return { y, scale };
}

// ---------------------------------------------------------------------------------------------

describe('the emulated binding is what lib/ loads', () => {
  test('cuda.status() reports the two fake devices, versions and the fake binary', () => {
    const s = cuda.status();
    expect(s.compiled).toBe(true);
    expect(s.available).toBe(true);
    expect(s.reason).toBeNull();
    expect(s.deviceCount).toBe(2);
    expect(s.devices.map((d) => d.name)).toEqual(FAKE_DEVICES.map((d) => d.name));
    expect(s.devices.map((d) => d.index)).toEqual([0, 1]);
    expect(s.driverVersion).toBe('13.0');
    expect(s.runtimeVersion).toBe('13.0');
    expect(s.binary).toBe(FAKE_BINARY_PATH);
    expect(loader.bindingPath()).toBe(FAKE_BINARY_PATH);
    expect(loader.loadBinding()).toBe(fake.binding);
    expect(Object.isFrozen(s) && Object.isFrozen(s.devices)).toBe(true);
  });

  test("lib/'s CFG and DEV tables and codes match the native enums (convert.h, params.h)", () => {
    const convert = readFileSync(new URL('../native/binding/convert.h', import.meta.url), 'utf8');
    const enumBody = (name: string): string[] => {
      const m = new RegExp(`enum ${name} : int \\{([^}]*)\\}`).exec(convert);
      expect(m, `enum ${name} in convert.h`).not.toBeNull();
      return (m as RegExpExecArray)[1]!.split(',').map((s) => s.trim().replace(/\s*=.*$/, '')).filter((s) => s !== '');
    };
    const cfgNames = enumBody('Cfg');
    const norm = (k: string): string => (k === 'kCfgLength' || k === 'kSlotCount' ? 'length' : k.slice(1).toLowerCase());
    cfgNames.forEach((k, i) => {
      const key = Object.keys(CFG).find((c) => c.toLowerCase() === norm(k));
      expect(key, `lib CFG has no entry for ${k}`).toBeDefined();
      expect((CFG as Record<string, number>)[key as string], `CFG.${key} vs ${k}`).toBe(i);
      expect((NATIVE_CFG as Record<string, number>)[key as string], `fake NATIVE_CFG.${key} vs ${k}`).toBe(i);
    });
    expect(Object.keys(CFG).length).toBe(cfgNames.length);
    const slots = enumBody('Slot');
    expect(slots[slots.length - 1]).toBe('kSlotCount');
    slots.slice(0, -1).forEach((k, i) => {
      const key = Object.keys(DEV).find((c) => c.toLowerCase() === norm(k));
      expect(key, `lib DEV has no entry for ${k}`).toBeDefined();
      expect((DEV as Record<string, number>)[key as string]).toBe(2 * i);
      expect(NATIVE_SLOTS[i]).toBe(key);
    });
    expect(DEV.length).toBe(2 * (slots.length - 1));
  });

  test("the binding contract's revision is the same on both sides and names these tables", () => {
    // The loader refuses an addon whose info().contract differs (a stale build); that only works
    // if the revision moves whenever the tables do.
    const convert = readFileSync(new URL('../native/binding/convert.h', import.meta.url), 'utf8');
    const m = /constexpr int kBindingContract = (\d+);/.exec(convert);
    expect(m, 'kBindingContract in convert.h').not.toBeNull();
    expect(Number((m as RegExpExecArray)[1])).toBe(BINDING_CONTRACT);
    const tables = { CFG, DEV, OP_CODE, LAYOUT_CODE, ACT_CODE, GATE_CODE, OUT_ACT_CODE, DTYPE_CODE };
    const digest = createHash('sha256').update(JSON.stringify(tables)).digest('hex').slice(0, 16);
    // A changed table: bump BINDING_CONTRACT (contract.ts) and kBindingContract (convert.h), then
    // write the new revision and digest here.
    expect({ revision: BINDING_CONTRACT, digest }, 'the contract tables changed: bump the revision').toEqual({ revision: 1, digest: '42dadcdc1d29c2d5' });
  });

  test('the fake re-checks arguments exactly as the real native binding does', () => {
    // The real addon here has no driver: its argument re-checks run, and a call that passes them
    // fails at cudaSetDevice with ERR_SQEX_CUDA (CUDA compiled in) or with ERR_SQEX_UNSUPPORTED
    // (the CPU-only node-gyp build's stub), touching no pointer.
    const real = fake.real;
    const rng = freshRng();
    const [N, C, H, W] = [2, 6, 3, 5];
    const n = N * C * H * W;
    const hidden = 3;
    const base = new Float64Array(NATIVE_CFG.length);
    const K = NATIVE_CFG;
    Object.assign(base, { [K.op]: 0, [K.n]: N, [K.c]: C, [K.h]: H, [K.w]: W, [K.hidden]: hidden, [K.twoFc]: 1 });
    const xT = upload(rng.normals(n), [N, C, H, W]);
    const outT = upload(poisoned(n), [N, C, H, W]);
    const w = randSEWeights(rng, C, hidden, { twoFc: true, b1: true, b2: true });
    const hostW = (): (Float32Array | null)[] => [w.w1, w.b1 ?? null, w.w2 ?? null, w.b2 ?? null, null];
    const dev = (): BigUint64Array => {
      const d = new BigUint64Array(18);
      d[0] = xT.ptr;
      d[1] = BigInt(n * 4);
      d[4] = outT.ptr;
      d[5] = BigInt(n * 4);
      return d;
    };
    type Args = [unknown, unknown, unknown, unknown];
    const cases: [string, () => Args][] = [];
    const cfgWith = (i: number, v: number, c: Float64Array<ArrayBufferLike> = base): Float64Array<ArrayBufferLike> => {
      const a = new Float64Array(c);
      a[i] = v;
      return a;
    };
    const add = (name: string, f: () => Args): void => {
      cases.push([name, f]);
    };
    add('valid', () => [base, dev(), hostW(), 0n]);
    add('cfg Float32Array', () => [new Float32Array(16), dev(), hostW(), 0n]);
    add('cfg 15 entries', () => [new Float64Array(15), dev(), hostW(), 0n]);
    add('op 3', () => [cfgWith(K.op, 3), dev(), hostW(), 0n]);
    add('n 0', () => [cfgWith(K.n, 0), dev(), hostW(), 0n]);
    add('c 1.5', () => [cfgWith(K.c, 1.5), dev(), hostW(), 0n]);
    add('w NaN', () => [cfgWith(K.w, NaN), dev(), hostW(), 0n]);
    add('layout 2', () => [cfgWith(K.layout, 2), dev(), hostW(), 0n]);
    add('spatialBias Infinity', () => [cfgWith(K.spatialBias, Infinity), dev(), hostW(), 0n]);
    add('dtype 3', () => [cfgWith(K.dtype, 3), dev(), hostW(), 0n]);
    add('device 65537', () => [cfgWith(K.device, 65537), dev(), hostW(), 0n]);
    add('SE hidden 0', () => [cfgWith(K.hidden, 0), dev(), hostW(), 0n]);
    add('single-FC hidden != C', () => [cfgWith(K.twoFc, 0), dev(), hostW(), 0n]);
    add('ECA even k', () => [cfgWith(K.ecaK, 4, cfgWith(K.op, 1)), dev(), [null, null, null, null, new Float32Array(4)], 0n]);
    add('CBAM even spatial k', () => [cfgWith(K.spatialK, 2, cfgWith(K.op, 2)), dev(), hostW(), 0n]);
    add('dev BigInt64Array', () => [base, new BigInt64Array(18), hostW(), 0n]);
    add('dev 16 entries', () => [base, new BigUint64Array(16), hostW(), 0n]);
    add('x absent', () => {
      const d = dev();
      d[0] = 0n;
      return [base, d, hostW(), 0n];
    });
    add('out absent', () => {
      const d = dev();
      d[4] = 0n;
      return [base, d, hostW(), 0n];
    });
    add('x one byte short', () => {
      const d = dev();
      d[1] = BigInt(n * 4 - 1);
      return [base, d, hostW(), 0n];
    });
    add('x bytes for float16', () => [cfgWith(K.dtype, 1), (() => {
      const d = dev();
      d[1] = BigInt(n * 2);
      d[5] = BigInt(n * 2);
      return d;
    })(), hostW(), 0n]);
    add('x float16 one byte short', () => [cfgWith(K.dtype, 1), (() => {
      const d = dev();
      d[1] = BigInt(n * 2 - 1);
      return d;
    })(), hostW(), 0n]);
    add('residual for ECA', () => {
      const d = dev();
      d[2] = xT.ptr;
      d[3] = BigInt(n * 4);
      return [cfgWith(K.ecaK, 3, cfgWith(K.op, 1)), d, [null, null, null, null, new Float32Array(3)], 0n];
    });
    add('scaleOut for CBAM', () => {
      const d = dev();
      d[6] = xT.ptr;
      d[7] = BigInt(N * C * 4);
      return [cfgWith(K.spatialK, 3, cfgWith(K.op, 2)), d, [...hostW().slice(0, 4), new Float32Array(18)], 0n];
    });
    add('scaleOut short', () => {
      const d = dev();
      d[6] = outT.ptr;
      d[7] = BigInt(N * C * 4 - 4);
      return [base, d, hostW(), 0n];
    });
    add('device weights: w1 absent', () => [base, dev(), null, 0n]);
    add('device weights: w1 short', () => {
      const d = dev();
      d[8] = xT.ptr;
      d[9] = BigInt(hidden * C * 4 - 1);
      d[12] = xT.ptr;
      d[13] = BigInt(hidden * C * 4);
      return [base, d, null, 0n];
    });
    add('device weights: w2 for single-FC', () => {
      const d = dev();
      d[8] = xT.ptr;
      d[9] = BigInt(C * C * 4);
      d[12] = xT.ptr;
      d[13] = BigInt(C * C * 4);
      return [cfgWith(K.hidden, C, cfgWith(K.twoFc, 0)), d, null, 0n];
    });
    add('device weights: undefined hostWeights, valid slots', () => {
      const d = dev();
      d[8] = xT.ptr;
      d[9] = BigInt(hidden * C * 4);
      d[12] = outT.ptr;
      d[13] = BigInt(hidden * C * 4);
      return [base, d, undefined, 0n];
    });
    add('host weights ignore garbage weight slots', () => {
      const d = dev();
      d[8] = 12345n;
      d[9] = 1n;
      return [base, d, hostW(), 0n];
    });
    add('hostWeights not an array', () => [base, dev(), { 0: w.w1 }, 0n]);
    add('hostWeights 4 entries', () => [base, dev(), hostW().slice(0, 4), 0n]);
    add('hostWeights w1 null', () => [base, dev(), [null, ...hostW().slice(1)], 0n]);
    add('hostWeights w2 for single-FC', () => [cfgWith(K.hidden, C, cfgWith(K.twoFc, 0)), dev(), [new Float32Array(C * C), null, new Float32Array(C * C), null, null], 0n]);
    add('hostWeights w1 Float64Array', () => [base, dev(), [new Float64Array(hidden * C), ...hostW().slice(1)], 0n]);
    add('hostWeights b2 wrong length', () => [base, dev(), [...hostW().slice(0, 3), new Float32Array(C + 1), null], 0n]);
    add('hostWeights aux for SE', () => [base, dev(), [...hostW().slice(0, 4), new Float32Array(3)], 0n]);
    add('stream a number', () => [base, dev(), hostW(), 0]);
    add('stream negative', () => [base, dev(), hostW(), -1n]);
    add('stream 2^64', () => [base, dev(), hostW(), 1n << 64n]);
    add('stream 2^64 - 1', () => [base, dev(), hostW(), (1n << 64n) - 1n]);

    const outcome = (f: () => void): { kind: string; message: string } => {
      try {
        f();
        return { kind: 'ok', message: '' };
      } catch (e) {
        const err = e as Error & { code?: string };
        if (err instanceof TypeError || err instanceof RangeError) return { kind: err.constructor.name, message: err.message };
        return { kind: `Error ${err.code ?? ''}`, message: '' };
      }
    };
    let passed = 0;
    for (const [name, make] of cases) {
      const [a, b, c, d] = make();
      const r = outcome(() => real.cudaForwardDevice(a as Float64Array, b as BigUint64Array, c as null, d as bigint));
      const f = outcome(() => fake.binding.cudaForwardDevice(a as Float64Array, b as BigUint64Array, c as null, d as bigint));
      if (r.kind === 'Error ERR_SQEX_CUDA' || r.kind === 'Error ERR_SQEX_UNSUPPORTED') {
        // passed the real re-check; the fake must accept it too (and it runs)
        passed += 1;
        expect(f.kind, `${name}: the real binding accepted it, the fake refused: ${f.message}`).toBe('ok');
      } else {
        expect(f, name).toEqual(r);
      }
    }
    expect(passed).toBeGreaterThanOrEqual(4);
    // fewer arguments
    const r3 = outcome(() => (real.cudaForwardDevice as unknown as (...a: unknown[]) => void)(base, dev(), null));
    const f3 = outcome(() => (fake.binding.cudaForwardDevice as unknown as (...a: unknown[]) => void)(base, dev(), null));
    expect(f3).toEqual(r3);

    // allocation arguments
    for (const [device, bytes] of [[0, 0], [0, 1.5], [0, -4], [-1, 4], [65536, 4], [0.5, 4], ['0', 4], [0, '4'], [0, 2 ** 53]] as [unknown, unknown][]) {
      const r = outcome(() => real.cudaAlloc(device as number, bytes as number));
      const f = outcome(() => fake.binding.cudaAlloc(device as number, bytes as number));
      expect(f, `cudaAlloc(${String(device)}, ${String(bytes)})`).toEqual(r);
    }
    for (const [name, args] of [
      ['ptr a number', [0, 5, new Float32Array(1), 0n]],
      ['src a DataView', [0, 4096n, new DataView(new ArrayBuffer(4)), 0n]],
      ['src an Array', [0, 4096n, [1, 2], 0n]],
      ['stream a number', [0, 4096n, new Float32Array(1), 0]],
    ] as [string, unknown[]][]) {
      const up = (b: { cudaUpload: unknown }) => () => (b.cudaUpload as (...a: unknown[]) => void)(...args);
      expect(outcome(up(fake.binding)), `cudaUpload ${name}`).toEqual(outcome(up(real)));
    }
  });

  test('fake memory: 256-aligned distinct addresses per device, frees and bad addresses as CUDA does', () => {
    const b = fake.binding;
    const ptrs = [b.cudaAlloc(0, 1), b.cudaAlloc(0, 1000), b.cudaAlloc(1, 4), b.cudaAlloc(1, 4096)];
    try {
      for (const p of ptrs) {
        expect(p % 256n).toBe(0n);
        expect(p).not.toBe(0n);
      }
      expect(new Set(ptrs).size).toBe(4);
      expect(fake.liveCount()).toBe(liveBefore + 4);
      expect(fake.liveBytes(1)).toBe(4100);
      // reading the second device's address on the first is an invalid copy
      let err: unknown;
      try {
        b.cudaDownload(0, ptrs[2] as bigint, new Float32Array(1), 0n);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'ERR_SQEX_CUDA', cudaErrorName: 'cudaErrorInvalidValue' });
      // past the end of an allocation
      expect(() => b.cudaUpload(0, (ptrs[1] as bigint) + 996n, new Float32Array(2), 0n)).toThrow(/invalid argument/);
      // an unknown device
      expect(thrown(() => b.cudaAlloc(2, 4))).toMatchObject({ code: 'ERR_SQEX_CUDA', cudaError: 101, cudaErrorName: 'cudaErrorInvalidDevice', message: 'invalid device ordinal (while selecting device 2)' });
      expect(b.cudaMemInfo(1).total).toBe(FAKE_DEVICES[1]!.totalMemory);
    } finally {
      b.cudaFree(0, ptrs[0] as bigint);
      b.cudaFree(0, ptrs[1] as bigint);
      b.cudaFree(1, ptrs[2] as bigint);
      b.cudaFree(1, ptrs[3] as bigint);
    }
    // The binding frees only what its cudaAlloc returned, once, on its own device (the raw export
    // is reachable from user code): a double free, an address it never returned and the wrong
    // device are RangeErrors before CUDA is called; cudaFree(0) is a no-op.
    expect(thrown(() => b.cudaFree(0, ptrs[0] as bigint))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: 'squeeze-excite (native): cudaFree: ptr is not device memory that cudaAlloc returned on this thread, or it was freed already' });
    expect(thrown(() => b.cudaFree(0, (ptrs[1] as bigint) + 4n))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    const p = b.cudaAlloc(1, 64);
    expect(thrown(() => b.cudaFree(0, p))).toMatchObject({ code: 'ERR_OUT_OF_RANGE', message: 'squeeze-excite (native): cudaFree: ptr was allocated on device 1, not on device 0' });
    b.cudaFree(1, p);
    expect(() => b.cudaFree(0, 0n)).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------

describe('device ops equal the CPU path and the float64 reference (float32)', () => {
  const VARIANTS: { op: OpName; variant: number; label: string }[] = [
    { op: 'se', variant: 0, label: 'SE two-FC, biases, silu, residual, outputActivation relu, scaleOut' },
    { op: 'se', variant: 1, label: 'SE single-FC, hardsigmoid, scaleOut' },
    { op: 'se', variant: 2, label: 'SE two-FC without biases, residual, scaleOut' },
    { op: 'eca', variant: 0, label: 'ECA k=3 sigmoid, scaleOut' },
    { op: 'eca', variant: 1, label: 'ECA k=5 hardsigmoid, scaleOut' },
    { op: 'cbam', variant: 0, label: 'CBAM k=7 with biases' },
    { op: 'cbam', variant: 1, label: 'CBAM k=3 silu hardsigmoid, no biases' },
  ];
  const cases = VARIANTS.flatMap((v) => LAYOUTS.flatMap((layout) => MODES.map((mode) => ({ ...v, layout, mode }))));

  test.each(cases)('$label, $layout, $mode', async ({ op, variant, layout, mode }) => {
    const rng = freshRng();
    for (const [i, shape] of SHAPES.entries()) {
      const p = problem(rng, op, shape, layout, variant);
      const note = `${p.label} ${JSON.stringify(shape)} ${layout} ${mode}; ${seedNote(rng)}`;
      const n = numel(shape);
      const [N, C] = shape;
      const x = rng.normals(n, 1, 0.3);
      const r = p.residual ? rng.normals(n) : undefined;
      const cpu = cpuRun(p, x, r);
      const ref: RefResult = p.ref(x, r);
      expectClose(cpu.y, ref.y, TOL_F32, `CPU path: ${note}`);

      const xT = upload(x, shape, { layout });
      const rT = r ? upload(r, shape, { layout }) : undefined;
      const sT = p.hasScale ? upload(poisoned(N * C), [N, C, 1, 1]) : undefined;
      const opts: Record<string, unknown> = { ...p.options, device: i % 2 === 0 ? 'cuda' : 'auto' };
      if (i % 3 === 0) opts.layout = layout; // x's own layout is used when omitted
      if (rT) opts.residual = rT;
      if (sT) opts.scaleOut = sT;
      fake.clearLog();
      const res = keep(dt(await call(mode, op, xT, shape, p.weights, opts)));
      const rec = onlyCudaForward();
      expect(rec.fn).toBe(mode === 'sync' ? 'cudaForwardDevice' : 'cudaForwardDeviceAsync');
      expect(res).not.toBe(xT);
      expect([...res.shape]).toEqual(shape);
      expect(res.dtype).toBe('float32');
      expect(res.layout).toBe(layout);
      expect(res.device).toBe(0);
      expect(res.owned).toBe(true);
      expect(res.disposed).toBe(false);
      const y = f32(res.toHostSync());
      expect(bitsEqual(y, cpu.y), `device y differs from the CPU path: ${note}`).toBe(true);
      expectClose(y, ref.y, TOL_F32, note);
      if (sT) {
        const s = f32(sT.toHostSync());
        expect(bitsEqual(s, cpu.scale as Float32Array), `scaleOut differs from the CPU path: ${note}`).toBe(true);
        expectClose(s, ref.scale, TOL_F32, `scale: ${note}`);
      }
      // x and residual are only read
      expect(bitsEqual(f32(xT.toHostSync()), x)).toBe(true);
      if (rT && r) expect(bitsEqual(f32(rT.toHostSync()), r)).toBe(true);

      // into a poisoned `out`: written in place and returned
      const outT = poisonTensor(shape, layout, 'float32');
      const s2 = p.hasScale ? upload(poisoned(N * C), [1, N * C, 1, 1]) : undefined;
      const opts2: Record<string, unknown> = { ...opts, out: outT, layout };
      if (s2) opts2.scaleOut = s2;
      const res2 = await call(mode, op, xT, shape, p.weights, opts2);
      expect(res2).toBe(outT);
      expect(bitsEqual(f32(outT.toHostSync()), cpu.y), `out differs from the CPU path: ${note}`).toBe(true);
      if (s2) expect(bitsEqual(f32(s2.toHostSync()), cpu.scale as Float32Array)).toBe(true);
    }
  });

  test.each(MODES)('in place: out is x itself (%s), and out is the residual itself', async (mode) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 5, 3, 3];
    const p = problem(rng, 'se', shape, 'NHWC', 0);
    const x = rng.normals(numel(shape), 1, 0.3);
    const r = rng.normals(numel(shape));
    const cpu = cpuRun(p, x, r);
    const xT = upload(x, shape, { layout: 'NHWC' });
    const rT = upload(r, shape, { layout: 'NHWC' });
    // the same memory under another wrapper counts as x itself
    const alias = keep(DeviceTensor.fromPointer(xT.ptr, shape as LibShape4, { layout: 'NHWC' }));
    expect(await call(mode, 'se', xT, shape, p.weights, { ...p.options, residual: rT, out: alias })).toBe(alias);
    expect(bitsEqual(f32(xT.toHostSync()), cpu.y), seedNote(rng)).toBe(true);
    const x2T = upload(x, shape, { layout: 'NHWC' });
    expect(await call(mode, 'se', x2T, shape, p.weights, { ...p.options, residual: rT, out: rT })).toBe(rT);
    expect(bitsEqual(f32(rT.toHostSync()), cpu.y), seedNote(rng)).toBe(true);
  });
});

describe('device ops in float16 and bfloat16', () => {
  const cases = (['se', 'eca', 'cbam'] as const).flatMap((op) => (['float16', 'bfloat16'] as const).map((dtype) => ({ op, dtype })));

  test.each(cases)('$op $dtype, both layouts, sync and async', async ({ op, dtype }) => {
    const rng = freshRng();
    let k = 0;
    for (const shape of SHAPES) {
      for (const layout of LAYOUTS) {
        const mode: Mode = k++ % 2 === 0 ? 'sync' : 'async';
        const p = problem(rng, op, shape, layout, 0);
        const note = `${p.label} ${dtype} ${JSON.stringify(shape)} ${layout} ${mode}; ${seedNote(rng)}`;
        const n = numel(shape);
        const [N, C] = shape;
        const qx = quantize(rng.normals(n, 1, 0.3), dtype);
        const qr = p.residual ? quantize(rng.normals(n), dtype) : undefined;
        const xT = upload(qx.host, shape, { layout, dtype });
        const rT = qr ? upload(qr.host, shape, { layout, dtype }) : undefined;
        const sT = p.hasScale ? upload(poisoned(N * C), [N, C, 1, 1]) : undefined;
        const opts: Record<string, unknown> = { ...p.options, layout, device: 'cuda' };
        if (rT) opts.residual = rT;
        if (sT) opts.scaleOut = sT;
        const res = keep(dt(await call(mode, op, xT, shape, p.weights, opts)));
        expect(res.dtype).toBe(dtype);
        expect(res.layout).toBe(layout);
        expect(res.byteLength).toBe(2 * n);
        const bits = res.toHostSync();
        expect(bits).toBeInstanceOf(Uint16Array);
        // against the float64 reference on the stored (rounded) inputs
        const ref = p.ref(qx.values, qr?.values);
        expectClose(halfToFloat64(bits as Uint16Array, dtype), ref.y, TOL[dtype], note, ABS_TOL[dtype]);
        // against the CPU path on the same values, rounded once with this suite's converter
        const cpu = cpuRun(p, Float32Array.from(qx.values), qr ? Float32Array.from(qr.values) : undefined);
        expect(bitsEqual(bits, halfBits(cpu.y, dtype)), `not the CPU result rounded to ${dtype}: ${note}`).toBe(true);
        if (sT) {
          const s = f32(sT.toHostSync());
          expect(bitsEqual(s, cpu.scale as Float32Array), `scaleOut: ${note}`).toBe(true);
          expectClose(s, ref.scale, TOL_F32, `scale: ${note}`);
        }
        // toFloat32 widens exactly, as this suite's converter does
        const wide = await res.toFloat32();
        expect(Array.from(wide)).toEqual(Array.from(halfToFloat64(bits as Uint16Array, dtype)));
        // an out of the same dtype is written in place
        const outT = poisonTensor(shape, layout, dtype);
        expect(await call(mode, op, xT, shape, p.weights, { ...opts, out: outT })).toBe(outT);
        expect(bitsEqual(outT.toHostSync(), bits)).toBe(true);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('what reaches the native call', () => {
  test.each((['float32', 'float16', 'bfloat16'] as const).flatMap((dtype) => MODES.map((mode) => ({ dtype, mode }))))(
    'SE: DEV slots hold x, residual, out, scaleOut pointers and byte lengths; cfg and stream as given ($dtype, $mode)',
    async ({ dtype, mode }) => {
      const rng = freshRng();
      const shape: Shape4 = [3, 6, 2, 5];
      const [N, C, H, W] = shape;
      const n = numel(shape);
      const hidden = 4;
      const w = randSEWeights(rng, C, hidden, { twoFc: true, b1: true, b2: true });
      const size = dtype === 'float32' ? 4 : 2;
      const xT = upload(quantize(rng.normals(n), dtype).host, shape, { layout: 'NHWC', dtype });
      const rT = upload(quantize(rng.normals(n), dtype).host, shape, { layout: 'NHWC', dtype });
      const outT = poisonTensor(shape, 'NHWC', dtype);
      const sT = upload(poisoned(N * C), [N, 1, C, 1]);
      const stream = 0xfedcba9876543210n;
      fake.clearLog();
      const res = await call(mode, 'se', xT, shape, w, {
        residual: rT,
        out: outT,
        scaleOut: sT,
        stream,
        activation: 'silu',
        gate: 'hardsigmoid',
        outputActivation: 'relu',
        device: 'cuda',
      });
      expect(res).toBe(outT);
      const rec = onlyCudaForward();
      expect(rec.fn).toBe(mode === 'sync' ? 'cudaForwardDevice' : 'cudaForwardDeviceAsync');
      expect(rec.stream).toBe(stream);
      expect((rec.dev as BigUint64Array).length).toBe(18);
      expect(devSlot(rec, 'x')).toEqual([xT.ptr, BigInt(n * size)]);
      expect(devSlot(rec, 'residual')).toEqual([rT.ptr, BigInt(n * size)]);
      expect(devSlot(rec, 'out')).toEqual([outT.ptr, BigInt(n * size)]);
      expect(devSlot(rec, 'scaleOut')).toEqual([sT.ptr, BigInt(N * C * 4)]);
      for (const s of ['w1', 'b1', 'w2', 'b2', 'aux'] as const) expect(devSlot(rec, s), `weight slot ${s}`).toEqual([0n, 0n]);
      expect(rec.hostWeights).toBe(true);
      const hw = rec.hostArrays as (Float32Array | null)[];
      expect(hw.length).toBe(5);
      expect(bitsEqual(hw[0] as Float32Array, w.w1)).toBe(true);
      expect(bitsEqual(hw[1] as Float32Array, w.b1 as Float32Array)).toBe(true);
      expect(bitsEqual(hw[2] as Float32Array, w.w2 as Float32Array)).toBe(true);
      expect(bitsEqual(hw[3] as Float32Array, w.b2 as Float32Array)).toBe(true);
      expect(hw[4]).toBeNull();
      expect(cfgOf(rec)).toEqual({
        op: 0, n: N, c: C, h: H, w: W, layout: 1, hidden, twoFc: 1, act: 1, gate: 1, outAct: 1,
        ecaK: 0, spatialK: 0, spatialBias: 0, dtype: { float32: 0, float16: 1, bfloat16: 2 }[dtype], device: 0, length: 16,
      });
      // nothing was allocated or uploaded by the call (out was given; weights go by value)
      expect(fake.mem('cudaAlloc')).toEqual([]);
      expect(fake.mem('cudaUpload')).toEqual([]);
      // without out: the result is allocated on x's device with x's byte size, and is DEV out
      fake.clearLog();
      const res2 = keep(dt(await call(mode, 'se', xT, shape, w, { stream: (1n << 64n) - 1n })));
      const allocs = fake.mem('cudaAlloc');
      expect(allocs.map((a) => [a.device, a.bytes])).toEqual([[0, n * size]]);
      expect(allocs[0]?.ptr).toBe(res2.ptr);
      const rec2 = onlyCudaForward();
      expect(rec2.stream).toBe((1n << 64n) - 1n);
      expect(devSlot(rec2, 'out')).toEqual([res2.ptr, BigInt(n * size)]);
      expect(devSlot(rec2, 'residual')).toEqual([0n, 0n]);
      expect(devSlot(rec2, 'scaleOut')).toEqual([0n, 0n]);
      expect(res2.dtype).toBe(dtype);
      expect(res2.layout).toBe('NHWC');
    },
  );

  test('ECA and CBAM cfg: k, spatial k, spatial bias (as float32), hidden; no residual slot', () => {
    const rng = freshRng();
    const shape: Shape4 = [2, 9, 4, 3];
    const [N, C, H, W] = shape;
    const xT = upload(rng.normals(numel(shape)), shape);
    const weight = randECAWeight(rng, 5);
    fake.clearLog();
    keep(ecaForward(xT, shape as LibShape4, { weight }, { gate: 'hardsigmoid', stream: 7n }));
    const e = onlyCudaForward();
    expect(cfgOf(e)).toMatchObject({ op: 1, n: N, c: C, h: H, w: W, layout: 0, ecaK: 5, gate: 1, dtype: 0, device: 0 });
    expect(e.stream).toBe(7n);
    expect(bitsEqual((e.hostArrays as (Float32Array | null)[])[4] as Float32Array, weight)).toBe(true);
    expect(devSlot(e, 'residual')).toEqual([0n, 0n]);

    const cw = randCBAMWeights(rng, C, 2, 5, { b1: true, b2: false, spatialBias: true });
    fake.clearLog();
    keep(cbamForward(xT, shape as LibShape4, cw, { activation: 'silu' }));
    const c = onlyCudaForward();
    expect(cfgOf(c)).toMatchObject({ op: 2, hidden: 2, twoFc: 1, act: 1, gate: 0, spatialK: 5, spatialBias: Math.fround((cw.spatialBias as Float32Array)[0]!) });
    const hw = c.hostArrays as (Float32Array | null)[];
    expect(hw[3]).toBeNull(); // b2 omitted
    expect(bitsEqual(hw[4] as Float32Array, cw.spatialWeight)).toBe(true);
  });

  test.each(MODES)('host arrays on CUDA (%s): cudaForwardHost gets the stream, the device index and the arrays', async (mode) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 4, 3, 3];
    const p = problem(rng, 'se', shape, 'NCHW', 0);
    const x = rng.normals(numel(shape));
    const r = rng.normals(numel(shape));
    const cpu = cpuRun(p, x, r);
    for (const deviceIndex of [0, 1]) {
      fake.clearLog();
      const out = poisoned(x.length);
      const res = await call(mode, 'se', x, shape, p.weights, { ...p.options, residual: r, out, device: 'cuda', deviceIndex, stream: 99n });
      expect(res).toBe(out);
      expect(bitsEqual(out, cpu.y)).toBe(true);
      const rec = onlyCudaForward();
      expect(rec.fn).toBe(mode === 'sync' ? 'cudaForwardHost' : 'cudaForwardHostAsync');
      expect(rec.stream).toBe(99n);
      expect(cfgOf(rec).device).toBe(deviceIndex);
      const ops = rec.hostArrays as (Float32Array | null)[];
      expect(ops[0]).toBe(x);
      expect(ops[1]).toBe(r);
      expect(ops[2]).toBe(out);
    }
  });

  test.each(MODES)('device index 1: tensors, the op and its result on the second device (%s)', async (mode) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 6, 3, 1];
    const [N, C] = shape;
    const p = problem(rng, 'se', shape, 'NCHW', 0);
    const x = rng.normals(numel(shape));
    const r = rng.normals(numel(shape));
    const cpu = cpuRun(p, x, r);
    fake.clearLog();
    const xT = upload(x, shape, { device: 1 });
    const rT = upload(r, shape, { device: 1 });
    const sT = upload(poisoned(N * C), [N, C, 1, 1], { device: 1 });
    expect(fake.mem('cudaAlloc').map((a) => a.device)).toEqual([1, 1, 1]);
    expect(fake.mem('cudaUpload').map((a) => a.device)).toEqual([1, 1, 1]);
    expect(fake.isLive(1, xT.ptr)).toBe(true);
    expect(fake.isLive(0, xT.ptr)).toBe(false);
    for (const opts of [{}, { deviceIndex: 1 }]) {
      fake.clearLog();
      const res = keep(dt(await call(mode, 'se', xT, shape, p.weights, { ...p.options, ...opts, residual: rT, scaleOut: sT })));
      expect(res.device).toBe(1);
      expect(fake.isLive(1, res.ptr)).toBe(true);
      expect(fake.mem('cudaAlloc').map((a) => a.device)).toEqual([1]);
      expect(cfgOf(onlyCudaForward()).device).toBe(1);
      expect(bitsEqual(f32(res.toHostSync()), cpu.y)).toBe(true);
      expect(bitsEqual(f32(sT.toHostSync()), cpu.scale as Float32Array)).toBe(true);
    }
    // a tensor on the other device, or a deviceIndex that is not x's, is refused
    const out0 = poisonTensor(shape, 'NCHW', 'float32', 0);
    await expectRefused(mode, () => (mode === 'sync' ? SYNC : ASYNC).se(xT, shape, p.weights, { out: out0 }), { type: RangeError, message: /options\.out/ }, [out0]);
    await expectRefused(mode, () => (mode === 'sync' ? SYNC : ASYNC).se(xT, shape, p.weights, { deviceIndex: 0 }), { type: RangeError, message: /options\.deviceIndex/ });
  });

  test.each(MODES)('device index 2 (of 2 devices) is a RangeError, with nothing allocated (%s)', async (mode) => {
    const rng = freshRng();
    const shape: Shape4 = [1, 4, 2, 2];
    const x = rng.normals(numel(shape));
    const w = randSEWeights(rng, 4, 2, { twoFc: true, b1: true, b2: true });
    const run = (mode === 'sync' ? SYNC : ASYNC).se;
    await expectRefused(mode, () => run(x, shape, w, { device: 'cuda', deviceIndex: 2 }), { type: RangeError, message: /options\.deviceIndex/ });
    await expectRefused(mode, () => run(x, shape, w, { device: 'auto', deviceIndex: 2 }), { type: RangeError, message: /options\.deviceIndex/ });
    const before = fake.liveCount();
    expect(() => DeviceTensor.from(x, shape as LibShape4, { device: 2 })).toThrow(RangeError);
    expect(() => DeviceTensor.empty(shape as LibShape4, { device: 2 })).toThrow(/options\.device/);
    expect(() => new SEBlock(w, { device: 'cuda', deviceIndex: 2 })).toThrow(RangeError);
    expect(fake.liveCount()).toBe(before);
    expect(fake.mem('cudaAlloc')).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('blocks on CUDA', () => {
  type BlockKind = 'SE' | 'ECA' | 'CBAM';
  interface Built {
    block: SEBlock | ECABlock | CBAMBlock;
    weights: Record<string, Float32Array>;
    slots: (Float32Array | null)[]; // [w1, b1, w2, b2, aux]
    problem: Problem;
  }
  function build(kind: BlockKind, rng: Rng, shape: Shape4, layout: Layout, extra: Record<string, unknown> = {}): Built {
    const C = shape[1];
    if (kind === 'SE') {
      const p = seProblem(rng, shape, layout, { twoFc: true, b1: true, b2: true, act: 'silu', gate: 'sigmoid', residual: true, outAct: 'relu' });
      const w = p.weights;
      const block = new SEBlock(w as unknown as ConstructorParameters<typeof SEBlock>[0], { ...p.options, layout, device: 'cuda', ...extra });
      return { block, weights: w, slots: [w.w1!, w.b1!, w.w2!, w.b2!, null], problem: p };
    }
    if (kind === 'ECA') {
      const p = ecaProblem(rng, shape, layout, 'hardsigmoid', 5);
      const block = new ECABlock(p.weights as { weight: Float32Array }, { ...p.options, layout, device: 'cuda', ...extra });
      return { block, weights: p.weights, slots: [null, null, null, null, p.weights.weight!], problem: p };
    }
    const p = cbamProblem(rng, shape, layout, { b1: true, b2: true, act: 'silu', gate: 'sigmoid', k: 3, spatialBias: true });
    const w = p.weights;
    const block = new CBAMBlock(w as { w1: Float32Array; w2: Float32Array; spatialWeight: Float32Array }, { ...p.options, layout, device: 'cuda', channels: C, ...extra });
    return { block, weights: w, slots: [w.w1!, w.b1!, w.w2!, w.b2!, w.spatialWeight!], problem: p };
  }
  const fwd = (b: Built['block'], mode: Mode, ...args: unknown[]): Promise<unknown> | unknown => {
    const f = (mode === 'sync' ? b.forward : b.forwardAsync) as (...a: unknown[]) => unknown;
    return f.apply(b, args);
  };

  const fwdLoose = (b: Built['block'], mode: Mode, args: unknown[]): unknown => {
    const f = (mode === 'sync' ? b.forward : b.forwardAsync) as (...a: unknown[]) => unknown;
    return f.apply(b, args);
  };
  const cases = (['SE', 'ECA', 'CBAM'] as const).flatMap((kind) => MODES.map((mode) => ({ kind, mode })));
  test.each(cases)('$kind block ($mode): weights uploaded once at construction, resident per call, freed by dispose', async ({ kind, mode }) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 7, 3, 5];
    const [N, C] = shape;
    const layout: Layout = 'NHWC';
    const live0 = fake.liveCount();
    fake.clearLog();
    const b = build(kind, rng, shape, layout);
    const block = keep(b.block);
    expect(block.backend).toBe('cuda');
    const present = b.slots.filter((s): s is Float32Array => s !== null);
    const uploads = fake.mem('cudaUpload');
    expect(uploads.length, 'one upload per weight tensor').toBe(present.length);
    expect(uploads.map((u) => u.bytes)).toEqual(present.map((a) => a.byteLength));
    expect(fake.mem('cudaAlloc').length).toBe(present.length);
    expect(fake.liveCount()).toBe(live0 + present.length);
    // the uploaded bytes are the weights
    uploads.forEach((u, i) => expect(bitsEqual(fake.read(u.device, u.ptr, u.bytes), bytesOf(present[i] as Float32Array))).toBe(true));
    const residentPtrs = uploads.map((u) => u.ptr);

    const p = b.problem;
    const x = rng.normals(numel(shape), 1, 0.3);
    const r = p.residual ? rng.normals(numel(shape)) : undefined;
    const cpu = cpuRun(p, x, r);
    const cpuNoResidual = cpuRun(p, x, undefined);
    const xT = upload(x, shape, { layout });

    const expectResident = (rec: ForwardRecord): void => {
      expect(rec.hostWeights, 'a block passes no host weights').toBe(false);
      const slots = ['w1', 'b1', 'w2', 'b2', 'aux'] as const;
      let j = 0;
      slots.forEach((s, i) => {
        const host = b.slots[i];
        if (host === null || host === undefined) expect(devSlot(rec, s)).toEqual([0n, 0n]);
        else expect(devSlot(rec, s)).toEqual([residentPtrs[j++], BigInt(host.byteLength)]);
      });
    };

    // the resident path: x alone (and with a stream)
    for (const args of [[xT], [xT, { stream: 5n }]]) {
      fake.clearLog();
      const y = keep(dt(await fwd(block, mode, ...args)));
      const rec = onlyCudaForward();
      expect(rec.fn).toBe(mode === 'sync' ? 'cudaForwardDevice' : 'cudaForwardDeviceAsync');
      expect(rec.stream).toBe(args.length === 2 ? 5n : 0n);
      expectResident(rec);
      expect(fake.mem('cudaUpload'), 'no upload per call').toEqual([]);
      expect(fake.mem('cudaAlloc').length, 'only the result is allocated').toBe(1);
      expect(devSlot(rec, 'out')).toEqual([y.ptr, BigInt(y.byteLength)]);
      expect(bitsEqual(f32(y.toHostSync()), cpuNoResidual.y), seedNote(rng)).toBe(true);
      expectClose(f32(y.toHostSync()), p.ref(x, undefined).y, TOL_F32, seedNote(rng));
      expect(y.layout).toBe(layout);
    }

    // the general path: shape, out, scaleOut, residual — still resident weights
    const outT = poisonTensor(shape, layout, 'float32');
    const opts: Record<string, unknown> = { out: outT };
    const sT = p.hasScale ? upload(poisoned(N * C), [N, C, 1, 1]) : undefined;
    if (sT) opts.scaleOut = sT;
    if (r) opts.residual = upload(r, shape, { layout });
    fake.clearLog();
    expect(await fwd(block, mode, xT, shape, opts)).toBe(outT);
    const rec = onlyCudaForward();
    expectResident(rec);
    expect(fake.mem('cudaUpload')).toEqual([]);
    expect(fake.mem('cudaAlloc')).toEqual([]);
    expect(bitsEqual(f32(outT.toHostSync()), cpu.y), seedNote(rng)).toBe(true);
    if (sT) expect(bitsEqual(f32(sT.toHostSync()), cpu.scale as Float32Array)).toBe(true);

    // host arrays on a CUDA block go through cudaForwardHost with the weights as host arrays
    fake.clearLog();
    const yh = f32(await fwd(block, mode, x, shape, r ? { residual: r } : undefined));
    const hrec = onlyCudaForward();
    expect(hrec.fn).toBe(mode === 'sync' ? 'cudaForwardHost' : 'cudaForwardHostAsync');
    expect(bitsEqual(yh, cpu.y)).toBe(true);

    // dispose frees exactly the resident weights; forward afterwards throws
    fake.clearLog();
    block.dispose();
    expect(block.disposed).toBe(true);
    expect(fake.mem('cudaFree').map((f) => f.ptr).sort()).toEqual([...residentPtrs].sort());
    for (const ptr of residentPtrs) expect(fake.isLive(0, ptr)).toBe(false);
    expect(() => block.dispose()).not.toThrow();
    expect(fake.mem('cudaFree').length).toBe(present.length);
    expect(() => block.forward(xT as never)).toThrow(/disposed/);
    await expect(block.forwardAsync(xT as never)).rejects.toThrow(/disposed/);
    expect(fake.cudaForwards().length).toBe(0);
  });

  test('a float16 block takes float16 tensors only; deviceIndex 1 keeps everything on device 1', async () => {
    const rng = freshRng();
    const shape: Shape4 = [1, 6, 2, 2];
    fake.clearLog();
    const b = build('SE', rng, shape, 'NCHW', { dtype: 'float16', deviceIndex: 1 });
    keep(b.block);
    expect(fake.mem('cudaAlloc').every((a) => a.device === 1)).toBe(true);
    const q = quantize(rng.normals(numel(shape)), 'float16');
    const xT = upload(q.host, shape, { dtype: 'float16', device: 1 });
    const y = keep(dt(await (b.block as SEBlock).forwardAsync(xT)));
    expect(y.dtype).toBe('float16');
    expect(y.device).toBe(1);
    expect(cfgOf(lastForward())).toMatchObject({ dtype: 1, device: 1 });
    expectClose(halfToFloat64(y.toHostSync() as Uint16Array, 'float16'), b.problem.ref(q.values, undefined).y, TOL.float16, seedNote(rng), ABS_TOL.float16);
    const x32 = upload(rng.normals(numel(shape)), shape, { device: 1 });
    const x0 = upload(q.host, shape, { dtype: 'float16', device: 0 });
    for (const bad of [x32, x0]) {
      fake.clearLog();
      expect(() => (b.block as SEBlock).forward(bad)).toThrow(RangeError);
      expect(fake.forwards()).toEqual([]);
      expect(fake.mem('cudaAlloc')).toEqual([]);
    }
  });

  test('a block on the CPU refuses a DeviceTensor x, without any CUDA work', async () => {
    const rng = freshRng();
    const shape: Shape4 = [1, 3, 2, 2];
    const block = keep(new ECABlock({ weight: randECAWeight(rng, 3) }, { device: 'cpu' }));
    expect(block.backend).toBe('cpu');
    const xT = upload(rng.normals(numel(shape)), shape);
    for (const mode of MODES) {
      for (const args of [[xT], [xT, shape]] as unknown[][]) {
        await expectRefused(mode, () => fwdLoose(block, mode, args), { type: RangeError, message: /x must be a Float32Array: this ECABlock runs on the CPU/ });
      }
    }
  });

  test('an allocation failure while uploading the weights frees those already uploaded', () => {
    const rng = freshRng();
    for (const kind of ['SE', 'CBAM'] as const) {
      const live = fake.liveCount();
      fake.failNextAllocs(1, 2);
      let err: unknown;
      try {
        keep(build(kind, rng, [1, 5, 2, 2], 'NCHW').block);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'ERR_SQEX_CUDA', cudaError: 2, cudaErrorName: 'cudaErrorMemoryAllocation' });
      expect(fake.liveCount()).toBe(live);
    }
  });

  test.each(MODES)('a failing forward of the resident path frees the result it allocated (%s)', async (mode) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 5, 2, 3];
    const b = build('ECA', rng, shape, 'NCHW');
    keep(b.block);
    const xT = upload(rng.normals(numel(shape)), shape);
    const live = fake.liveCount();
    fake.clearLog();
    fake.failNextForward('ERR_SQEX_CUDA', { phase: mode === 'async' ? 'settle' : 'launch' });
    const err = await failure(() => fwd(b.block, mode, xT));
    expect(err).toMatchObject({ code: 'ERR_SQEX_CUDA', cudaErrorName: 'cudaErrorLaunchFailure' });
    expect(fake.liveCount()).toBe(live);
    expect(fake.mem('cudaAlloc').length).toBe(1);
    expect(fake.mem('cudaFree').map((f) => f.ptr)).toEqual([fake.mem('cudaAlloc')[0]?.ptr]);
    expect(xT.disposed).toBe(false);
  });

  test('dispose of x during a block forwardAsync (resident path) waits for it', async () => {
    const rng = freshRng();
    const shape: Shape4 = [1, 4, 3, 3];
    const b = build('SE', rng, shape, 'NCHW');
    keep(b.block);
    const x = rng.normals(numel(shape), 1, 0.3);
    const xT = keep(DeviceTensor.from(x, shape as LibShape4));
    const ptr = xT.ptr;
    const pending = (b.block as SEBlock).forwardAsync(xT);
    xT.dispose();
    expect(xT.disposed).toBe(true);
    expect(fake.isLive(0, ptr), 'x freed while the op is in flight').toBe(true);
    const y = keep(await pending);
    expect(fake.isLive(0, ptr)).toBe(false);
    expect(bitsEqual(f32(y.toHostSync()), cpuRun(b.problem, x, undefined).y)).toBe(true);
  });

  // Found by an attack (2026-11-30): block.dispose() during forwardAsync freed the resident weights
  // under the kernel (the emulator's freed-while-in-flight count went up by 4). afterEach checks
  // that count is 0.
  test.each(['resident', 'out given', 'host arrays'] as const)('dispose of the block during forwardAsync (%s) keeps its weights until the call settles', async (path) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 4, 3, 3];
    const b = build('SE', rng, shape, 'NCHW');
    const weightPtrs = fake.log.flatMap((e) => (e.fn === 'cudaAlloc' && e.ptr !== null ? [e.ptr] : []));
    expect(weightPtrs).toHaveLength(4);
    const x = rng.normals(numel(shape), 1, 0.3);
    const xT = path === 'host arrays' ? null : keep(DeviceTensor.from(x, shape as LibShape4));
    const out = path === 'out given' ? keep(DeviceTensor.empty(shape as LibShape4)) : null;
    const block = b.block as SEBlock;
    const pending = xT === null ? block.forwardAsync(x, shape as LibShape4) : out === null ? block.forwardAsync(xT) : block.forwardAsync(xT, { out });
    block.dispose();
    expect(block.disposed).toBe(true);
    for (const ptr of weightPtrs) expect(fake.isLive(0, ptr), 'a weight freed while the call is in flight').toBe(true);
    const y = await pending;
    for (const ptr of weightPtrs) expect(fake.isLive(0, ptr), 'a weight kept after the call settled').toBe(false);
    const got = y instanceof Float32Array ? y : f32((y as DeviceTensor).toHostSync());
    if (y !== out && !(y instanceof Float32Array)) (y as DeviceTensor).dispose();
    expect(bitsEqual(got, cpuRun(b.problem, x, undefined).y)).toBe(true);
  });

  // Found by an attack (2026-11-30): a getter of the call's own arguments (options or a shape
  // element) that disposed the block ran after the disposed check, and the kernel was launched on
  // the freed weights (cudaErrorIllegalAddress here; on hardware, sticky, or stale memory read).
  test.each(['resident, options getter', 'general, shape getter', 'async resident, options getter'] as const)(
    'a block disposed by a getter of its own call arguments (%s): ERR_SQEX_DISPOSED, no kernel',
    async (how) => {
      const rng = freshRng();
      const shape: Shape4 = [2, 4, 3, 3];
      const b = build('SE', rng, shape, 'NCHW');
      const block = b.block as SEBlock;
      const xT = keep(DeviceTensor.from(rng.normals(numel(shape), 1, 0.3), shape as LibShape4));
      const opts = { get stream() { block.dispose(); return 0n; } };
      const shapeArg = Object.defineProperty([...shape], 0, { get() { block.dispose(); return shape[0]; } });
      fake.clearLog();
      const call = (): unknown => (how.startsWith('async') ? block.forwardAsync(xT, opts as never) : how.startsWith('resident') ? block.forward(xT, opts as never) : block.forward(xT, shapeArg as never));
      if (how.startsWith('async')) await expect(call() as Promise<unknown>).rejects.toMatchObject({ code: 'ERR_SQEX_DISPOSED' });
      else expect(call).toThrow(expect.objectContaining({ code: 'ERR_SQEX_DISPOSED' }));
      expect(fake.cudaForwards()).toEqual([]);
    },
  );

  // Found by an attack (2026-11-30): a block built without deviceIndex (weights on cuda:0) took a
  // DeviceTensor x on cuda:1 through its general path (out, residual, scaleOut or a shape) to the
  // kernel with cuda:0 weight pointers (cudaErrorIllegalAddress: sticky on real hardware).
  test.each(['out', 'shape'] as const)('a block on cuda:0 refuses x on cuda:1 by name through its general path (%s), before any native call', (how) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 4, 3, 3];
    const b = build('SE', rng, shape, 'NCHW');
    keep(b.block);
    const xT = keep(DeviceTensor.from(rng.normals(numel(shape), 1, 0.3), shape as LibShape4, { device: 1 }));
    const out = keep(DeviceTensor.empty(shape as LibShape4, { device: 1 }));
    fake.clearLog();
    const block = b.block as SEBlock;
    expect(() => (how === 'out' ? block.forward(xT, { out }) : block.forward(xT, shape as LibShape4))).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: 'x' }),
    );
    expect(fake.cudaForwards()).toEqual([]);
  });

  // Found by an attack (2026-11-30): one failing free (cudaFree reports an earlier kernel's error)
  // ended dispose()'s loop, and the other weights stayed allocated with no way to free them.
  test('a failing free in block.dispose() still frees the other weights, then throws that error', () => {
    const rng = freshRng();
    const b = build('SE', rng, [1, 4, 3, 3], 'NCHW');
    const weightPtrs = fake.log.flatMap((e) => (e.fn === 'cudaAlloc' && e.ptr !== null ? [e.ptr] : []));
    const live = fake.liveCount();
    const realFree = fake.binding.cudaFree;
    let armed = true;
    (fake.binding as { cudaFree: typeof realFree }).cudaFree = function (this: unknown, ...args: Parameters<typeof realFree>) {
      if (armed) {
        armed = false;
        throw Object.assign(new Error('unspecified launch failure (freeing device memory)'), { code: 'ERR_SQEX_CUDA', cudaError: 719 });
      }
      return realFree.apply(this, args);
    };
    try {
      expect(() => b.block.dispose()).toThrow(expect.objectContaining({ code: 'ERR_SQEX_CUDA' }));
    } finally {
      (fake.binding as { cudaFree: typeof realFree }).cudaFree = realFree;
    }
    // Four weights (w1, b1, w2, b2): three freed; the one whose free failed stays (the error is
    // the caller's to see); freed here so the test leaves nothing behind.
    expect(live - fake.liveCount()).toBe(3);
    const left = weightPtrs.filter((ptr) => fake.isLive(0, ptr));
    expect(left).toHaveLength(1);
    fake.binding.cudaFree(0, left[0]!);
    b.block.dispose(); // already disposed: nothing more
  });
});

// ---------------------------------------------------------------------------------------------

describe('DeviceTensor lifecycle', () => {
  test.each(['float32', 'float16', 'bfloat16'] as const)('from / toHost / toHostSync / toFloat32 round-trip (%s)', async (dtype) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 3, 1, 7];
    const x = rng.normals(numel(shape), 2);
    const expectedBits = dtype === 'float32' ? x : halfBits(x, dtype);
    for (const src of dtype === 'float32' ? [x] : [x, expectedBits]) {
      fake.clearLog();
      const t = upload(src, shape, { dtype, layout: 'NHWC' });
      expect(t.byteLength).toBe(numel(shape) * (dtype === 'float32' ? 4 : 2));
      expect(fake.mem('cudaAlloc').map((a) => a.bytes)).toEqual([t.byteLength]);
      // the device holds the bits this suite's converter gives
      expect(bitsEqual(fake.read(0, t.ptr, t.byteLength), bytesOf(expectedBits))).toBe(true);
      const a = await t.toHost({ stream: 3n });
      const s = t.toHostSync({ stream: 4n });
      expect(bitsEqual(a, expectedBits)).toBe(true);
      expect(bitsEqual(s, expectedBits)).toBe(true);
      expect(fake.mem('cudaDownloadAsync').map((d) => d.stream)).toEqual([3n]);
      expect(fake.mem('cudaDownload').map((d) => d.stream)).toEqual([4n]);
      const wide = await t.toFloat32();
      expect(wide).toBeInstanceOf(Float32Array);
      const want = dtype === 'float32' ? Array.from(x) : Array.from(halfToFloat64(expectedBits as Uint16Array, dtype));
      expect(Array.from(wide)).toEqual(want);
    }
    const e = keep(DeviceTensor.empty(shape as LibShape4, { dtype }));
    expect(e.dtype).toBe(dtype);
    expect(fake.isLive(0, e.ptr)).toBe(true);
  });

  test.each(['float32', 'float16', 'bfloat16'] as const)('copyFrom overwrites in place on the given stream, no allocation (%s)', (dtype) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 5, 3, 1];
    const t = keep(DeviceTensor.from(rng.normals(numel(shape)), shape as LibShape4, { dtype }));
    const ptr = t.ptr;
    const x = rng.normals(numel(shape), 3);
    const expectedBits = dtype === 'float32' ? x : halfBits(x, dtype);
    for (const src of dtype === 'float32' ? [x] : [x, expectedBits]) {
      fake.write(0, ptr, new Uint8Array(t.byteLength).fill(0xff)); // poison
      fake.clearLog();
      expect(t.copyFrom(src, { stream: 9n })).toBe(t);
      expect(fake.mem('cudaAlloc')).toEqual([]);
      expect(fake.mem('cudaUpload').map((u) => [u.ptr, u.bytes, u.stream])).toEqual([[ptr, t.byteLength, 9n]]);
      expect(bitsEqual(fake.read(0, ptr, t.byteLength), bytesOf(expectedBits)), seedNote(rng)).toBe(true);
    }
  });

  // From an attack (2026-11-30): cudaStreamPerThread (2n) names another stream on each thread; an
  // async op would run (host arrays) or wait (DeviceTensors) on a pool thread's stream, and the
  // workspace kept per handle would be shared across threads. Ops refuse it; copies, enqueued on
  // the calling thread, take it.
  test('stream 2n (cudaStreamPerThread) is refused by ops and blocks by name, accepted by copies', async () => {
    const rng = freshRng();
    const shape: Shape4 = [1, 4, 2, 2];
    const xT = keep(DeviceTensor.from(rng.normals(16), shape as LibShape4));
    const w = randSEWeights(rng, 4, 2, { twoFc: true, b1: true, b2: true });
    const block = keep(new SEBlock(w, { device: 'cuda' }));
    fake.clearLog();
    const refused = expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: 'options.stream', message: expect.stringContaining('not cudaStreamPerThread (2n)') });
    expect(() => seForward(xT, shape as LibShape4, w, { stream: 2n })).toThrow(refused);
    await expect(seForwardAsync(rng.normals(16), shape as LibShape4, w, { device: 'cuda', stream: 2n })).rejects.toMatchObject({ argument: 'options.stream' });
    expect(() => block.forward(xT, { stream: 2n })).toThrow(refused);
    expect(fake.cudaForwards()).toEqual([]);
    expect(bitsEqual(f32(await xT.toHost({ stream: 2n })), f32(xT.toHostSync()))).toBe(true);
    xT.copyFrom(rng.normals(16), { stream: 2n });
  });

  // Found by an attack (2026-11-30): an options getter that disposed the tensor ran after the
  // live check, and the copy went to the addon with address 0 (an uncoded-looking CUDA error).
  test.each(['toHost', 'toHostSync', 'copyFrom', 'toFloat32'] as const)('%s: a tensor disposed by its own options getter is ERR_SQEX_DISPOSED, no copy', async (method) => {
    const rng = freshRng();
    const shape: Shape4 = [1, 4, 2, 2];
    const t = DeviceTensor.from(rng.normals(16), shape as LibShape4);
    const opts = { get stream() { t.dispose(); return 0n; } };
    fake.clearLog();
    const run = (): unknown =>
      method === 'copyFrom' ? t.copyFrom(rng.normals(16), opts as never) : method === 'toHostSync' ? t.toHostSync(opts as never) : t[method](opts as never);
    if (method === 'toHost' || method === 'toFloat32') await expect(run() as Promise<unknown>).rejects.toMatchObject({ code: 'ERR_SQEX_DISPOSED' });
    else expect(run).toThrow(expect.objectContaining({ code: 'ERR_SQEX_DISPOSED' }));
    expect(fake.mem('cudaUpload').concat(fake.mem('cudaDownload') as never[], fake.mem('cudaDownloadAsync') as never[])).toEqual([]);
  });

  test('copyFrom refuses bad data without writing; after dispose it throws', () => {
    const rng = freshRng();
    const shape: Shape4 = [1, 4, 2, 2];
    const f32t = keep(DeviceTensor.from(rng.normals(16), shape as LibShape4));
    const f16t = keep(DeviceTensor.from(rng.normals(16), shape as LibShape4, { dtype: 'float16' }));
    const before32 = fake.read(0, f32t.ptr, f32t.byteLength);
    const before16 = fake.read(0, f16t.ptr, f16t.byteLength);
    fake.clearLog();
    expect(() => f32t.copyFrom(new Float32Array(15))).toThrow(
      expect.objectContaining({
        name: 'RangeError',
        code: 'ERR_OUT_OF_RANGE',
        argument: 'data',
        message: 'DeviceTensor.copyFrom: data must be a Float32Array of length 16 (N × C × H × W of [1, 4, 2, 2]); received a Float32Array of length 15',
      }),
    );
    expect(() => f32t.copyFrom(new Uint16Array(16))).toThrow(TypeError);
    expect(() => f32t.copyFrom(new Float64Array(16) as unknown as Float32Array)).toThrow(TypeError);
    expect(() => f16t.copyFrom(new Uint16Array(17))).toThrow(RangeError);
    expect(() => f16t.copyFrom(rng.normals(16), { stream: -1n })).toThrow(RangeError);
    const detached = rng.normals(16);
    structuredClone(detached.buffer, { transfer: [detached.buffer as ArrayBuffer] });
    expect(() => f32t.copyFrom(detached)).toThrow(TypeError);
    // A view left out of bounds by a shrunk resizable buffer: said so (it read as a wrong length).
    const rab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(64, { maxByteLength: 64 });
    const shrunk = new Float32Array(rab, 0, 16);
    rab.resize(32);
    expect(() => f32t.copyFrom(shrunk)).toThrow(expect.objectContaining({ name: 'TypeError', argument: 'data', message: expect.stringContaining('out of bounds (a shrunk resizable buffer)') }));
    expect(() => DeviceTensor.from(shrunk, shape as LibShape4)).toThrow(expect.objectContaining({ name: 'TypeError', argument: 'data' }));
    expect(fake.mem('cudaUpload')).toEqual([]);
    expect(bitsEqual(fake.read(0, f32t.ptr, f32t.byteLength), before32)).toBe(true);
    expect(bitsEqual(fake.read(0, f16t.ptr, f16t.byteLength), before16)).toBe(true);
    const t = DeviceTensor.from(rng.normals(16), shape as LibShape4);
    t.dispose();
    expect(() => t.copyFrom(rng.normals(16))).toThrow(/^DeviceTensor\.copyFrom: this DeviceTensor .* has been disposed/);
  });

  test('use after dispose throws a clear Error; double dispose frees once', async () => {
    const rng = freshRng();
    const shape: Shape4 = [1, 3, 2, 2];
    const t = DeviceTensor.from(rng.normals(12), shape as LibShape4);
    const ptr = t.ptr;
    fake.clearLog();
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(fake.isLive(0, ptr)).toBe(false);
    expect(() => t.dispose()).not.toThrow();
    expect(fake.mem('cudaFree').map((f) => f.ptr)).toEqual([ptr]);
    expect(() => t.ptr).toThrow(/^DeviceTensor\.ptr: .* \(used after dispose\(\)\)/);
    expect(() => t.toHostSync()).toThrow(/^DeviceTensor\.toHostSync: .* \(used after dispose\(\)\)/);
    await expect(t.toHost()).rejects.toThrow(/used after dispose/);
    await expect(t.toFloat32()).rejects.toThrow(/used after dispose/);
    // Named by the method called (toFloat32 said toHost), first, as every other refusal (an audit, 2026-12-01).
    await expect(t.toFloat32()).rejects.toThrow(/^DeviceTensor\.toFloat32: this DeviceTensor float32 NCHW \[1, 3, 2, 2\] on cuda:0 has been disposed \(used after dispose\(\)\)/);
    expect(() => t.ptr).toThrow(/^DeviceTensor\.ptr: this DeviceTensor /);
    expect(String(t)).toMatch(/^disposed DeviceTensor/);
    const w = randSEWeights(rng, 3, 2, { twoFc: true, b1: true, b2: true });
    await expectRefused('sync', () => seForward(t, shape as LibShape4, w), { type: RangeError, message: /seForward: x must be a DeviceTensor that has not been disposed/ });
    await expectRefused('async', () => seForwardAsync(t, shape as LibShape4, w), { type: RangeError, message: /x must be a DeviceTensor that has not been disposed/ });
    expect(fake.mem('cudaDownload')).toEqual([]);
  });

  test('`using` and Symbol.dispose free the tensor', () => {
    const rng = freshRng();
    let ptr = 0n;
    {
      using t = DeviceTensor.from(rng.normals(8), [1, 2, 2, 2]);
      ptr = t.ptr;
      expect(fake.isLive(0, ptr)).toBe(true);
    }
    expect(fake.isLive(0, ptr)).toBe(false);
    const t2 = DeviceTensor.empty([2, 2, 1, 1]);
    const p2 = t2.ptr;
    t2[Symbol.dispose]();
    expect(t2.disposed).toBe(true);
    expect(fake.isLive(0, p2)).toBe(false);
  });

  test('a forgotten owned tensor is freed by the garbage collector; a forgotten fromPointer wrapper frees nothing', async () => {
    v8.setFlagsFromString('--expose_gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const rng = freshRng();
    const owner = upload(rng.normals(8), [1, 2, 2, 2]);
    const live = fake.liveCount();
    let ptr = 0n;
    (() => {
      const t = DeviceTensor.from(rng.normals(16), [1, 4, 2, 2]);
      ptr = t.ptr;
      DeviceTensor.fromPointer(owner.ptr, [1, 1, 2, 2]);
    })();
    expect(fake.isLive(0, ptr)).toBe(true);
    for (let i = 0; i < 100 && fake.isLive(0, ptr); i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(fake.isLive(0, ptr), 'the FinalizationRegistry did not free a collected tensor').toBe(false);
    expect(fake.mem('cudaFree').filter((f) => f.ptr === ptr).length).toBe(1);
    expect(fake.isLive(0, owner.ptr)).toBe(true);
    expect(fake.liveCount()).toBe(live);
  });

  // Found by an attack (2026-12-05): a view made by fromPointer of a DeviceTensor's own memory
  // did not keep that tensor alive, so once the tensor was dropped, a collection freed the memory
  // under the view and the view read (or, as an out, wrote) freed device memory.
  test('a view (fromPointer) of a DeviceTensor\'s memory keeps that tensor from being collected while the view lives', async () => {
    v8.setFlagsFromString('--expose_gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const settle = async () => {
      for (let i = 0; i < 6; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    const rng = freshRng();
    const n = 4 * 2 * 3;
    const data = rng.normals(3 * n);
    let ptr = 0n;
    let views: DeviceTensor[] = [];
    let ownerRef: WeakRef<DeviceTensor> | undefined;
    (() => {
      const owner = DeviceTensor.from(data, [3, 4, 2, 3]); // not upload(): keep() would hold it
      ptr = owner.ptr;
      ownerRef = new WeakRef(owner);
      views = [
        DeviceTensor.fromPointer(owner.ptr, [3, 4, 2, 3]), // the whole tensor
        DeviceTensor.fromPointer(owner.ptr + BigInt(4 * n), [1, 4, 2, 3], { layout: 'NHWC' }), // the second sample
        DeviceTensor.fromPointer(owner.ptr + BigInt(8 * n - 2), [1, 1, 1, 3], { dtype: 'float16' }), // straddles samples 2-3
      ];
    })();
    await settle();
    expect(fake.isLive(0, ptr), 'the memory under live views was freed').toBe(true);
    expect(bitsEqual(f32(views[0]!.toHostSync()), data)).toBe(true);
    expect(bitsEqual(f32(views[1]!.toHostSync()), data.subarray(n, 2 * n))).toBe(true);
    // each view holds the tensor: it goes once every view is disposed or collected
    views[0]!.dispose();
    views.splice(0, 1);
    await settle();
    expect(fake.isLive(0, ptr)).toBe(true);
    views[0]!.dispose();
    views = []; // the third view is dropped, not disposed
    await settle();
    expect(ownerRef!.deref(), 'the tensor outlived its views').toBeUndefined();
    expect(fake.isLive(0, ptr), 'the collected tensor was not freed').toBe(false);
  });

  // A second review (2026-12-05): a view naming another device held nothing (and would read the
  // memory after a free); one whose byteLength claimed more than its shape held every allocation
  // the claim covered; and views of views, double disposal and a view over two allocations.
  test('views: another device is refused, byteLength holds nothing past the shape, views of views and double dispose count once', () => {
    const rng = freshRng();
    const shape: Shape4 = [1, 2, 2, 2];
    const n = numel(shape);
    const a = DeviceTensor.from(rng.normals(n), shape as LibShape4);
    const b = DeviceTensor.from(rng.normals(n), shape as LibShape4);
    const [pa, pb] = [a.ptr, b.ptr];
    expect(() => DeviceTensor.fromPointer(pa, shape as LibShape4, { device: 1 })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', argument: 'options.device', message: expect.stringContaining('ptr is in the memory of a DeviceTensor on device 0') }),
    );
    // a claim past the shape: the view holds only what its shape covers (a)
    const claim = DeviceTensor.fromPointer(pa, shape as LibShape4, { byteLength: 2 ** 40 });
    b.dispose();
    expect(fake.isLive(0, pb), 'held by a byteLength claim the view never uses').toBe(false);
    // a view of a view holds the tensor itself; each dispose counts once
    const inner = DeviceTensor.fromPointer(claim.ptr + 4n, [1, 1, 1, 3] as LibShape4);
    a.dispose();
    claim.dispose();
    claim.dispose();
    expect(fake.isLive(0, pa), 'freed under a view of a view').toBe(true);
    inner.dispose();
    inner.dispose();
    expect(fake.isLive(0, pa)).toBe(false);
  });

  // A review (2026-12-05) of the fix above: its first form kept a WeakRef to every owned tensor,
  // and a WeakRef keeps its target alive until the job that made it ends, so no collection inside
  // a synchronous loop (those the device memory now prompts included) could free what the loop
  // dropped. A collection in the same job as the tensors' creation must find them.
  test('tensors dropped in a synchronous job are collectable within it', async () => {
    v8.setFlagsFromString('--expose_gc');
    const gc = vm.runInNewContext('gc') as () => void;
    let collected = 0;
    const watch = new FinalizationRegistry<number>(() => {
      collected++;
    });
    const live = fake.liveCount();
    (() => {
      for (let i = 0; i < 64; i++) watch.register(DeviceTensor.from(new Float32Array(4).fill(i), [1, 1, 2, 2]), i);
      gc(); // the same job: nothing of the loop's may be held past it
    })();
    for (let i = 0; i < 20 && collected < 64; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    // (the last one or two may still be in the engine's own frame at that gc: 63 of 64 here; the
    // WeakRef form got 0)
    expect(collected, 'tensors held through a collection in the job that dropped them').toBeGreaterThanOrEqual(60);
    for (let i = 0; i < 20 && fake.liveCount() > live; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(fake.liveCount()).toBe(live);
  });

  // A review (2026-12-05) of the fix above: a view disposed while an async op on it was in flight
  // let go of the tensor at once, and a collection freed the memory under the op; and a tensor
  // disposed while a view of it lived was freed under the view. Memory now goes when its tensor
  // and every view of it are done (disposed with nothing in flight, or collected).
  test('a tensor disposed while a view of it lives, and a view disposed with an op in flight, keep the memory until both are done', async () => {
    const rng = freshRng();
    const shape: Shape4 = [1, 4, 2, 3];
    const n = numel(shape);
    const data = rng.normals(n);
    const owner = DeviceTensor.from(data, shape as LibShape4);
    const ptr = owner.ptr;
    const view = DeviceTensor.fromPointer(ptr, shape as LibShape4);
    owner.dispose();
    expect(fake.isLive(0, ptr), 'freed under a live view').toBe(true);
    expect(bitsEqual(f32(view.toHostSync()), data)).toBe(true);
    // a view of a disposed tensor's memory still holds it
    const second = DeviceTensor.fromPointer(ptr, shape as LibShape4);
    view.dispose();
    expect(fake.isLive(0, ptr)).toBe(true);
    const p = problem(rng, 'eca', shape, 'NCHW', 0);
    const pending = ecaForwardAsync(second, shape as LibShape4, p.weights as { weight: Float32Array }, p.options);
    const download = second.toHost();
    second.dispose(); // in flight: the memory waits for both
    expect(fake.isLive(0, ptr)).toBe(true);
    const y = await pending;
    expect(bitsEqual(f32(await download), data)).toBe(true);
    expect(fake.isLive(0, ptr), 'not freed once the view and its ops were done').toBe(false);
    y.dispose();
  });

  test('fromPointer wraps memory inside an allocation and never frees it', async () => {
    const rng = freshRng();
    const shape: Shape4 = [1, 4, 2, 3];
    const n = numel(shape);
    const data = rng.normals(3 * n);
    const owner = upload(data, [3, 4, 2, 3]);
    fake.clearLog();
    const view = DeviceTensor.fromPointer(owner.ptr + BigInt(4 * n), shape as LibShape4, { byteLength: 8 * n });
    expect(view.owned).toBe(false);
    expect(fake.log).toEqual([]); // no CUDA call to wrap
    expect(bitsEqual(f32(view.toHostSync()), data.subarray(n, 2 * n))).toBe(true);
    expect(bitsEqual(f32(await view.toHost()), data.subarray(n, 2 * n))).toBe(true);
    // an op reads and writes through views
    const p = problem(rng, 'eca', shape, 'NCHW', 0);
    const outView = DeviceTensor.fromPointer(owner.ptr + BigInt(8 * n), shape as LibShape4);
    expect(ecaForward(view, shape as LibShape4, p.weights as { weight: Float32Array }, { ...p.options, out: outView })).toBe(outView);
    expect(bitsEqual(f32(outView.toHostSync()), cpuRun(p, data.slice(n, 2 * n), undefined).y)).toBe(true);
    // the first third is untouched
    expect(bitsEqual(fake.read(0, owner.ptr, 4 * n), bytesOf(data.subarray(0, n)))).toBe(true);
    fake.clearLog();
    view.dispose();
    outView.dispose();
    expect(fake.mem('cudaFree')).toEqual([]);
    expect(fake.isLive(0, owner.ptr)).toBe(true);
    expect(() => view.ptr).toThrow(/after dispose/);
    expect(() => DeviceTensor.fromPointer(owner.ptr, shape as LibShape4, { byteLength: 4 * n - 1 })).toThrow(RangeError);
    // Past 2^53 - 1 the message gave only the lower bound, which 2^60 meets (an audit, 2026-12-01).
    expect(() => DeviceTensor.fromPointer(owner.ptr, shape as LibShape4, { byteLength: 2 ** 60 })).toThrow(
      expect.objectContaining({ name: 'RangeError', argument: 'options.byteLength', message: expect.stringContaining(`an integer from ${4 * n} (the bytes of`) }),
    );
    expect(() => DeviceTensor.fromPointer(owner.ptr, shape as LibShape4, { byteLength: 2 ** 60 })).toThrow(/to 2\^53 − 1; received/);
    expect(() => DeviceTensor.fromPointer(0n, shape as LibShape4)).toThrow(RangeError);
    // A device the machine does not have, by name now (an attack: accepted, then every use failed
    // with "invalid device ordinal" or the addon's own range check, no argument named).
    for (const device of [2, 70_000]) {
      expect(() => DeviceTensor.fromPointer(owner.ptr, shape as LibShape4, { device })).toThrow(
        expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: 'options.device', message: expect.stringContaining('below the device count (2)') }),
      );
    }
    expect(fake.log).toEqual([]);
  });

  test('an out-of-memory cudaAlloc arrives as an Error with the CUDA code, and nothing leaks', async () => {
    const rng = freshRng();
    const shape: Shape4 = [1, 5, 3, 3];
    const x = rng.normals(numel(shape));
    const oom = { code: 'ERR_SQEX_CUDA', cudaError: 2, cudaErrorName: 'cudaErrorMemoryAllocation' };
    fake.failNextAllocs(1);
    let err: unknown;
    try {
      keep(DeviceTensor.from(x, shape as LibShape4));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject(oom);
    expect((err as Error).message).toMatch(/^out of memory \(while allocating 180 bytes on device 0\)$/);
    expect(fake.mem('cudaUpload')).toEqual([]);
    expect(fake.liveCount()).toBe(liveBefore);
    // an absurd size fails the same way, without injection
    expect(thrown(() => keep(DeviceTensor.empty([1, 1, 2 ** 15, 2 ** 15])))).toMatchObject(oom);
    // the result allocation of an op
    const xT = upload(x, shape);
    const w = randSEWeights(rng, 5, 2, { twoFc: true, b1: true, b2: true });
    for (const mode of MODES) {
      fake.clearLog();
      fake.failNextAllocs(1);
      const e2 = await failure(async () => keep(dt(await call(mode, 'se', xT, shape, w, {}))));
      expect(e2).toMatchObject(oom);
      expect(fake.cudaForwards()).toEqual([]);
      expect(fake.liveCount()).toBe(liveBefore + 1);
    }
  });

  // A sync call fails at launch; an async one at launch (a synchronous throw of the native call)
  // or when the stream is synchronised (a rejection).
  const failCases = [
    { mode: 'sync', phase: 'launch' },
    { mode: 'async', phase: 'launch' },
    { mode: 'async', phase: 'settle' },
  ] as const;
  test('a failing upload in DeviceTensor.from, or of a block weight, frees what was allocated', () => {
    const rng = freshRng();
    const live = fake.liveCount();
    fake.failNextUploads(1);
    const err = thrown(() => keep(DeviceTensor.from(rng.normals(12), [1, 3, 2, 2])));
    expect(err).toMatchObject({ code: 'ERR_SQEX_CUDA', cudaErrorName: 'cudaErrorLaunchFailure', message: 'unspecified launch failure (while uploading to the device)' });
    expect(fake.mem('cudaAlloc').length).toBe(1);
    expect(fake.liveCount()).toBe(live);
    fake.clearLog();
    fake.failNextUploads(1);
    const w = randCBAMWeights(rng, 4, 2, 3, { b1: true, b2: true, spatialBias: true });
    expect(thrown(() => keep(new CBAMBlock(w, { device: 'cuda' })))).toMatchObject({ code: 'ERR_SQEX_CUDA' });
    expect(fake.liveCount()).toBe(live);
  });

  test.each(failCases)(
    'a failing forward ($mode, $phase) disposes the result it allocated; a given out stays untouched and alive',
    async ({ mode, phase }) => {
      const rng = freshRng();
      const shape: Shape4 = [2, 4, 3, 1];
      const p = problem(rng, 'se', shape, 'NCHW', 0);
      const x = rng.normals(numel(shape));
      const xT = upload(x, shape);
      const rT = upload(rng.normals(numel(shape)), shape);
      const live = fake.liveCount();
      fake.clearLog();
      fake.failNextForward('ERR_SQEX_CUDA', { phase, cudaKind: 'illegalAddress' });
      const e1 = await failure(() => call(mode, 'se', xT, shape, p.weights, { ...p.options, residual: rT }));
      expect(e1).toMatchObject({ code: 'ERR_SQEX_CUDA', cudaError: 700 });
      expect(fake.liveCount(), 'the result tensor leaked').toBe(live);
      const allocs = fake.mem('cudaAlloc');
      expect(allocs.length).toBe(1);
      expect(fake.mem('cudaFree').map((f) => f.ptr)).toEqual([allocs[0]?.ptr]);

      const outT = poisonTensor(shape, 'NCHW', 'float32');
      const before = fake.read(0, outT.ptr, outT.byteLength);
      fake.failNextForward('ERR_SQEX_UNSUPPORTED', { phase, message: 'shape needs more shared memory than the device has' });
      const e2 = await failure(() => call(mode, 'se', xT, shape, p.weights, { ...p.options, residual: rT, out: outT }));
      expect(e2).toMatchObject({ code: 'ERR_SQEX_UNSUPPORTED' });
      expect((e2 as Error).message).toMatch(/^seForward(Async)?: the CUDA kernel cannot take this call \(shape needs more shared memory than the device has\)\. /);
      expect(outT.disposed).toBe(false);
      expect(fake.isLive(0, outT.ptr)).toBe(true);
      if (phase === 'launch') expect(bitsEqual(fake.read(0, outT.ptr, outT.byteLength), before), 'out written by a failed call').toBe(true);
      expect(xT.disposed || rT.disposed).toBe(false);
      // and it is still usable
      expect(await call(mode, 'se', xT, shape, p.weights, { ...p.options, out: outT })).toBe(outT);
      expect(bitsEqual(f32(outT.toHostSync()), cpuRun(p, x, undefined).y)).toBe(true);
    },
  );

  test.each(['x', 'residual', 'scaleOut', 'out'] as const)('disposing %s while an async op reads it defers the free until it settles', async (which) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 3, 2, 2];
    const [N, C] = shape;
    const p = problem(rng, 'se', shape, 'NCHW', 0);
    const x = rng.normals(numel(shape), 1, 0.3);
    const r = rng.normals(numel(shape));
    const cpu = cpuRun(p, x, r);
    const tensors = {
      x: keep(DeviceTensor.from(x, shape as LibShape4)),
      residual: keep(DeviceTensor.from(r, shape as LibShape4)),
      scaleOut: keep(DeviceTensor.from(poisoned(N * C), [N, C, 1, 1])),
      out: keep(DeviceTensor.from(poisoned(numel(shape)), shape as LibShape4)),
    };
    const victim = tensors[which];
    const ptr = victim.ptr;
    const pending = seForwardAsync(tensors.x, shape as LibShape4, p.weights as { w1: Float32Array }, {
      ...p.options,
      residual: tensors.residual,
      scaleOut: tensors.scaleOut,
      out: tensors.out,
    });
    victim.dispose();
    expect(victim.disposed).toBe(true);
    expect(() => victim.ptr).toThrow(/after dispose/);
    expect(fake.inFlight).toBe(1);
    expect(fake.isLive(0, ptr), `${which} freed while the op is in flight`).toBe(true);
    const res = await pending;
    expect(res).toBe(tensors.out);
    expect(fake.isLive(0, ptr), `${which} not freed once the op settled`).toBe(false);
    const check = which === 'out' ? null : f32(tensors.out.toHostSync());
    if (check) expect(bitsEqual(check, cpu.y)).toBe(true);
    if (which !== 'scaleOut') expect(bitsEqual(f32(tensors.scaleOut.toHostSync()), cpu.scale as Float32Array)).toBe(true);
  });

  test.each(['toHost', 'toFloat32'] as const)('%s() takes its snapshot when called: an op writing the tensor afterwards does not change it', async (method) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 7, 3, 5];
    const before = rng.normals(numel(shape), 1, 0.3);
    const y = DeviceTensor.from(before, shape);
    const x = DeviceTensor.from(rng.normals(numel(shape), 1, 0.3), shape);
    try {
      const pending = method === 'toHost' ? y.toHost() : y.toFloat32();
      seForward(x, shape, { w1: rng.normals(7 * 3), w2: rng.normals(3 * 7) }, { out: y });
      expect(bitsEqual(f32(await pending), before), seedNote(rng)).toBe(true);
      expect(bitsEqual(f32(y.toHostSync()), before), 'the op did not write y').toBe(false);
    } finally {
      x.dispose();
      y.dispose();
    }
  });

  test('disposing a tensor during toHost defers the free; the download still reads the data', async () => {
    const rng = freshRng();
    const data = rng.normals(30);
    const t = DeviceTensor.from(data, [1, 5, 3, 2]);
    const ptr = t.ptr;
    const pending = t.toHost();
    t.dispose();
    expect(fake.isLive(0, ptr)).toBe(true);
    expect(bitsEqual(await pending, data)).toBe(true);
    expect(fake.isLive(0, ptr)).toBe(false);
    // and twice in flight: freed after the last one
    const t2 = DeviceTensor.from(data, [1, 5, 3, 2]);
    const p2 = t2.ptr;
    const a = t2.toHost();
    const b = t2.toFloat32();
    t2.dispose();
    await a;
    await b;
    expect(fake.isLive(0, p2)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------

describe('validation on the device path: no native call, no allocation, out untouched', () => {
  interface Setup {
    shape: Shape4;
    xT: DeviceTensor;
    w: Record<string, Float32Array>;
    outT: DeviceTensor;
  }
  function setup(rng: Rng): Setup {
    const shape: Shape4 = [2, 4, 3, 2];
    const xT = upload(rng.normals(numel(shape)), shape, { layout: 'NHWC' });
    const outT = poisonTensor(shape, 'NHWC', 'float32');
    const w = asWeights(randSEWeights(rng, 4, 3, { twoFc: true, b1: true, b2: true }));
    return { shape, xT, w, outT };
  }
  type Case = [string, (s: Setup, rng: Rng) => { args: [unknown, Shape4, unknown, Record<string, unknown>]; want: Refusal; op?: OpName }];
  const n = 2 * 4 * 3 * 2;
  const like = (s: Setup, o: { dtype?: DType; layout?: Layout; device?: number; shape?: Shape4 } = {}): DeviceTensor =>
    poisonTensor(o.shape ?? s.shape, o.layout ?? 'NHWC', o.dtype ?? 'float32', o.device ?? 0);
  const CASES: Case[] = [
    ['shape argument other than x.shape', (s) => ({ args: [s.xT, [2, 4, 2, 3], s.w, {}], want: { type: RangeError, message: /shape must be x\.shape \[2, 4, 3, 2\]/ } })],
    ['residual of another dtype', (s) => ({ args: [s.xT, s.shape, s.w, { residual: like(s, { dtype: 'float16' }) }], want: { type: RangeError, message: /options\.residual must be a DeviceTensor like x/ } })],
    ['residual of another layout', (s) => ({ args: [s.xT, s.shape, s.w, { residual: like(s, { layout: 'NCHW' }) }], want: { type: RangeError, message: /options\.residual/ } })],
    ['residual on another device', (s) => ({ args: [s.xT, s.shape, s.w, { residual: like(s, { device: 1 }) }], want: { type: RangeError, message: /options\.residual/ } })],
    ['residual of another shape', (s) => ({ args: [s.xT, s.shape, s.w, { residual: like(s, { shape: [2, 4, 2, 3] }) }], want: { type: RangeError, message: /options\.residual/ } })],
    ['residual a Float32Array', (s) => ({ args: [s.xT, s.shape, s.w, { residual: new Float32Array(n) }], want: { type: TypeError, message: /options\.residual must be a DeviceTensor like x/ } })],
    ['out of another dtype', (s) => ({ args: [s.xT, s.shape, s.w, { out: like(s, { dtype: 'bfloat16' }) }], want: { type: RangeError, message: /options\.out must be a DeviceTensor like x/ } })],
    ['out of another layout', (s) => ({ args: [s.xT, s.shape, s.w, { out: like(s, { layout: 'NCHW' }) }], want: { type: RangeError, message: /options\.out/ } })],
    ['out on another device', (s) => ({ args: [s.xT, s.shape, s.w, { out: like(s, { device: 1 }) }], want: { type: RangeError, message: /options\.out/ } })],
    ['out a Float32Array', (s) => ({ args: [s.xT, s.shape, s.w, { out: new Float32Array(n) }], want: { type: TypeError, message: /options\.out/ } })],
    ['out disposed', (s) => {
      const o = like(s);
      o.dispose();
      return { args: [s.xT, s.shape, s.w, { out: o }], want: { type: RangeError, message: /options\.out must be a DeviceTensor that has not been disposed/ } };
    }],
    ['scaleOut of the wrong size', (s) => ({ args: [s.xT, s.shape, s.w, { scaleOut: upload(poisoned(9), [1, 9, 1, 1]) }], want: { type: RangeError, message: /options\.scaleOut must be a float32 DeviceTensor of N × C = 8 elements/ } })],
    ['scaleOut float16', (s) => ({ args: [s.xT, s.shape, s.w, { scaleOut: poisonTensor([2, 4, 1, 1], 'NCHW', 'float16') }], want: { type: RangeError, message: /options\.scaleOut/ } })],
    ['scaleOut on another device', (s) => ({ args: [s.xT, s.shape, s.w, { scaleOut: upload(poisoned(8), [2, 4, 1, 1], { device: 1 }) }], want: { type: RangeError, message: /options\.scaleOut/ } })],
    ['scaleOut a Float32Array', (s) => ({ args: [s.xT, s.shape, s.w, { scaleOut: new Float32Array(8) }], want: { type: TypeError, message: /options\.scaleOut/ } })],
    ['ECA scaleOut of the wrong size', (s, rng) => ({ op: 'eca', args: [s.xT, s.shape, { weight: randECAWeight(rng, 3) }, { scaleOut: upload(poisoned(7), [7, 1, 1, 1]) }], want: { type: RangeError, message: /options\.scaleOut/ } })],
    ['out partly overlapping x (fromPointer)', (s) => {
      const base = keep(DeviceTensor.empty([1, 1, 1, 2 * n]));
      const x = keep(DeviceTensor.fromPointer(base.ptr, s.shape as LibShape4, { layout: 'NHWC' }));
      const out = keep(DeviceTensor.fromPointer(base.ptr + 4n, s.shape as LibShape4, { layout: 'NHWC' }));
      return { args: [x, s.shape, s.w, { out }], want: { type: RangeError, message: /options\.out must be x itself or memory disjoint from x \(partial overlap with x\)/ } };
    }],
    ['out partly overlapping the residual', (s) => {
      const base = keep(DeviceTensor.empty([1, 1, 1, 2 * n]));
      const residual = keep(DeviceTensor.fromPointer(base.ptr + BigInt(4 * (n - 1)), s.shape as LibShape4, { layout: 'NHWC' }));
      const out = keep(DeviceTensor.fromPointer(base.ptr, s.shape as LibShape4, { layout: 'NHWC' }));
      return { args: [s.xT, s.shape, s.w, { out, residual }], want: { type: RangeError, message: /options\.out must be options\.residual itself or memory disjoint/ } };
    }],
    ['scaleOut inside x', (s) => ({ args: [s.xT, s.shape, s.w, { scaleOut: keep(DeviceTensor.fromPointer(s.xT.ptr + 8n, [2, 4, 1, 1])) }], want: { type: RangeError, message: /options\.scaleOut must be memory disjoint from x/ } })],
    ['scaleOut inside out', (s) => ({ args: [s.xT, s.shape, s.w, { out: s.outT, scaleOut: keep(DeviceTensor.fromPointer(s.outT.ptr, [2, 4, 1, 1])) }], want: { type: RangeError, message: /options\.scaleOut must be memory disjoint from options\.out/ } })],
    ["device 'cpu' with a DeviceTensor x", (s) => ({ args: [s.xT, s.shape, s.w, { device: 'cpu' }], want: { type: RangeError, message: /options\.device must be 'auto' or 'cuda' when x is a DeviceTensor/ } })],
    ["CBAM device 'cpu' with a DeviceTensor x", (s, rng) => ({ op: 'cbam', args: [s.xT, s.shape, randCBAMWeights(rng, 4, 2, 3, { b1: true, b2: true, spatialBias: true }), { device: 'cpu' }], want: { type: RangeError, message: /options\.device/ } })],
    ['layout option other than x.layout', (s) => ({ args: [s.xT, s.shape, s.w, { layout: 'NCHW' }], want: { type: RangeError, message: /options\.layout must be x\.layout 'NHWC'/ } })],
    ['weights of the wrong length for x', (s, rng) => ({ args: [s.xT, s.shape, randSEWeights(rng, 5, 3, { twoFc: true, b1: true, b2: true }), {}], want: { type: RangeError, message: /weights\./ } })],
    ['an unknown option', (s) => ({ args: [s.xT, s.shape, s.w, { outt: s.outT }], want: { type: TypeError, message: /unknown key "outt"/ } })],
  ];
  const cases = CASES.flatMap(([name, make]) => MODES.map((mode) => ({ name, make, mode })));
  test.each(cases)('$name ($mode)', async ({ make, mode }) => {
    const rng = freshRng();
    const s = setup(rng);
    const { args, want, op } = make(s, rng);
    const fn = ((mode === 'sync' ? SYNC : ASYNC) as Record<OpName, AnyFn>)[op ?? 'se'];
    const guard = [s.xT, s.outT, ...Object.values(args[3]).filter((v): v is DeviceTensor => v instanceof DeviceTensor && !v.disposed)];
    await expectRefused(mode, () => fn(...args), { ...want, message: new RegExp(`^${FN_NAME[op ?? 'se'][mode]}: .*${want.message.source}`) }, guard);
  });
});

// ---------------------------------------------------------------------------------------------

describe('DeviceTensor weights for the functions', () => {
  function seDeviceWeights(rng: Rng, C: number, hidden: number, device = 0) {
    const host = randSEWeights(rng, C, hidden, { twoFc: true, b1: true, b2: true });
    const dev = {
      w1: upload(host.w1, [hidden, C, 1, 1], { device }),
      b1: upload(host.b1 as Float32Array, [1, hidden, 1, 1], { device }),
      w2: upload(host.w2 as Float32Array, [C, hidden, 1, 1], { device }),
      b2: upload(host.b2 as Float32Array, [1, 1, 1, C], { device }),
    };
    return { host, dev };
  }
  function expectDeviceWeightSlots(rec: ForwardRecord, slots: Partial<Record<'w1' | 'b1' | 'w2' | 'b2' | 'aux', DeviceTensor>>): void {
    expect(rec.hostWeights, 'hostWeights must be null with DeviceTensor weights').toBe(false);
    for (const s of ['w1', 'b1', 'w2', 'b2', 'aux'] as const) {
      const t = slots[s];
      expect(devSlot(rec, s), `DEV ${s}`).toEqual(t === undefined ? [0n, 0n] : [t.ptr, BigInt(t.byteLength)]);
    }
  }

  test.each(MODES)('SE two-FC with [hidden, C, 1, 1]-style DeviceTensor weights (%s): resident, same numbers', async (mode) => {
    const rng = freshRng();
    for (const [shape, dtype] of [[[2, 6, 3, 3], 'float32'], [[1, 1, 1, 1], 'float32'], [[3, 5, 1, 7], 'float16']] as [Shape4, DType][]) {
      const [N, C] = shape;
      const hidden = Math.max(1, C - 2);
      const { host, dev } = seDeviceWeights(rng, C, hidden);
      const x = quantize(rng.normals(numel(shape), 1, 0.3), dtype);
      const r = quantize(rng.normals(numel(shape)), dtype);
      const xT = upload(x.host, shape, { dtype, layout: 'NHWC' });
      const rT = upload(r.host, shape, { dtype, layout: 'NHWC' });
      const sT = upload(poisoned(N * C), [N, C, 1, 1]);
      const opts = { activation: 'silu', gate: 'sigmoid', outputActivation: 'relu', residual: rT, scaleOut: sT, stream: 11n };
      fake.clearLog();
      const y = keep(dt(await call(mode, 'se', xT, shape, dev, opts)));
      const rec = onlyCudaForward();
      expectDeviceWeightSlots(rec, dev);
      expect(rec.stream).toBe(11n);
      expect(fake.mem('cudaUpload'), 'no upload per call').toEqual([]);
      expect(fake.mem('cudaAlloc').length).toBe(1);
      expect(cfgOf(rec)).toMatchObject({ op: 0, hidden, twoFc: 1, c: C });
      // the same numbers as host weights
      const yh = keep(dt(await call(mode, 'se', xT, shape, host, { ...opts, scaleOut: undefined })));
      expect(bitsEqual(y.toHostSync(), yh.toHostSync()), seedNote(rng)).toBe(true);
      const cpuP: CpuProblem = { op: 'se', shape, layout: 'NHWC', weights: asWeights(host), options: { activation: 'silu', gate: 'sigmoid', outputActivation: 'relu' }, hasScale: true };
      const cpu = cpuRun(cpuP, Float32Array.from(x.values), Float32Array.from(r.values));
      const want = dtype === 'float32' ? cpu.y : halfBits(cpu.y, dtype as HalfDtype);
      expect(bitsEqual(y.toHostSync(), want), seedNote(rng)).toBe(true);
      expect(bitsEqual(f32(sT.toHostSync()), cpu.scale as Float32Array)).toBe(true);
      // the weights are only read
      expect(bitsEqual(f32(dev.w1.toHostSync()), host.w1)).toBe(true);
    }
  });

  test.each(MODES)('SE single-FC, SE without biases, ECA and CBAM with DeviceTensor weights (%s)', async (mode) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 5, 3, 2];
    const C = shape[1];
    const x = rng.normals(numel(shape), 1, 0.3);
    const xT = upload(x, shape);
    const check = async (op: OpName, hostW: Record<string, Float32Array>, devW: Record<string, DeviceTensor | Float32Array>, slots: Partial<Record<'w1' | 'b1' | 'w2' | 'b2' | 'aux', DeviceTensor>>, options: Record<string, unknown>) => {
      fake.clearLog();
      const y = keep(dt(await call(mode, op, xT, shape, devW, options)));
      const rec = onlyCudaForward();
      expectDeviceWeightSlots(rec, slots);
      expect(fake.mem('cudaUpload')).toEqual([]);
      const p: CpuProblem = { op, shape, layout: 'NCHW', weights: hostW, options, hasScale: false };
      expect(bitsEqual(f32(y.toHostSync()), cpuRun(p, x, undefined).y), `${op}: ${seedNote(rng)}`).toBe(true);
      return rec;
    };
    // single FC: w1 [C, C, 1, 1], b1
    const single = randSEWeights(rng, C, C, { twoFc: false, b1: true, b2: false });
    const sw1 = upload(single.w1, [C, C, 1, 1]);
    const sb1 = upload(single.b1 as Float32Array, [C, 1, 1, 1]);
    const r1 = await check('se', asWeights(single), { w1: sw1, b1: sb1 }, { w1: sw1, b1: sb1 }, { gate: 'hardsigmoid' });
    expect(cfgOf(r1)).toMatchObject({ twoFc: 0, hidden: C });
    // two FC without biases
    const nob = randSEWeights(rng, C, 2, { twoFc: true, b1: false, b2: false });
    const nw1 = upload(nob.w1, [2, C, 1, 1]);
    const nw2 = upload(nob.w2 as Float32Array, [1, 1, C, 2]);
    await check('se', asWeights(nob), { w1: nw1, w2: nw2 }, { w1: nw1, w2: nw2 }, { activation: 'relu' });
    // ECA: weight [1, 1, k, 1]
    const weight = randECAWeight(rng, 5);
    const ew = upload(weight, [1, 1, 5, 1]);
    const r3 = await check('eca', { weight }, { weight: ew }, { aux: ew }, { gate: 'sigmoid' });
    expect(cfgOf(r3).ecaK).toBe(5);
    // CBAM: spatialWeight [1, 2, k, k]; spatialBias stays a host scalar
    const cw = randCBAMWeights(rng, C, 3, 3, { b1: true, b2: true, spatialBias: true });
    const cdev = {
      w1: upload(cw.w1, [3, C, 1, 1]),
      b1: upload(cw.b1 as Float32Array, [3, 1, 1, 1]),
      w2: upload(cw.w2, [C, 3, 1, 1]),
      b2: upload(cw.b2 as Float32Array, [C, 1, 1, 1]),
      aux: upload(cw.spatialWeight, [1, 2, 3, 3]),
    };
    const r4 = await check(
      'cbam',
      asWeights(cw),
      { w1: cdev.w1, b1: cdev.b1, w2: cdev.w2, b2: cdev.b2, spatialWeight: cdev.aux, spatialBias: cw.spatialBias as Float32Array },
      cdev,
      { activation: 'silu' },
    );
    expect(cfgOf(r4)).toMatchObject({ spatialK: 3, spatialBias: Math.fround((cw.spatialBias as Float32Array)[0]!) });
  });

  test('DeviceTensor weights on the second device with x there', () => {
    const rng = freshRng();
    const shape: Shape4 = [1, 4, 2, 2];
    const { host, dev } = seDeviceWeights(rng, 4, 2, 1);
    const x = rng.normals(numel(shape));
    const xT = upload(x, shape, { device: 1 });
    fake.clearLog();
    const y = keep(seForward(xT, shape as LibShape4, dev));
    expect(y.device).toBe(1);
    const rec = onlyCudaForward();
    expect(cfgOf(rec).device).toBe(1);
    expectDeviceWeightSlots(rec, dev);
    const p: CpuProblem = { op: 'se', shape, layout: 'NCHW', weights: asWeights(host), options: {}, hasScale: false };
    expect(bitsEqual(f32(y.toHostSync()), cpuRun(p, x, undefined).y)).toBe(true);
  });

  type WCase = [string, (ctx: { rng: Rng; shape: Shape4; xT: DeviceTensor; x: Float32Array; host: Record<string, Float32Array>; dev: Record<string, DeviceTensor> }) => { x?: unknown; weights: unknown; options?: Record<string, unknown>; want: Refusal; op?: OpName }];
  const WCASES: WCase[] = [
    ['a mix: b1 a Float32Array among DeviceTensors', (c) => ({ weights: { ...c.dev, b1: c.host.b1 }, want: { type: TypeError, message: /weights\.b1/ } })],
    ['a mix: w2 a DeviceTensor among Float32Arrays', (c) => ({ weights: { ...c.host, w2: c.dev.w2 }, want: { type: TypeError, message: /weights\.w2/ } })],
    ['DeviceTensor weights with a Float32Array x', (c) => ({ x: c.x, weights: c.dev, options: { device: 'cuda' }, want: { type: TypeError, message: /weights\.w1/ } })],
    ['DeviceTensor weights with a Float32Array x on the CPU', (c) => ({ x: c.x, weights: c.dev, options: { device: 'cpu' }, want: { type: TypeError, message: /weights\.w1/ } })],
    ['ECA DeviceTensor weight with a Float32Array x', (c) => ({ op: 'eca', x: c.x, weights: { weight: upload(randECAWeight(c.rng, 3), [3, 1, 1, 1]) }, want: { type: TypeError, message: /weights\.weight/ } })],
    ['w2 float16', (c) => ({ weights: { ...c.dev, w2: upload(c.host.w2!, [c.host.w2!.length, 1, 1, 1], { dtype: 'float16' }) }, want: { type: RangeError, message: /weights\.w2/ } })],
    ['b2 on another device', (c) => ({ weights: { ...c.dev, b2: upload(c.host.b2!, [1, c.shape[1], 1, 1], { device: 1 }) }, want: { type: RangeError, message: /weights\.b2/ } })],
    ['w1 disposed', (c) => {
      const w1 = upload(c.host.w1!, [c.host.w1!.length, 1, 1, 1]);
      w1.dispose();
      return { weights: { ...c.dev, w1 }, want: { type: RangeError, message: /weights\.w1/ } };
    }],
    ['b1 with one element too many', (c) => ({ weights: { ...c.dev, b1: upload(c.rng.normals(4), [2, 2, 1, 1]) }, want: { type: RangeError, message: /weights\.b1.*\b3\b/ } })],
    ['w2 with one element too few', (c) => ({ weights: { ...c.dev, w2: upload(c.rng.normals(14), [14, 1, 1, 1]) }, want: { type: RangeError, message: /weights\.w2.*\b15\b/ } })],
    ['ECA weight of even length', (c) => ({ op: 'eca', weights: { weight: upload(c.rng.normals(4), [1, 1, 4, 1]) }, want: { type: RangeError, message: /weights\.weight/ } })],
    ['CBAM spatialWeight of the wrong size', (c) => {
      const cw = randCBAMWeights(c.rng, 5, 3, 3, { b1: true, b2: true, spatialBias: false });
      return {
        op: 'cbam',
        weights: { w1: upload(cw.w1, [3, 5, 1, 1]), w2: upload(cw.w2, [5, 3, 1, 1]), spatialWeight: upload(c.rng.normals(19), [1, 1, 19, 1]) },
        want: { type: RangeError, message: /weights\.spatialWeight/ },
      };
    }],
    ['out overlapping a DeviceTensor weight', (c) => {
      const n = numel(c.shape);
      const base = keep(DeviceTensor.empty([1, 1, 1, n + 64]));
      const w2 = keep(DeviceTensor.fromPointer(base.ptr + 16n, [15, 1, 1, 1]));
      const out = keep(DeviceTensor.fromPointer(base.ptr, c.shape as LibShape4));
      return { weights: { ...c.dev, w2 }, options: { out }, want: { type: RangeError, message: /options\.out/ } };
    }],
  ];
  const wcases = WCASES.flatMap(([name, make]) => MODES.map((mode) => ({ name, make, mode })));
  test.each(wcases)('refused: $name ($mode)', async ({ make, mode }) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 5, 2, 2];
    const { host, dev } = seDeviceWeights(rng, 5, 3);
    const x = rng.normals(numel(shape));
    const xT = upload(x, shape);
    const c = make({ rng, shape, xT, x, host: asWeights(host), dev });
    const op = c.op ?? 'se';
    const fn = ((mode === 'sync' ? SYNC : ASYNC) as Record<OpName, AnyFn>)[op];
    const opts = c.options ?? {};
    const guard = Object.values(opts).filter((v): v is DeviceTensor => v instanceof DeviceTensor);
    await expectRefused(mode, () => fn(c.x ?? xT, shape, c.weights, opts), { ...c.want, message: new RegExp(`^${FN_NAME[op][mode]}: .*${c.want.message.source}`) }, guard);
  });

  test('disposing a DeviceTensor weight while an async op reads it defers the free', async () => {
    const rng = freshRng();
    const shape: Shape4 = [2, 4, 2, 1];
    const { host, dev } = seDeviceWeights(rng, 4, 3);
    const x = rng.normals(numel(shape));
    const xT = upload(x, shape);
    const ptrs = [dev.w1.ptr, dev.w2.ptr];
    const pending = seForwardAsync(xT, shape as LibShape4, dev);
    dev.w1.dispose();
    dev.w2.dispose();
    for (const p of ptrs) expect(fake.isLive(0, p), 'a weight freed while the op is in flight').toBe(true);
    const y = keep(await pending);
    for (const p of ptrs) expect(fake.isLive(0, p)).toBe(false);
    const p: CpuProblem = { op: 'se', shape, layout: 'NCHW', weights: asWeights(host), options: {}, hasScale: false };
    expect(bitsEqual(f32(y.toHostSync()), cpuRun(p, x, undefined).y)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

// Issue 10: on the H200 the CUDA host path (stage in, kernel, stage out) lost to the CPU at every
// size measured (bench/crossover.mjs), so device 'auto' runs host arrays on the CPU even where CUDA
// is available; DeviceTensor x, device 'cuda' and an explicit deviceIndex still reach CUDA.
describe("device 'auto' over host arrays runs on the CPU (the measured crossover)", () => {
  const cases = (['se', 'eca', 'cbam'] as const).flatMap((op) => MODES.map((mode) => ({ op, mode })));
  test.each(cases)('$op $mode: default options and device \'auto\' run on the CPU, bitwise as device \'cpu\'; \'cuda\' and a deviceIndex reach CUDA', async ({ op, mode }) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 6, 3, 2];
    const p = problem(rng, op, shape, 'NCHW', 0);
    const x = rng.normals(numel(shape), 1, 0.3);
    const r = p.residual ? rng.normals(numel(shape)) : undefined;
    const cpu = cpuRun(p, x, r);
    const base: Record<string, unknown> = { ...p.options };
    if (r) base.residual = r;
    for (const extra of [{}, { device: 'auto' }] as const) {
      fake.clearLog();
      const y = f32(await call(mode, op, x, shape, p.weights, { ...base, ...extra }));
      expect(bitsEqual(y, cpu.y), `${JSON.stringify(extra)} ${seedNote(rng)}`).toBe(true);
      expect(fake.forwards().map((f) => f.fn), JSON.stringify(extra)).toEqual([mode === 'sync' ? 'cpuForward' : 'cpuForwardAsync']);
    }
    for (const extra of [{ device: 'cuda' }, { device: 'auto', deviceIndex: 1 }] as const) {
      fake.clearLog();
      const y = f32(await call(mode, op, x, shape, p.weights, { ...base, ...extra }));
      expect(bitsEqual(y, cpu.y), `${JSON.stringify(extra)} ${seedNote(rng)}`).toBe(true);
      expect(fake.forwards().map((f) => f.fn), JSON.stringify(extra)).toEqual([mode === 'sync' ? 'cudaForwardHost' : 'cudaForwardHostAsync']);
    }
  });

  test.each(MODES)("a block built with device 'auto' (%s): weights on the GPU, a host x on the CPU, a DeviceTensor x on CUDA", async (mode) => {
    const rng = freshRng();
    const C = 9;
    const shape: Shape4 = [2, C, 2, 3];
    const w = randSEWeights(rng, C, 3, { twoFc: true, b1: true, b2: true });
    const block = keep(new SEBlock(w, { device: 'auto' }));
    expect(block.backend).toBe('cuda');
    const x = rng.normals(numel(shape), 1, 0.3);
    const expected = seForward(Float32Array.from(x), shape as LibShape4, w, { device: 'cpu' });
    fake.clearLog();
    const y = f32(await (mode === 'sync' ? block.forward(x, shape) : block.forwardAsync(x, shape)));
    expect(bitsEqual(y, expected), seedNote(rng)).toBe(true);
    expect(fake.forwards().map((f) => f.fn)).toEqual([mode === 'sync' ? 'cpuForward' : 'cpuForwardAsync']);
    const xT = keep(upload(x, shape));
    fake.clearLog();
    const yT = await (mode === 'sync' ? block.forward(xT) : block.forwardAsync(xT));
    expect(fake.forwards().map((f) => f.fn)).toEqual([mode === 'sync' ? 'cudaForwardDevice' : 'cudaForwardDeviceAsync']);
    (yT as DeviceTensor).dispose();
    // With an index, 'auto' names a GPU: a host x goes there.
    const onIndex = keep(new SEBlock(w, { device: 'auto', deviceIndex: 0 }));
    fake.clearLog();
    f32(await (mode === 'sync' ? onIndex.forward(x, shape) : onIndex.forwardAsync(x, shape)));
    expect(fake.forwards().map((f) => f.fn)).toEqual([mode === 'sync' ? 'cudaForwardHost' : 'cudaForwardHostAsync']);
  });

  // Found by a review (2026-11-30): a block built with plain 'auto' refused a DeviceTensor x
  // whenever the call took a shape, out, residual or scaleOut (the README's GPU example).
  test.each(MODES)("a block built with device 'auto' (%s): DeviceTensor x with a shape, out, residual, scaleOut runs on CUDA", async (mode) => {
    const rng = freshRng();
    const C = 6;
    const shape: Shape4 = [2, C, 2, 3];
    const w = randSEWeights(rng, C, 3, { twoFc: true, b1: true, b2: true });
    const block = keep(new SEBlock(w, { device: 'auto', outputActivation: 'relu' }));
    const x = rng.normals(numel(shape), 1, 0.3);
    const r = rng.normals(numel(shape), 1, 0.3);
    const cpuScale = poisoned(shape[0] * C);
    const expected = seForward(Float32Array.from(x), shape as LibShape4, w, { device: 'cpu', residual: r, outputActivation: 'relu', scaleOut: cpuScale });
    const xT = keep(upload(x, shape));
    const run = (...args: unknown[]): unknown => {
      const f = (mode === 'sync' ? block.forward : block.forwardAsync) as (...a: unknown[]) => unknown;
      return f.apply(block, args);
    };
    const forms: [string, () => unknown][] = [
      ['shape', () => run(xT, shape)],
      ['out', () => run(xT, { out: keep(upload(poisoned(numel(shape)), shape)) })],
      ['residual', () => run(xT, { residual: keep(upload(r, shape)) })],
      ['scaleOut', () => run(xT, shape, { scaleOut: keep(upload(poisoned(shape[0] * C), [shape[0], C, 1, 1])) })],
      ['README: out and a stream', () => run(xT, { out: keep(upload(poisoned(numel(shape)), shape)), stream: 0n })],
    ];
    for (const [name, call] of forms) {
      fake.clearLog();
      const y = (await call()) as DeviceTensor;
      expect(fake.forwards().map((f) => f.fn), name).toEqual([mode === 'sync' ? 'cudaForwardDevice' : 'cudaForwardDeviceAsync']);
      if (name === 'residual') {
        expect(bitsEqual(f32(await y.toHost()), expected), `${name} ${seedNote(rng)}`).toBe(true);
      }
      if (y !== xT) keep(y);
    }
  });

  test.each(MODES)("device 'auto' with a stream (%s): the call names a CUDA stream, so host arrays go to CUDA on it", async (mode) => {
    const rng = freshRng();
    const C = 5;
    const shape: Shape4 = [1, C, 3, 2];
    const w = randSEWeights(rng, C, 2, { twoFc: true, b1: true, b2: true });
    const x = rng.normals(numel(shape), 1, 0.3);
    fake.clearLog();
    await (mode === 'sync' ? seForward(x, shape as LibShape4, w, { stream: 7n }) : seForwardAsync(x, shape as LibShape4, w, { stream: 7n }));
    expect(fake.forwards().map((f) => [f.fn, f.stream])).toEqual([[mode === 'sync' ? 'cudaForwardHost' : 'cudaForwardHostAsync', 7n]]);
    const block = keep(new SEBlock(w, { device: 'auto' }));
    fake.clearLog();
    await (mode === 'sync' ? block.forward(x, shape, { stream: 7n }) : block.forwardAsync(x, shape, { stream: 7n }));
    expect(fake.forwards().map((f) => [f.fn, f.stream])).toEqual([[mode === 'sync' ? 'cudaForwardHost' : 'cudaForwardHostAsync', 7n]]);
  });

  // Found by an attack (2026-11-30): DeviceTensor.prototype's `disposed` getter, replaced by the
  // caller, ran in the middle of a check; one that disposed the block (or a weight) made a call
  // run on freed weights. The library now reads liveness from the private field.
  test('a replaced DeviceTensor.prototype.disposed getter is never called by a forward; the calls run on live weights', async () => {
    const rng = freshRng();
    const C = 6;
    const shape: Shape4 = [2, C, 2, 2];
    const w = randCBAMWeights(rng, C, 2, 3, { b1: true, b2: true, spatialBias: true });
    const sw = randSEWeights(rng, C, 3, { twoFc: true, b1: true, b2: true });
    const blocks = [keep(new CBAMBlock(w, { channels: C })), keep(new CBAMBlock(w, { channels: C, deviceIndex: 0 }))];
    const xT = keep(upload(rng.normals(numel(shape), 1, 0.3), shape));
    const wT = { w1: keep(DeviceTensor.from(sw.w1!, [3, C, 1, 1])), w2: keep(DeviceTensor.from(sw.w2!, [C, 3, 1, 1])) };
    const desc = Object.getOwnPropertyDescriptor(DeviceTensor.prototype, 'disposed')!;
    let calls = 0;
    Object.defineProperty(DeviceTensor.prototype, 'disposed', {
      configurable: true,
      get() {
        calls++;
        for (const b of blocks) b.dispose();
        wT.w1.dispose();
        return desc.get!.call(this);
      },
    });
    try {
      for (const b of blocks) {
        keep(b.forward(xT) as DeviceTensor);
        keep((await b.forwardAsync(xT, { out: keep(upload(poisoned(numel(shape)), shape)) })) as DeviceTensor);
      }
      keep(seForward(xT, shape as LibShape4, wT) as unknown as DeviceTensor);
    } finally {
      Object.defineProperty(DeviceTensor.prototype, 'disposed', desc);
    }
    expect(calls, 'the replaced getter ran inside a call').toBe(0);
    expect(blocks.every((b) => !b.disposed)).toBe(true);
  });

  test("a lazy upload that fails at any weight frees the weights it had uploaded", () => {
    const rng = freshRng();
    const C = 5;
    const shape: Shape4 = [1, C, 2, 2];
    const w = randCBAMWeights(rng, C, 2, 3, { b1: true, b2: true, spatialBias: true }); // 5 weights
    const xT = keep(upload(rng.normals(numel(shape), 1, 0.3), shape));
    for (let k = 0; k < 5; k++) {
      const block = keep(new CBAMBlock(w, { channels: C }));
      const live = fake.liveCount();
      fake.failNextAllocs(1, k);
      expect(thrown(() => block.forward(xT)), `allocation ${k}`).toMatchObject({ code: 'ERR_SQEX_CUDA' });
      fake.clearFaults();
      expect(fake.liveCount(), `weights left allocated after a failure at weight ${k}`).toBe(live);
      expect(block.disposed).toBe(false);
      keep(block.forward(xT) as DeviceTensor);
      block.dispose();
    }
  });

  test("a block built with device 'auto' puts its weights on the GPU at the first DeviceTensor call, not before; a failed upload leaves it usable with host arrays", async () => {
    const rng = freshRng();
    const C = 7;
    const shape: Shape4 = [1, C, 2, 2];
    const w = randCBAMWeights(rng, C, 2, 3, { b1: true, b2: true, spatialBias: true });
    const x = rng.normals(numel(shape), 1, 0.3);
    const expected = cbamForward(Float32Array.from(x), shape as LibShape4, w, { device: 'cpu' });
    const live = fake.liveCount();
    fake.clearLog();
    const block = keep(new CBAMBlock(w, { device: 'auto', channels: C }));
    expect(block.backend).toBe('cuda');
    expect(bitsEqual(f32(block.forward(x, shape)), expected)).toBe(true);
    expect(bitsEqual(f32(await block.forwardAsync(x, shape)), expected)).toBe(true);
    expect(fake.mem('cudaAlloc').length, 'host calls allocated device memory').toBe(0);
    expect(fake.liveCount()).toBe(live);
    const xT = keep(upload(x, shape));
    fake.clearLog();
    fake.failNextUploads(1);
    expect(thrown(() => block.forward(xT))).toMatchObject({ code: 'ERR_SQEX_CUDA' });
    expect(fake.liveCount(), 'a failed upload left weights allocated').toBe(live + 1);
    expect(block.disposed).toBe(false);
    expect(bitsEqual(f32(block.forward(x, shape)), expected), 'host calls after a failed upload').toBe(true);
    const y = keep(block.forward(xT) as DeviceTensor);
    expect(bitsEqual(f32(await y.toHost()), expected)).toBe(true);
    const uploads = fake.mem('cudaAlloc').length;
    keep(block.forward(xT) as DeviceTensor);
    expect(fake.mem('cudaAlloc').length - uploads, 'weights uploaded again').toBe(1); // the result only
    block.dispose();
  });
});

// Host arrays reach CUDA under device 'auto' only with a deviceIndex (plain 'auto' runs them on
// the CPU: hostArraysUseCuda); the fallback below is for those calls.
describe("CPU fallback under device 'auto' with a deviceIndex, for host arrays", () => {
  const AUTO = { device: 'auto', deviceIndex: 0 } as const;
  let counter = 0;
  // Letters only: the warning's key leaves a reason's digits out (fallback.ts reasonKind), so a
  // token told apart by digits alone would not be a new reason.
  const letters = (n: number): string => {
    let t = '';
    do {
      t = String.fromCharCode(97 + (n % 26)) + t;
      n = Math.floor(n / 26);
    } while (n > 0);
    return t;
  };
  const token = (): string => `reason-${letters(counter++)}`;
  const newWarnings = async (since: number): Promise<Error[]> => {
    await settle();
    await settle();
    return fallbackWarnings.slice(since);
  };

  const cases = (['se', 'eca', 'cbam'] as const).flatMap((op) => MODES.map((mode) => ({ op, mode })));
  test.each(cases)("$op $mode: ERR_SQEX_UNSUPPORTED from CUDA runs on the CPU, warning once per reason", async ({ op, mode }) => {
    const rng = freshRng();
    // shapes used by no other test, so no earlier call of this configuration exists
    const base = 11 + 2 * ['se', 'eca', 'cbam'].indexOf(op) + (mode === 'sync' ? 0 : 1);
    const shapeA: Shape4 = [1, base, 3, 1];
    const shapeB: Shape4 = [2, base, 1, 3];
    const pA = problem(rng, op, shapeA, 'NCHW', 0);
    const x = rng.normals(numel(shapeA), 1, 0.3);
    const r = pA.residual ? rng.normals(numel(shapeA)) : undefined;
    const cpu = cpuRun(pA, x, r);
    const reason = `shape too large for the CUDA kernel (${token()})`;
    const w0 = fallbackWarnings.length;
    fake.failNextForward('ERR_SQEX_UNSUPPORTED', { message: reason, target: 'host', phase: 'settle' });
    const out = poisoned(x.length);
    const opts: Record<string, unknown> = { ...pA.options, ...AUTO, out };
    if (r) opts.residual = r;
    fake.clearLog();
    const y = await call(mode, op, x, shapeA, pA.weights, opts);
    expect(y).toBe(out);
    expect(bitsEqual(out, cpu.y), seedNote(rng)).toBe(true);
    const fns = fake.forwards().map((f) => f.fn);
    expect(fns).toEqual(mode === 'sync' ? ['cudaForwardHost', 'cpuForward'] : ['cudaForwardHostAsync', 'cpuForwardAsync']);
    expect(fake.forwards()[0]?.error).toMatchObject({ code: 'ERR_SQEX_UNSUPPORTED' });
    const warned = await newWarnings(w0);
    expect(warned.length, 'one SQEX_CPU_FALLBACK warning').toBe(1);
    expect(warned[0]?.message).toContain(FN_NAME[op][mode]);
    expect(warned[0]?.message).toContain(reason);

    // the same configuration again: straight to the CPU (x is not staged to the GPU again), no
    // second warning
    fake.failNextForward('ERR_SQEX_UNSUPPORTED', { message: reason, target: 'host', phase: 'settle' });
    fake.clearLog();
    const y2 = f32(await call(mode, op, x, shapeA, pA.weights, { ...opts, out: undefined }));
    expect(bitsEqual(y2, cpu.y)).toBe(true);
    expect(fake.cudaForwards().length, 'a refused configuration was tried on CUDA again').toBe(0);
    expect((await newWarnings(w0)).length).toBe(1);
    fake.clearFaults();

    // the same reason from a call that does reach CUDA (a configuration not seen before): the
    // CPU runs it, still without a second warning
    const shapeC: Shape4 = [3, base, 1, 1];
    const pC = { ...pA, shape: shapeC };
    const xC = rng.normals(numel(shapeC), 1, 0.3);
    const rC = pA.residual ? rng.normals(numel(shapeC)) : undefined;
    const optsC: Record<string, unknown> = { ...pA.options, ...AUTO };
    if (rC) optsC.residual = rC;
    fake.clearLog();
    fake.failNextForward('ERR_SQEX_UNSUPPORTED', { message: reason, target: 'host' });
    const yC = f32(await call(mode, op, xC, shapeC, pA.weights, optsC));
    expect(bitsEqual(yC, cpuRun(pC, xC, rC).y)).toBe(true);
    expect(fake.cudaForwards().length, 'the new configuration was not tried on CUDA').toBe(1);
    expect(fake.cudaForwards()[0]?.error).toMatchObject({ code: 'ERR_SQEX_UNSUPPORTED', message: reason });
    expect((await newWarnings(w0)).length, 'a second warning for the same reason').toBe(1);

    // another reason (another shape): one more warning
    const pB = { ...pA, shape: shapeB };
    const xB = rng.normals(numel(shapeB), 1, 0.3);
    const rB = pA.residual ? rng.normals(numel(shapeB)) : undefined;
    const reasonB = `shape needs more shared memory than the device has (${token()})`;
    fake.failNextForward('ERR_SQEX_UNSUPPORTED', { message: reasonB, target: 'host' });
    const optsB: Record<string, unknown> = { ...pA.options, ...AUTO };
    if (rB) optsB.residual = rB;
    const yB = f32(await call(mode, op, xB, shapeB, pA.weights, optsB));
    expect(bitsEqual(yB, cpuRun(pB, xB, rB).y)).toBe(true);
    const all = await newWarnings(w0);
    expect(all.length).toBe(2);
    expect(all[1]?.message).toContain(reasonB);
    expect(all[1]?.message).toContain(FN_NAME[op][mode]);
  });

  // From an attack (2026-12-05): without a fallback, the kernel's refusal was its reason alone
  // ("shape too large for the CUDA kernel: ..."), naming neither the call nor a fix.
  test.each(cases)("$op $mode: ERR_SQEX_UNSUPPORTED without a fallback names the call, keeps the kernel's reason and gives the fix", async ({ op, mode }) => {
    const rng = freshRng();
    const shape: Shape4 = [1, 6, 2, 3];
    const p = problem(rng, op, shape, 'NCHW', 0);
    const x = rng.normals(numel(shape), 1, 0.3);
    const opts: Record<string, unknown> = { ...p.options };
    if (p.residual) opts.residual = rng.normals(numel(shape));
    const fn = FN_NAME[op][mode];
    // a sync call fails at its launch; an async one at its launch or when it settles
    for (const phase of mode === 'sync' ? (['launch'] as const) : (['launch', 'settle'] as const)) {
      // host arrays with device 'cuda'
      const reason = `shape too large for the CUDA kernel (${token()})`;
      fake.failNextForward('ERR_SQEX_UNSUPPORTED', { message: reason, target: 'host', phase });
      const out = poisoned(x.length);
      const e = (await failure(() => call(mode, op, x, shape, p.weights, { ...opts, device: 'cuda', out }))) as Error & { code?: string };
      expect(e).toBeInstanceOf(Error);
      expect(e.code).toBe('ERR_SQEX_UNSUPPORTED');
      expect(e.message).toBe(
        `${fn}: the CUDA kernel cannot take this call (${reason}). Pass device: 'cpu' to run it on the CPU, which takes any shape, ` +
          "or device: 'auto' with your deviceIndex or stream to run only such calls there.",
      );
      expect(bitsEqual(out, poisoned(x.length)), 'a refused call wrote into out').toBe(true);
      // a DeviceTensor x (the residual, when the case has one, on the GPU too)
      const xT = upload(x, shape);
      const dOpts: Record<string, unknown> = { ...p.options };
      if (opts.residual) dOpts.residual = upload(opts.residual as Float32Array, shape);
      const reasonD = `shape needs more shared memory than the device has (${token()})`;
      fake.failNextForward('ERR_SQEX_UNSUPPORTED', { message: reasonD, target: 'device', phase });
      const ed = (await failure(() => call(mode, op, xT, shape, p.weights, dOpts))) as Error & { code?: string };
      expect(ed.code).toBe('ERR_SQEX_UNSUPPORTED');
      expect(ed.message).toBe(
        `${fn}: the CUDA kernel cannot take this call (${reasonD}). The CPU takes any shape: copy x to the host (await x.toFloat32()) ` +
          "and pass that Float32Array with device: 'cpu'.",
      );
    }
    // a block on CUDA: resident weights and a DeviceTensor x, then host arrays
    const Block = { se: SEBlock, eca: ECABlock, cbam: CBAMBlock }[op] as unknown as new (w: unknown, o: unknown) => SEBlock;
    const block = new Block(p.weights, { ...p.options, device: 'cuda', ...(op === 'eca' ? {} : { channels: shape[1] }) });
    const bfn = `${{ se: 'SEBlock', eca: 'ECABlock', cbam: 'CBAMBlock' }[op]}.${mode === 'sync' ? 'forward' : 'forwardAsync'}`;
    const bcall = (...a: unknown[]): unknown => ((mode === 'sync' ? block.forward : block.forwardAsync) as (...b: unknown[]) => unknown).apply(block, a);
    const reasonB = `shape too large for the CUDA kernel (${token()})`;
    fake.failNextForward('ERR_SQEX_UNSUPPORTED', { message: reasonB, target: 'device' });
    const eb = (await failure(() => bcall(upload(x, shape)))) as Error & { code?: string };
    expect(eb.code).toBe('ERR_SQEX_UNSUPPORTED');
    expect(eb.message).toBe(
      `${bfn}: the CUDA kernel cannot take this call (${reasonB}). The CPU takes any shape: copy x to the host (await x.toFloat32()) ` +
        "and pass that Float32Array to a block made with { device: 'cpu' }.",
    );
    fake.failNextForward('ERR_SQEX_UNSUPPORTED', { message: reasonB, target: 'host' });
    const eh = (await failure(() => bcall(x, shape, opts.residual === undefined ? {} : { residual: opts.residual }))) as Error & { code?: string };
    expect(eh.code).toBe('ERR_SQEX_UNSUPPORTED');
    expect(eh.message).toBe(
      `${bfn}: the CUDA kernel cannot take this call (${reasonB}). Make the block with { device: 'cpu' } (or 'auto', which runs host arrays ` +
        'on the CPU) to run it on the CPU, which takes any shape.',
    );
    block.dispose();
    fake.clearFaults();
  });

  // Found by a leak hunt (2026-12-03): each refused configuration stayed in a Set for good, and
  // each reason (which names the shape's byte counts) warned once more, so a server fed ever new
  // shapes grew without end and warned on every new shape.
  test('reasons that differ in their numbers alone warn once, and the refused configurations stay bounded', async () => {
    const rng = freshRng();
    const weight = randECAWeight(rng, 3);
    const kind = token();
    const w0 = fallbackWarnings.length;
    const first: Shape4 = [1, 6, 1, 1];
    const run = (shape: Shape4, fail: boolean): Float32Array => {
      if (fail) fake.failNextForward('ERR_SQEX_UNSUPPORTED', { message: `one channel (${numel(shape) * 4} bytes) is too large (${kind})`, target: 'host' });
      return f32(ecaForward(rng.normals(numel(shape), 1, 0.3), shape as LibShape4, { weight }, AUTO));
    };
    try {
      run(first, true);
      // 4096 more refused configurations, each with its own numbers in the reason
      for (let h = 2; h <= 4097; h++) run([1, 6, h, 1], true);
      expect((await newWarnings(w0)).length, 'one warning for one kind of reason').toBe(1);
      fake.clearLog();
      run(first, false);
      expect(fake.cudaForwards().length, 'the first refused configuration is remembered past 4096 others').toBe(1);
    } finally {
      fake.clearFaults();
    }
  });

  // Found by an attack (2026-12-02): the sync fallback warned (process.emitWarning, which may be
  // the caller's code) between the CUDA refusal and the CPU run, and a block's calls share one cfg:
  // the same block called again from inside the warning, with another shape of as many elements,
  // made the outer call run on the CPU with the inner call's shape. The warning now comes after.
  test.each(MODES)('%s: a block called again from inside the fallback warning does not change the call in progress', async (mode) => {
    const rng = freshRng();
    const weight = randECAWeight(rng, 3);
    const block = keep(new ECABlock({ weight }, AUTO));
    // shapes of this test alone, one pair a mode (a refused configuration goes straight to the CPU later)
    const C = mode === 'sync' ? 8 : 10;
    const shapeA: Shape4 = [1, C, 4, 4];
    const shapeB: Shape4 = [1, 2 * C, 2, 4];
    const x = rng.normals(numel(shapeA), 1, 0.3);
    const expected = ecaForward(Float32Array.from(x), shapeA as LibShape4, { weight }, { device: 'cpu' });
    let inner: unknown = null;
    insideFallbackWarning = () => {
      try {
        inner = block.forward(rng.normals(numel(shapeB), 1, 0.3), shapeB);
      } catch (err) {
        inner = err;
      }
    };
    fake.failNextForward('ERR_SQEX_UNSUPPORTED', { message: `refused on purpose (${process.pid}-${Date.now()}-${mode})`, target: 'host', phase: 'settle' });
    try {
      const y = f32(await (mode === 'sync' ? block.forward(x, shapeA) : block.forwardAsync(x, shapeA)));
      expect(bitsEqual(y, expected), seedNote(rng)).toBe(true);
    } finally {
      insideFallbackWarning = null;
      fake.clearFaults();
    }
    expect(inner, 'the warning ran the inner call').not.toBeNull();
  });

  // Found by an attack (2026-11-30): the CPU rerun of an async 'auto' call read the caller's
  // arrays after the await: x changed after the call returned gave the new x's result, and x
  // transferred gave the addon's uncoded "x is detached or empty". Inputs are copied at the call
  // until a configuration is known to run on CUDA; once it ran, no copy.
  test.each(['changed', 'transferred'] as const)("async 'auto': x %s after the call returns, the CPU rerun still computes the x of the call", async (how) => {
    const rng = freshRng();
    const C = 37 + (how === 'changed' ? 0 : 2); // configurations no other test uses
    const shape: Shape4 = [1, C, 2, 2];
    const w = randSEWeights(rng, C, 3, { twoFc: true, b1: true, b2: true });
    const x = rng.normals(numel(shape), 1, 0.3);
    const expected = seForward(Float32Array.from(x), shape as LibShape4, w, { device: 'cpu' });
    fake.clearLog();
    fake.failNextForward('ERR_SQEX_UNSUPPORTED', { message: `too large (${token()})`, target: 'host', phase: 'settle' });
    const pending = seForwardAsync(x, shape as LibShape4, w, AUTO);
    if (how === 'changed') {
      x.fill(100);
      w.w1.fill(0);
    } else {
      structuredClone(x.buffer, { transfer: [x.buffer as ArrayBuffer] });
    }
    const y = await pending;
    expect(bitsEqual(y, expected), seedNote(rng)).toBe(true);
    expect(fake.forwards().map((f) => f.fn)).toEqual(['cudaForwardHostAsync', 'cpuForwardAsync']);
  });

  test("async 'auto': a configuration CUDA ran once is not copied for a rerun again", async () => {
    const rng = freshRng();
    const C = 43;
    const shape: Shape4 = [1, C, 2, 2];
    const w = randSEWeights(rng, C, 3, { twoFc: true, b1: true, b2: true });
    const x = rng.normals(numel(shape), 1, 0.3);
    fake.clearLog();
    await seForwardAsync(x, shape as LibShape4, w, AUTO);
    await seForwardAsync(x, shape as LibShape4, w, AUTO);
    // Both reached CUDA with the caller's own arrays (the first is copied only for a CPU rerun).
    const calls = fake.cudaForwards();
    expect(calls.map((f) => f.fn)).toEqual(['cudaForwardHostAsync', 'cudaForwardHostAsync']);
    for (const f of calls) expect(f.hostArrays?.[0]).toBe(x);
  });

  test("a block built with device 'auto' and a deviceIndex: two concurrent forwardAsync calls, the first refused, each get their own result", async () => {
    // A block reuses one cfg array for every call; the CPU fallback of an async call runs after
    // an await, when a later call on the same block may have rewritten that array.
    const rng = freshRng();
    const C = 29;
    const w = randSEWeights(rng, C, 3, { twoFc: true, b1: true, b2: true });
    const block = keep(new SEBlock(w, { ...AUTO, gate: 'hardsigmoid' }));
    expect(block.backend).toBe('cuda');
    const shape1: Shape4 = [1, C, 2, 3];
    const shape2: Shape4 = [2, C, 3, 1];
    const x1 = rng.normals(numel(shape1), 1, 0.3);
    const x2 = rng.normals(numel(shape2), 1, 0.3);
    const cpu = (x: Float32Array, shape: Shape4): Float32Array =>
      cpuRun({ op: 'se', shape, layout: 'NCHW', weights: asWeights(w), options: { gate: 'hardsigmoid' }, hasScale: false }, x, undefined).y;
    const w0 = fallbackWarnings.length;
    fake.failNextForward('ERR_SQEX_UNSUPPORTED', { message: `refused (${token()})`, target: 'host' });
    const p1 = block.forwardAsync(x1, shape1);
    const p2 = block.forwardAsync(x2, shape2);
    const [y1, y2] = await Promise.all([p1, p2]);
    expect(bitsEqual(y1, cpu(x1, shape1)), 'the refused call (run on the CPU)').toBe(true);
    expect(bitsEqual(y2, cpu(x2, shape2)), 'the other call (run on CUDA)').toBe(true);
    expect((await newWarnings(w0)).length).toBe(1);
  });

  test.each(MODES)("device 'cuda' (%s): ERR_SQEX_UNSUPPORTED propagates, nothing runs on the CPU, out untouched", async (mode) => {
    const rng = freshRng();
    const shape: Shape4 = [1, 23, 2, 1];
    const p = problem(rng, 'se', shape, 'NCHW', 1);
    const x = rng.normals(numel(shape));
    const out = poisoned(x.length);
    const w0 = fallbackWarnings.length;
    fake.failNextForward('ERR_SQEX_UNSUPPORTED', { message: `refused (${token()})`, target: 'host' });
    const err = await failure(() => call(mode, 'se', x, shape, p.weights, { ...p.options, device: 'cuda', out }));
    expect(err).toMatchObject({ code: 'ERR_SQEX_UNSUPPORTED' });
    expect(fake.forwards().map((f) => f.fn)).toEqual([mode === 'sync' ? 'cudaForwardHost' : 'cudaForwardHostAsync']);
    expect(out.every((v) => Number.isNaN(v))).toBe(true);
    expect((await newWarnings(w0)).length).toBe(0);
  });

  test.each(MODES)("device 'auto' with a deviceIndex (%s): ERR_SQEX_CUDA is not a reason to fall back", async (mode) => {
    const rng = freshRng();
    const shape: Shape4 = [1, 25, 1, 2];
    const p = problem(rng, 'eca', shape, 'NCHW', 0);
    const x = rng.normals(numel(shape));
    fake.failNextForward('ERR_SQEX_CUDA', { target: 'host' });
    await expect(call(mode, 'eca', x, shape, p.weights, { ...p.options, ...AUTO })).rejects.toMatchObject({ code: 'ERR_SQEX_CUDA' });
    expect(fake.forwards().map((f) => f.fn).filter((f) => f.startsWith('cpu'))).toEqual([]);
  });

  test.each(MODES)("a DeviceTensor x under device 'auto' (%s): ERR_SQEX_UNSUPPORTED propagates and the result is freed", async (mode) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 27, 1, 1];
    const p = problem(rng, 'cbam', shape, 'NCHW', 1);
    const xT = upload(rng.normals(numel(shape)), shape);
    const live = fake.liveCount();
    const w0 = fallbackWarnings.length;
    fake.failNextForward('ERR_SQEX_UNSUPPORTED', { message: `refused (${token()})`, target: 'device' });
    await expect(call(mode, 'cbam', xT, shape, p.weights, { ...p.options, device: 'auto' })).rejects.toMatchObject({ code: 'ERR_SQEX_UNSUPPORTED' });
    expect(fake.forwards().map((f) => f.fn)).toEqual([mode === 'sync' ? 'cudaForwardDevice' : 'cudaForwardDeviceAsync']);
    expect(fake.liveCount()).toBe(live);
    expect((await newWarnings(w0)).length).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('an empty batch (N = 0) on the device path, as PyTorch allows', () => {
  const ecaForwardAny = SYNC.eca as AnyFn;
  const C = 6, H = 3, W = 2, HIDDEN = 2;
  const empty: Shape4 = [0, C, H, W];
  const problems = (rng: Rng): Record<OpName, unknown> => ({
    se: randSEWeights(rng, C, HIDDEN, { twoFc: true, b1: true, b2: true }),
    eca: { weight: randECAWeight(rng, 3) },
    cbam: randCBAMWeights(rng, C, HIDDEN, 7, { b1: true, b2: true, spatialBias: true }),
  });

  test('DeviceTensor.from / empty / toHost / copyFrom / dispose: no device memory, no CUDA call but the device check', async () => {
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      const t = dtype === 'float32' ? upload(new Float32Array(0), empty) : upload(new Uint16Array(0), empty, { dtype });
      const e = keep(DeviceTensor.empty(empty as LibShape4, { dtype, layout: 'NHWC' }));
      for (const x of [t, e]) {
        expect(x.byteLength).toBe(0);
        expect(x.ptr).toBe(0n);
        expect(x.shape).toEqual(empty);
        const host = await x.toHost();
        expect(host.length).toBe(0);
        expect(host).toBeInstanceOf(dtype === 'float32' ? Float32Array : Uint16Array);
        expect(x.toHostSync().length).toBe(0);
        expect((await x.toFloat32()).length).toBe(0);
        expect(x.copyFrom(new Float32Array(0))).toBe(x);
        // Still validated: a non-empty array is the wrong length.
        expect(thrown(() => x.copyFrom(new Float32Array(1)))).toBeInstanceOf(RangeError);
      }
      t.dispose();
      expect(t.disposed).toBe(true);
      expect(thrown(() => t.ptr)).toMatchObject({ code: 'ERR_SQEX_DISPOSED' });
      await expect(t.toHost()).rejects.toMatchObject({ code: 'ERR_SQEX_DISPOSED' });
    }
    expect(fake.log.filter((r) => r.fn !== 'cudaSynchronize')).toEqual([]);
    // The device index is still checked against the device count.
    expect(thrown(() => DeviceTensor.empty(empty as LibShape4, { device: FAKE_DEVICES.length }))).toBeInstanceOf(RangeError);
    const borrowed = DeviceTensor.fromPointer(0x1000n, empty as LibShape4);
    expect(borrowed.byteLength).toBe(0);
    expect((await borrowed.toHost()).length).toBe(0);
    borrowed.dispose();
    expect(fake.log.filter((r) => r.fn !== 'cudaSynchronize')).toEqual([]);
  });

  // Found by an attack on the change (2026-12-01).
  test('fromPointer takes 0n for an empty shape only; empty tensors overlap nothing; -0 is 0', () => {
    const wrapped = DeviceTensor.fromPointer(0n, empty as LibShape4);
    expect([wrapped.ptr, wrapped.byteLength]).toEqual([0n, 0]);
    wrapped.dispose();
    expect(thrown(() => DeviceTensor.fromPointer(0n, [1, C, H, W]))).toMatchObject({ code: 'ERR_OUT_OF_RANGE', argument: 'ptr' });
    // An empty out at an address inside a device weight: not an overlap.
    const weight = upload(new Float32Array([0.5, -1, 2]), [1, 1, 1, 3]);
    const x = upload(new Float32Array(0), empty);
    const out = keep(DeviceTensor.fromPointer(weight.ptr + 4n, empty as LibShape4));
    expect(ecaForwardAny(x, empty, { weight }, { out })).toBe(out);
    const minus = keep(DeviceTensor.empty([-0, C, H, W]));
    expect(Object.is(minus.shape[0], 0) && Object.is(minus.byteLength, 0)).toBe(true);
    expect(fake.forwards()).toEqual([]);
  });

  // A review of the Float16Array hint (2026-12-01): the zero-copy view is float16 bits, so it is
  // advised for float16 tensors only, never for bfloat16 ones.
  const F16 = (globalThis as { Float16Array?: new (n: number) => ArrayBufferView }).Float16Array;
  test.skipIf(F16 === undefined)('copyFrom with a Float16Array: the view hint for float16 tensors only (Node 24+)', () => {
    const n = 6;
    for (const [dtype, view] of [['float16', true], ['bfloat16', false], ['float32', false]] as const) {
      const t = keep(DeviceTensor.empty([1, 1, 2, 3], { dtype }));
      const err = thrown(() => t.copyFrom(new F16!(n) as never));
      expect(err, dtype).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', argument: 'data' });
      const message = (err as Error).message;
      expect(message.includes('new Uint16Array(value.buffer'), `${dtype}: ${message}`).toBe(view);
      if (!view) expect(message, dtype).toContain('Float32Array.from(value)');
    }
  });

  const cases = (['se', 'eca', 'cbam'] as const).flatMap((op) => MODES.map((mode) => ({ op, mode })));
  test.each(cases)('$op ($mode): an empty result, out as given, no kernel; weights and operands still checked', async ({ op, mode }) => {
    const rng = freshRng();
    const w = problems(rng)[op];
    const x = upload(new Float32Array(0), empty, { layout: 'NHWC' });
    const y = dt(await call(mode, op, x, empty, w, {}));
    keep(y);
    expect(y).not.toBe(x);
    expect(y.shape).toEqual(empty);
    expect([y.byteLength, y.ptr, y.layout, y.dtype]).toEqual([0, 0n, 'NHWC', 'float32']);
    const out = upload(new Float32Array(0), empty, { layout: 'NHWC' });
    const residual = op === 'se' ? { residual: upload(new Float32Array(0), empty, { layout: 'NHWC' }) } : {};
    const scaleOut = op === 'cbam' ? {} : { scaleOut: upload(new Float32Array(0), [0, C, 1, 1]) };
    expect(await call(mode, op, x, empty, w, { out, ...scaleOut, ...residual })).toBe(out);
    expect(fake.forwards()).toEqual([]);
    expect(fake.log.filter((r) => r.fn === 'cudaAlloc')).toEqual([]);
    // Refusals still come first: weights for another C, a scaleOut of the wrong size, a disposed x.
    const other = op === 'eca'
      ? { weight: new Float32Array(4) }
      : op === 'se' ? randSEWeights(rng, C + 1, HIDDEN, { twoFc: true, b1: true, b2: true }) : randCBAMWeights(rng, C + 1, HIDDEN, 7, { b1: true, b2: true, spatialBias: true });
    expect(await failure(() => call(mode, op, x, empty, other, {}))).toBeInstanceOf(RangeError);
    if (op !== 'cbam') {
      expect(await failure(() => call(mode, op, x, empty, w, { scaleOut: upload(new Float32Array(1), [1, 1, 1, 1]) }))).toBeInstanceOf(RangeError);
    }
    const gone = upload(new Float32Array(0), empty);
    gone.dispose();
    expect(await failure(() => call(mode, op, gone, empty, w, {}))).toMatchObject({ message: /x must be a DeviceTensor that has not been disposed/ });
    expect(fake.forwards()).toEqual([]);
  });

  test.each(MODES)('blocks on CUDA (%s): the resident path and the general one return empty tensors without a kernel', async (mode) => {
    const rng = freshRng();
    const block = keep(new SEBlock(asWeights(randSEWeights(rng, C, HIDDEN, { twoFc: true, b1: true, b2: true })) as never, { device: 'cuda' }));
    const x = upload(new Float32Array(0), empty);
    const run = (...a: unknown[]): Promise<unknown> =>
      mode === 'sync' ? Promise.resolve((block.forward as (...b: unknown[]) => unknown)(...a)) : (block.forwardAsync as (...b: unknown[]) => Promise<unknown>)(...a);
    const y = keep(dt(await run(x)));
    expect([y.byteLength, y.ptr]).toEqual([0, 0n]);
    const out = upload(new Float32Array(0), empty);
    expect(await run(x, { out })).toBe(out);
    // A host x on a CUDA block, and its out.
    expect(f32(await run(new Float32Array(0), empty))).toHaveLength(0);
    expect(fake.forwards()).toEqual([]);
    // A DeviceTensor x of another C is still refused.
    expect(await failure(() => run(upload(new Float32Array(0), [0, C + 1, H, W])))).toBeInstanceOf(RangeError);
  });
});
