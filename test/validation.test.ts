// Bad input: every malformed argument of the public API is refused before any work, with a
// TypeError (wrong kind) or a RangeError (wrong value or size) whose message reads
//   `${fn}: ${arg} must be ${expected}; received ${received}`.
// A refused call never writes to `out`; the Async functions return a rejected Promise instead of
// throwing synchronously; a valid call still works afterwards. Runs on the CPU.
import { createContext, runInContext } from 'node:vm';
import { describe, expect, test } from 'vitest';
import {
  CBAMBlock,
  DeviceTensor,
  ECABlock,
  SEBlock,
  cbamForward,
  cbamForwardAsync,
  cuda,
  ecaForward,
  ecaForwardAsync,
  ecaKernelSize,
  SafetensorsFile,
  attentionWeightsFromStateDict,
  findAttentionModules,
  readSafetensors,
  seForward,
  seForwardAsync,
  float16BitsToFloat32,
  bfloat16BitsToFloat32,
} from '../dist/index.js';
import { refCBAM, refECA, refSE, type Shape4 } from './reference.js';
import { bitsEqual, expectClose, freshRng, noteSkip, seedNote } from './helpers.js';

const SENTINEL = 12345.5;
const N = 2;
const C = 8;
const H = 3;
const W = 5;
const HIDDEN = 2;
const SHAPE: Shape4 = [N, C, H, W];
const NUMEL = N * C * H * W;

type Loose = (...args: unknown[]) => unknown;
type Args = { x: unknown; shape: unknown; weights: unknown; options: Record<string, unknown> | unknown };
type Weights = Record<string, Float32Array>;

interface OpDef {
  name: 'se' | 'eca' | 'cbam';
  sync: Loose;
  async: Loose;
  fnSync: string;
  fnAsync: string;
  weights: () => Weights;
  reference: (x: Float32Array, w: Weights) => Float64Array;
}

const rng = freshRng(); // one stream for the file: SQEX_SEED replays it (seedNote in each comparison)
const rand = (n: number, scale = 1): Float32Array => rng.normals(n, scale);

const OPS: OpDef[] = [
  {
    name: 'se',
    sync: seForward as unknown as Loose,
    async: seForwardAsync as unknown as Loose,
    fnSync: 'seForward',
    fnAsync: 'seForwardAsync',
    weights: () => ({ w1: rand(HIDDEN * C, 0.5), b1: rand(HIDDEN, 0.3), w2: rand(C * HIDDEN, 0.5), b2: rand(C, 0.3) }),
    reference: (x, w) => refSE(x, [...SHAPE], { w1: w.w1!, b1: w.b1!, w2: w.w2!, b2: w.b2! }).y,
  },
  {
    name: 'eca',
    sync: ecaForward as unknown as Loose,
    async: ecaForwardAsync as unknown as Loose,
    fnSync: 'ecaForward',
    fnAsync: 'ecaForwardAsync',
    weights: () => ({ weight: rand(3, 0.6) }),
    reference: (x, w) => refECA(x, [...SHAPE], { weight: w.weight! }).y,
  },
  {
    name: 'cbam',
    sync: cbamForward as unknown as Loose,
    async: cbamForwardAsync as unknown as Loose,
    fnSync: 'cbamForward',
    fnAsync: 'cbamForwardAsync',
    weights: () => ({
      w1: rand(HIDDEN * C, 0.5),
      b1: rand(HIDDEN, 0.3),
      w2: rand(C * HIDDEN, 0.5),
      b2: rand(C, 0.3),
      spatialWeight: rand(2 * 3 * 3, 0.4),
      spatialBias: rand(1, 0.3),
    }),
    reference: (x, w) =>
      refCBAM(x, [...SHAPE], {
        w1: w.w1!,
        b1: w.b1!,
        w2: w.w2!,
        b2: w.b2!,
        spatialWeight: w.spatialWeight!,
        spatialBias: w.spatialBias!,
      }).y,
  },
];

function detached(n: number): Float32Array {
  const a = new Float32Array(n);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
}

interface BadCase {
  label: string;
  ops?: readonly ('se' | 'eca' | 'cbam')[];
  /** Makes a DeviceTensor: runs only where CUDA is available (see the cases). */
  needsCuda?: boolean;
  cls: typeof TypeError | typeof RangeError;
  arg: string;
  /** extra text the message must contain */
  contains?: string;
  /** Rewrites valid args into bad ones. The args' options.out is the sentinel output. */
  make: (a: Args & { options: Record<string, unknown> }, op: OpDef) => void;
}

const MLP: readonly ('se' | 'cbam')[] = ['se', 'cbam'];
const WITH_SCALE: readonly ('se' | 'eca')[] = ['se', 'eca'];

const CASES: BadCase[] = [
  // x
  { label: 'x plain array', cls: TypeError, arg: 'x', make: (a) => void (a.x = Array.from(a.x as Float32Array)) },
  { label: 'x Float64Array', cls: TypeError, arg: 'x', make: (a) => void (a.x = new Float64Array(NUMEL)) },
  { label: 'x Uint8Array', cls: TypeError, arg: 'x', make: (a) => void (a.x = new Uint8Array(NUMEL * 4)) },
  { label: 'x null', cls: TypeError, arg: 'x', make: (a) => void (a.x = null) },
  { label: 'x number', cls: TypeError, arg: 'x', make: (a) => void (a.x = 3) },
  { label: 'x undefined', cls: TypeError, arg: 'x', make: (a) => void (a.x = undefined) },
  { label: 'x detached', cls: TypeError, arg: 'x', contains: 'detached', make: (a) => void (a.x = detached(NUMEL)) },
  { label: 'x too short', cls: RangeError, arg: 'x', contains: `length ${NUMEL}`, make: (a) => void (a.x = new Float32Array(NUMEL - 1)) },
  { label: 'x too long', cls: RangeError, arg: 'x', make: (a) => void (a.x = new Float32Array(NUMEL + C)) },
  // shape
  { label: 'shape null', cls: TypeError, arg: 'shape', make: (a) => void (a.shape = null) },
  { label: 'shape string', cls: TypeError, arg: 'shape', make: (a) => void (a.shape = '2,8,3,5') },
  { label: 'shape Int32Array', cls: TypeError, arg: 'shape', make: (a) => void (a.shape = Int32Array.of(N, C, H, W)) },
  { label: 'shape array-like object', cls: TypeError, arg: 'shape', make: (a) => void (a.shape = { 0: N, 1: C, 2: H, 3: W, length: 4 }) },
  { label: 'shape of 3 entries', cls: RangeError, arg: 'shape', make: (a) => void (a.shape = [N, C, H * W]) },
  { label: 'shape of 5 entries', cls: RangeError, arg: 'shape', make: (a) => void (a.shape = [N, C, H, W, 1]) },
  { label: 'shape entry NaN', cls: RangeError, arg: 'shape[3] (W)', make: (a) => void (a.shape = [N, C, H, Number.NaN]) },
  { label: 'shape entry negative', cls: RangeError, arg: 'shape[0] (N)', make: (a) => void (a.shape = [-N, C, H, W]) },
  { label: 'shape entry zero', cls: RangeError, arg: 'shape[2] (H)', make: (a) => void (a.shape = [N, C, 0, W]) },
  { label: 'shape entry fractional', cls: RangeError, arg: 'shape[1] (C)', make: (a) => void (a.shape = [N, 8.5, H, W]) },
  { label: 'shape entry Infinity', cls: RangeError, arg: 'shape[2] (H)', make: (a) => void (a.shape = [N, C, Infinity, W]) },
  { label: 'shape entry string', cls: TypeError, arg: 'shape[3] (W)', make: (a) => void (a.shape = [N, C, H, '5']) },
  { label: 'shape entry null', cls: TypeError, arg: 'shape[0] (N)', make: (a) => void (a.shape = [null, C, H, W]) },
  { label: 'shape entry bigint', cls: TypeError, arg: 'shape[1] (C)', make: (a) => void (a.shape = [N, 8n, H, W]) },
  { label: 'shape entry above 2^31-1', cls: RangeError, arg: 'shape[3] (W)', make: (a) => void (a.shape = [1, 1, 1, 2 ** 31]) },
  {
    label: 'shape with more than 2^31-1 elements',
    cls: RangeError,
    arg: 'shape',
    contains: '2147483647',
    make: (a) => void (a.shape = [N, C, 65536, 65536]),
  },
  // weights, all ops
  { label: 'weights null', cls: TypeError, arg: 'weights', make: (a) => void (a.weights = null) },
  { label: 'weights number', cls: TypeError, arg: 'weights', make: (a) => void (a.weights = 1) },
  { label: 'weights array', cls: TypeError, arg: 'weights', make: (a) => void (a.weights = [new Float32Array(16)]) },
  {
    label: 'weights unknown key',
    cls: TypeError,
    arg: 'weights',
    contains: '"bias"',
    make: (a) => void ((a.weights as Weights).bias = new Float32Array(C)),
  },
  // SE / CBAM MLP
  { label: 'w1 missing', ops: MLP, cls: TypeError, arg: 'weights.w1', make: (a) => void delete (a.weights as Weights).w1 },
  {
    label: 'w1 Float64Array',
    ops: MLP,
    cls: TypeError,
    arg: 'weights.w1',
    make: (a) => void ((a.weights as Record<string, unknown>).w1 = new Float64Array(HIDDEN * C)),
  },
  {
    label: 'w1 plain array',
    ops: MLP,
    cls: TypeError,
    arg: 'weights.w1',
    make: (a) => void ((a.weights as Record<string, unknown>).w1 = new Array(HIDDEN * C).fill(0)),
  },
  {
    label: 'w1 detached',
    ops: MLP,
    cls: TypeError,
    arg: 'weights.w1',
    make: (a) => void ((a.weights as Weights).w1 = detached(HIDDEN * C)),
  },
  {
    label: 'w1 not a multiple of C',
    ops: MLP,
    cls: RangeError,
    arg: 'weights.w1',
    contains: `of length ${HIDDEN * C} (hidden × C = ${HIDDEN} × ${C})`,
    make: (a) => void ((a.weights as Weights).w1 = new Float32Array(HIDDEN * C - 1)),
  },
  {
    label: 'b1 not hidden',
    ops: MLP,
    cls: RangeError,
    arg: 'weights.b1',
    make: (a) => void ((a.weights as Weights).b1 = new Float32Array(HIDDEN + 1)),
  },
  {
    label: 'b1 number',
    ops: MLP,
    cls: TypeError,
    arg: 'weights.b1',
    make: (a) => void ((a.weights as Record<string, unknown>).b1 = 0.5),
  },
  {
    label: 'w2 not C × hidden',
    ops: MLP,
    cls: RangeError,
    arg: 'weights.w2',
    make: (a) => void ((a.weights as Weights).w2 = new Float32Array(C * HIDDEN + 1)),
  },
  {
    label: 'b2 not C',
    ops: MLP,
    cls: RangeError,
    arg: 'weights.b2',
    make: (a) => void ((a.weights as Weights).b2 = new Float32Array(C - 1)),
  },
  { label: 'w2 missing (CBAM needs two FCs)', ops: ['cbam'], cls: TypeError, arg: 'weights.w2', make: (a) => void delete (a.weights as Weights).w2 },
  {
    label: 'single FC: w1 not C × C',
    ops: ['se'],
    cls: RangeError,
    arg: 'weights.w1',
    contains: `C × C = ${C} × ${C}`,
    make: (a) => void (a.weights = { w1: new Float32Array(HIDDEN * C), b1: new Float32Array(C) }),
  },
  {
    label: 'single FC: b1 not C',
    ops: ['se'],
    cls: RangeError,
    arg: 'weights.b1',
    make: (a) => void (a.weights = { w1: new Float32Array(C * C), b1: new Float32Array(HIDDEN) }),
  },
  {
    label: 'single FC: b2 given without w2',
    ops: ['se'],
    cls: TypeError,
    arg: 'weights.b2',
    make: (a) => void (a.weights = { w1: new Float32Array(C * C), b2: new Float32Array(C) }),
  },
  // ECA
  { label: 'ECA k even', ops: ['eca'], cls: RangeError, arg: 'weights.weight', contains: 'odd', make: (a) => void (a.weights = { weight: new Float32Array(4) }) },
  { label: 'ECA k = 0', ops: ['eca'], cls: RangeError, arg: 'weights.weight', make: (a) => void (a.weights = { weight: new Float32Array(0) }) },
  { label: 'ECA weight missing', ops: ['eca'], cls: TypeError, arg: 'weights.weight', make: (a) => void (a.weights = {}) },
  {
    label: 'ECA weight Float64Array',
    ops: ['eca'],
    cls: TypeError,
    arg: 'weights.weight',
    make: (a) => void (a.weights = { weight: new Float64Array(3) }),
  },
  // CBAM spatial conv
  {
    label: 'spatialWeight not 2·k²',
    ops: ['cbam'],
    cls: RangeError,
    arg: 'weights.spatialWeight',
    make: (a) => void ((a.weights as Weights).spatialWeight = new Float32Array(97)),
  },
  {
    label: 'spatialWeight with k even',
    ops: ['cbam'],
    cls: RangeError,
    arg: 'weights.spatialWeight',
    make: (a) => void ((a.weights as Weights).spatialWeight = new Float32Array(2 * 4 * 4)),
  },
  {
    label: 'spatialWeight missing',
    ops: ['cbam'],
    cls: TypeError,
    arg: 'weights.spatialWeight',
    make: (a) => void delete (a.weights as Weights).spatialWeight,
  },
  {
    label: 'spatialBias of length 2',
    ops: ['cbam'],
    cls: RangeError,
    arg: 'weights.spatialBias',
    make: (a) => void ((a.weights as Weights).spatialBias = new Float32Array(2)),
  },
  {
    label: 'spatialBias number',
    ops: ['cbam'],
    cls: TypeError,
    arg: 'weights.spatialBias',
    make: (a) => void ((a.weights as Record<string, unknown>).spatialBias = 0.25),
  },
  // options object
  { label: 'options number', cls: TypeError, arg: 'options', make: (a) => void ((a as Args).options = 5) },
  { label: 'options string', cls: TypeError, arg: 'options', make: (a) => void ((a as Args).options = 'NCHW') },
  { label: 'options null', cls: TypeError, arg: 'options', make: (a) => void ((a as Args).options = null) },
  { label: 'options array', cls: TypeError, arg: 'options', make: (a) => void ((a as Args).options = []) },
  {
    label: 'options unknown key',
    cls: TypeError,
    arg: 'options',
    contains: '"layot"',
    make: (a) => void (a.options.layot = 'NCHW'),
  },
  {
    label: 'options key of another op (residual)',
    ops: ['eca', 'cbam'],
    cls: TypeError,
    arg: 'options',
    contains: '"residual"',
    make: (a) => void (a.options.residual = new Float32Array(NUMEL)),
  },
  {
    label: 'options key of another op (scaleOut)',
    ops: ['cbam'],
    cls: TypeError,
    arg: 'options',
    contains: '"scaleOut"',
    make: (a) => void (a.options.scaleOut = new Float32Array(N * C)),
  },
  // enums
  { label: 'layout lower case', cls: RangeError, arg: 'options.layout', make: (a) => void (a.options.layout = 'nchw') },
  { label: 'layout number', cls: TypeError, arg: 'options.layout', make: (a) => void (a.options.layout = 0) },
  { label: 'gate unknown', cls: RangeError, arg: 'options.gate', make: (a) => void (a.options.gate = 'tanh') },
  { label: 'activation unknown', ops: MLP, cls: RangeError, arg: 'options.activation', make: (a) => void (a.options.activation = 'gelu') },
  {
    label: 'outputActivation unknown',
    ops: ['se'],
    cls: RangeError,
    arg: 'options.outputActivation',
    make: (a) => void (a.options.outputActivation = 'sigmoid'),
  },
  { label: 'device unknown', cls: RangeError, arg: 'options.device', make: (a) => void (a.options.device = 'gpu') },
  { label: 'device boolean', cls: TypeError, arg: 'options.device', make: (a) => void (a.options.device = true) },
  { label: 'stream number', cls: TypeError, arg: 'options.stream', make: (a) => void (a.options.stream = 0) },
  { label: 'stream negative', cls: RangeError, arg: 'options.stream', make: (a) => void (a.options.stream = -1n) },
  { label: 'deviceIndex negative', cls: RangeError, arg: 'options.deviceIndex', make: (a) => void (a.options.deviceIndex = -1) },
  { label: 'deviceIndex fractional', cls: RangeError, arg: 'options.deviceIndex', make: (a) => void (a.options.deviceIndex = 0.5) },
  { label: 'deviceIndex string', cls: TypeError, arg: 'options.deviceIndex', make: (a) => void (a.options.deviceIndex = '0') },
  // residual / out / scaleOut
  {
    label: 'residual wrong length',
    ops: ['se'],
    cls: RangeError,
    arg: 'options.residual',
    make: (a) => void (a.options.residual = new Float32Array(NUMEL - 1)),
  },
  {
    label: 'residual Float64Array',
    ops: ['se'],
    cls: TypeError,
    arg: 'options.residual',
    make: (a) => void (a.options.residual = new Float64Array(NUMEL)),
  },
  {
    label: 'out wrong length (a view of the sentinel)',
    cls: RangeError,
    arg: 'options.out',
    make: (a) => void (a.options.out = (a.options.out as Float32Array).subarray(1)),
  },
  { label: 'out Float64Array', cls: TypeError, arg: 'options.out', make: (a) => void (a.options.out = new Float64Array(NUMEL)) },
  { label: 'out plain array', cls: TypeError, arg: 'options.out', make: (a) => void (a.options.out = new Array(NUMEL).fill(0)) },
  {
    label: 'out partially overlapping x',
    cls: RangeError,
    arg: 'options.out',
    contains: 'overlap',
    make: (a) => {
      // x and out are views of one buffer, one element apart.
      const whole = new Float32Array(NUMEL + 4).fill(SENTINEL);
      a.x = whole.subarray(0, NUMEL);
      a.options.out = whole.subarray(1, NUMEL + 1);
    },
  },
  {
    label: 'out partially overlapping residual',
    ops: ['se'],
    cls: RangeError,
    arg: 'options.out',
    make: (a) => {
      const whole = new Float32Array(NUMEL + 4).fill(SENTINEL);
      a.options.residual = whole.subarray(0, NUMEL);
      a.options.out = whole.subarray(2, NUMEL + 2);
    },
  },
  {
    label: 'scaleOut wrong length',
    ops: WITH_SCALE,
    cls: RangeError,
    arg: 'options.scaleOut',
    contains: `N × C = ${N} × ${C}`,
    make: (a) => void (a.options.scaleOut = new Float32Array(N * C + 1)),
  },
  {
    label: 'scaleOut Uint8Array',
    ops: WITH_SCALE,
    cls: TypeError,
    arg: 'options.scaleOut',
    make: (a) => void (a.options.scaleOut = new Uint8Array(N * C * 4)),
  },
  {
    label: 'scaleOut overlapping out',
    ops: WITH_SCALE,
    cls: RangeError,
    arg: 'options.scaleOut',
    make: (a) => {
      const whole = new Float32Array(NUMEL + N * C).fill(SENTINEL);
      a.options.out = whole.subarray(0, NUMEL);
      a.options.scaleOut = whole.subarray(4, 4 + N * C);
    },
  },
  // DeviceTensor x: refused during validation, so the (fake) pointer is never touched. Making
  // one needs CUDA (fromPointer refuses at once without it), so these run on a CUDA machine;
  // test/device-contract.test.ts runs the same refusals on the emulated binding everywhere.
  {
    needsCuda: true,
    label: 'DeviceTensor x with device cpu',
    cls: RangeError,
    arg: 'options.device',
    make: (a) => {
      a.x = DeviceTensor.fromPointer(0x10000n, SHAPE);
      a.options = { device: 'cpu' };
    },
  },
  {
    needsCuda: true,
    label: 'DeviceTensor x with a different shape argument',
    cls: RangeError,
    arg: 'shape',
    make: (a) => {
      a.x = DeviceTensor.fromPointer(0x10000n, [N, C, W, H]);
      a.options = {};
    },
  },
  {
    needsCuda: true,
    label: 'DeviceTensor x with a host out',
    cls: TypeError,
    arg: 'options.out',
    make: (a) => {
      a.x = DeviceTensor.fromPointer(0x10000n, SHAPE);
      a.options = { out: new Float32Array(NUMEL) };
    },
  },
  {
    needsCuda: true,
    label: 'DeviceTensor x with another layout option',
    cls: RangeError,
    arg: 'options.layout',
    make: (a) => {
      a.x = DeviceTensor.fromPointer(0x10000n, SHAPE, { layout: 'NHWC' });
      a.options = { layout: 'NCHW' };
    },
  },
  {
    needsCuda: true,
    label: 'disposed DeviceTensor x',
    cls: RangeError,
    arg: 'x',
    contains: 'disposed',
    make: (a) => {
      const t = DeviceTensor.fromPointer(0x10000n, SHAPE);
      t.dispose();
      a.x = t;
      a.options = {};
    },
  },
  {
    needsCuda: true,
    label: 'DeviceTensor out overlapping DeviceTensor x',
    cls: RangeError,
    arg: 'options.out',
    make: (a) => {
      a.x = DeviceTensor.fromPointer(0x10000n, SHAPE);
      a.options = { out: DeviceTensor.fromPointer(0x10004n, SHAPE) };
    },
  },
];

function validArgs(op: OpDef): Args & { options: Record<string, unknown> } {
  return { x: rand(NUMEL), shape: [...SHAPE], weights: op.weights(), options: { out: new Float32Array(NUMEL).fill(SENTINEL) } };
}

/** Every element of every buffer the args point into, to prove nothing was written. */
function snapshot(a: Args): { view: Float32Array; copy: Float32Array }[] {
  const out: { view: Float32Array; copy: Float32Array }[] = [];
  const opts = typeof a.options === 'object' && a.options !== null ? (a.options as Record<string, unknown>) : {};
  for (const v of [a.x, opts.out, opts.residual, opts.scaleOut]) {
    if (v instanceof Float32Array && v.buffer.byteLength > 0) {
      const whole = new Float32Array(v.buffer, 0, v.buffer.byteLength >> 2);
      out.push({ view: whole, copy: whole.slice() });
    }
  }
  return out;
}

function expectUntouched(snaps: { view: Float32Array; copy: Float32Array }[]): void {
  for (const s of snaps) {
    let changed = -1;
    for (let i = 0; i < s.view.length; i++) {
      if (!Object.is(s.view[i], s.copy[i])) {
        changed = i;
        break;
      }
    }
    expect(changed, 'a refused call wrote to a buffer it was given').toBe(-1);
  }
}

function expectMessage(err: unknown, cls: BadCase['cls'], fn: string, arg: string, contains?: string): void {
  expect(err).toBeInstanceOf(cls);
  const msg = (err as Error).message;
  expect(msg.startsWith(`${fn}: ${arg} must be `), msg).toBe(true);
  // Node's codes for the two kinds (lib/arg-errors.ts), and the argument as a property, for programs.
  expect(err, msg).toMatchObject({ code: cls === TypeError ? 'ERR_INVALID_ARG_TYPE' : 'ERR_OUT_OF_RANGE', argument: arg });
  expect(msg).toMatch(/; received .+/);
  if (contains !== undefined) expect(msg).toContain(contains);
}

function callArgs(a: Args): unknown[] {
  return [a.x, a.shape, a.weights, a.options];
}

async function expectValidCallWorks(op: OpDef, asyncMode: boolean): Promise<void> {
  const x = rand(NUMEL);
  const w = op.weights();
  const out = new Float32Array(NUMEL).fill(SENTINEL);
  const y = asyncMode ? await op.async(x, [...SHAPE], w, { device: 'cpu', out }) : op.sync(x, [...SHAPE], w, { device: 'cpu', out });
  expect(y).toBe(out);
  expectClose(out, op.reference(x, w), 1e-5, `${op.fnSync} ${seedNote(rng)}`);
}

describe.each(OPS)('$fnSync / $fnAsync refuse bad input', (op) => {
  const cases = CASES.filter(
    (c) => (c.ops === undefined || (c.ops as readonly string[]).includes(op.name)) && (!c.needsCuda || cuda.status().available),
  );

  test.each(cases)('sync: $label', (c) => {
    const a = validArgs(op);
    c.make(a, op);
    const snaps = snapshot(a);
    let caught: unknown;
    try {
      op.sync(...callArgs(a));
    } catch (err) {
      caught = err;
    }
    expect(caught, 'the call did not throw').toBeDefined();
    expectMessage(caught, c.cls, op.fnSync, c.arg, c.contains);
    expectUntouched(snaps);
  });

  test.each(cases)('async: $label (a rejected Promise, no synchronous throw)', async (c) => {
    const a = validArgs(op);
    c.make(a, op);
    const snaps = snapshot(a);
    let promise: unknown;
    expect(() => {
      promise = op.async(...callArgs(a));
    }).not.toThrow();
    expect(promise).toBeInstanceOf(Promise);
    let caught: unknown;
    try {
      await promise;
    } catch (err) {
      caught = err;
    }
    expect(caught, 'the Promise did not reject').toBeDefined();
    expectMessage(caught, c.cls, op.fnAsync, c.arg, c.contains);
    expectUntouched(snaps);
  });

  test('a valid call works after the refused ones (sync and async)', async () => {
    for (const c of cases) {
      const a = validArgs(op);
      c.make(a, op);
      try {
        op.sync(...callArgs(a));
      } catch {
        // refused, as the tests above check
      }
    }
    await expectValidCallWorks(op, false);
    await expectValidCallWorks(op, true);
  });

  test("device 'cuda' without CUDA is an Error carrying the status reason", async () => {
    const status = cuda.status();
    if (status.available) return; // exercised by the GPU suite instead
    const a = validArgs(op);
    a.options.device = 'cuda';
    const snaps = snapshot(a);
    let caught: unknown;
    try {
      op.sync(...callArgs(a));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    expect(caught).not.toBeInstanceOf(TypeError);
    expect(caught).not.toBeInstanceOf(RangeError);
    expect((caught as Error).message).toContain(status.reason ?? '<no reason>');
    await expect(op.async(...callArgs(a)) as Promise<unknown>).rejects.toThrow(status.reason ?? '<no reason>');
    expectUntouched(snaps);
  });
});

describe('ecaKernelSize', () => {
  test.each([
    [1, 3],
    [64, 3],
    [128, 5],
    [256, 5],
    [512, 5],
    [1024, 5],
    [2048, 7],
  ])('C = %i gives k = %i', (channels, k) => {
    expect(ecaKernelSize(channels)).toBe(k);
  });

  test('gamma and beta', () => {
    // t = floor(|log2(256) + 3| / 1) = 11 (odd)
    expect(ecaKernelSize(256, 1, 3)).toBe(11);
  });

  test.each([
    ['channels', [0], RangeError],
    ['channels', [-4], RangeError],
    ['channels', [1.5], RangeError],
    ['channels', [Number.NaN], RangeError],
    ['channels', ['64'], TypeError],
    ['gamma', [64, 0], RangeError],
    ['gamma', [64, Infinity], RangeError],
    ['gamma', [64, '2'], TypeError],
    ['beta', [64, 2, Number.NaN], RangeError],
    ['beta', [64, 2, null], TypeError],
  ] as const)('refuses bad %s %j', (arg, args, cls) => {
    let caught: unknown;
    try {
      (ecaKernelSize as unknown as Loose)(...args);
    } catch (err) {
      caught = err;
    }
    expectMessage(caught, cls, 'ecaKernelSize', arg);
  });
});

describe('blocks refuse bad input', () => {
  const se = OPS[0]!;
  const eca = OPS[1]!;
  const cbam = OPS[2]!;

  test('constructor: weights and options are checked once, with the block name', () => {
    const bad: [() => unknown, BadCase['cls'], string, string][] = [
      [() => new SEBlock(null as never), TypeError, 'new SEBlock', 'weights'],
      [() => new SEBlock({ ...se.weights(), b1: new Float32Array(3) } as never), RangeError, 'new SEBlock', 'weights.b1'],
      [() => new SEBlock(se.weights() as never, { layout: 'CHW' } as never), RangeError, 'new SEBlock', 'options.layout'],
      [() => new SEBlock(se.weights() as never, { residual: new Float32Array(1) } as never), RangeError, 'new SEBlock', 'options.residual'],
      [() => new SEBlock(se.weights() as never, { dtype: 'float64' } as never), RangeError, 'new SEBlock', 'options.dtype'],
      [
        () => new SEBlock({ w1: new Float32Array(HIDDEN * C), w2: new Float32Array(C * HIDDEN) }),
        RangeError,
        'new SEBlock',
        'options.channels',
      ],
      // A channels that the weights contradict is named, not a right weight (an audit, 2026-11-30).
      [() => new SEBlock({ w1: new Float32Array(16), w2: new Float32Array(16), b2: new Float32Array(8) }, { channels: 4 }), RangeError, 'new SEBlock', 'options.channels'],
      [() => new SEBlock({ w1: new Float32Array(16), w2: new Float32Array(16), b1: new Float32Array(2) }, { channels: 4 }), RangeError, 'new SEBlock', 'options.channels'],
      [() => new SEBlock({ w1: new Float32Array(16), w2: new Float32Array(16) }, { channels: 5 }), RangeError, 'new SEBlock', 'options.channels'],
      [() => new SEBlock({ w1: new Float32Array(16) }, { channels: 3 }), RangeError, 'new SEBlock', 'options.channels'],
      [
        () => new CBAMBlock({ ...cbam.weights(), b2: new Float32Array(C + 1) } as never, { channels: C }),
        RangeError,
        'new CBAMBlock',
        'options.channels',
      ],
      [() => new ECABlock({ weight: new Float32Array(2) }), RangeError, 'new ECABlock', 'weights.weight'],
      [() => new ECABlock(eca.weights() as never, { activation: 'relu' } as never), TypeError, 'new ECABlock', 'options'],
      [
        () => new CBAMBlock({ ...cbam.weights(), spatialWeight: new Float32Array(8) } as never),
        RangeError,
        'new CBAMBlock',
        'weights.spatialWeight',
      ],
      [() => new CBAMBlock(cbam.weights() as never, { device: 'tpu' } as never), RangeError, 'new CBAMBlock', 'options.device'],
    ];
    for (const [make, cls, fn, arg] of bad) {
      let caught: unknown;
      try {
        make();
      } catch (err) {
        caught = err;
      }
      expectMessage(caught, cls, fn, arg);
    }
  });

  test('forward: x, shape and per-call options are checked; a valid call matches the function', async () => {
    const w = se.weights();
    const block = new SEBlock(w as never, { device: 'cpu' });
    expect(block.channels).toBe(C);
    const out = new Float32Array(NUMEL).fill(SENTINEL);
    const bad: [() => unknown, BadCase['cls'], string][] = [
      [() => block.forward(new Float64Array(NUMEL) as never, SHAPE), TypeError, 'x'],
      [() => block.forward(rand(N * 4 * H * W), [N, 4, H, W], { out } as never), RangeError, 'shape[1] (C)'],
      [() => block.forward(rand(NUMEL), SHAPE, { out, layout: 'NHWC' } as never), RangeError, 'options.layout'], // fixed when the block is made
      [() => block.forward(rand(NUMEL), SHAPE, { out, scaleOut: new Float32Array(1) }), RangeError, 'options.scaleOut'],
    ];
    for (const [call, cls, arg] of bad) {
      let caught: unknown;
      try {
        call();
      } catch (err) {
        caught = err;
      }
      expectMessage(caught, cls, 'SEBlock.forward', arg);
    }
    expect(out.every((v) => v === SENTINEL)).toBe(true);
    const rejected = block.forwardAsync(rand(NUMEL), [N, C, H] as never);
    expect(rejected).toBeInstanceOf(Promise);
    await rejected.then(
      () => expect.unreachable('forwardAsync resolved with a bad shape'),
      (err: unknown) => expectMessage(err, RangeError, 'SEBlock.forwardAsync', 'shape'),
    );

    const x = rand(NUMEL);
    const viaBlock = block.forward(x, SHAPE, { out });
    expect(viaBlock).toBe(out);
    expectClose(out, se.reference(x, w), 1e-5, `SEBlock.forward ${seedNote(rng)}`);
    const viaAsync = await block.forwardAsync(x, SHAPE);
    expectClose(viaAsync, se.reference(x, w), 1e-5, `SEBlock.forwardAsync ${seedNote(rng)}`);

    block.dispose();
    block.dispose(); // idempotent
    expect(block.disposed).toBe(true);
    expect(() => block.forward(x, SHAPE)).toThrow(/SEBlock.*disposed/);
  });

  test('a block keeps its own copy of the weights', () => {
    const w = eca.weights();
    const block = new ECABlock(w as never, { device: 'cpu' });
    const x = rand(NUMEL);
    const before = block.forward(x, SHAPE);
    w.weight!.fill(100);
    const after = block.forward(x, SHAPE);
    expect(Array.from(after)).toEqual(Array.from(before));
  });
});

describe('DeviceTensor refuses bad input', () => {
  test('fromPointer arguments', () => {
    const bad: [() => unknown, BadCase['cls'], string][] = [
      [() => DeviceTensor.fromPointer(4096 as never, SHAPE), TypeError, 'ptr'],
      [() => DeviceTensor.fromPointer(0n, SHAPE), RangeError, 'ptr'],
      [() => DeviceTensor.fromPointer(1n << 64n, SHAPE), RangeError, 'ptr'],
      [() => DeviceTensor.fromPointer(0x1000n, [N, C, H] as never), RangeError, 'shape'],
      [() => DeviceTensor.fromPointer(0x1000n, SHAPE, { dtype: 'half' } as never), RangeError, 'options.dtype'],
      [() => DeviceTensor.fromPointer(0x1000n, SHAPE, { layout: 'CHWN' } as never), RangeError, 'options.layout'],
      [() => DeviceTensor.fromPointer(0x1000n, SHAPE, { device: -1 }), RangeError, 'options.device'],
      [() => DeviceTensor.fromPointer(0x1000n, SHAPE, { byteLength: NUMEL * 4 - 1 }), RangeError, 'options.byteLength'],
      [() => DeviceTensor.fromPointer(0x1000n, SHAPE, { stream: 0n } as never), TypeError, 'options'],
    ];
    for (const [call, cls, arg] of bad) {
      let caught: unknown;
      try {
        call();
      } catch (err) {
        caught = err;
      }
      expectMessage(caught, cls, 'DeviceTensor.fromPointer', arg);
    }
  });

  test('from and empty check their arguments before needing CUDA', () => {
    const bad: [() => unknown, BadCase['cls'], string, string][] = [
      [() => DeviceTensor.from(new Float64Array(NUMEL) as never, SHAPE), TypeError, 'DeviceTensor.from', 'data'],
      [() => DeviceTensor.from([1, 2] as never, SHAPE), TypeError, 'DeviceTensor.from', 'data'],
      [() => DeviceTensor.from(detached(NUMEL), SHAPE), TypeError, 'DeviceTensor.from', 'data'],
      [() => DeviceTensor.from(new Float32Array(NUMEL - 1), SHAPE), RangeError, 'DeviceTensor.from', 'data'],
      // A type error too (test/types/errors.ts): raw half bits need a half dtype.
      [() => DeviceTensor.from(new Uint16Array(NUMEL) as never, SHAPE), RangeError, 'DeviceTensor.from', 'options.dtype'],
      [() => DeviceTensor.from(new Float32Array(NUMEL), SHAPE, { dtype: 'int8' } as never), RangeError, 'DeviceTensor.from', 'options.dtype'],
      [() => DeviceTensor.empty([-1, C, H, W]), RangeError, 'DeviceTensor.empty', 'shape[0] (N)'],
      [() => DeviceTensor.empty([1, 0, H, W]), RangeError, 'DeviceTensor.empty', 'shape[1] (C)'],
      [() => DeviceTensor.empty(SHAPE, { device: 1.5 }), RangeError, 'DeviceTensor.empty', 'options.device'],
    ];
    for (const [call, cls, fn, arg] of bad) {
      let caught: unknown;
      try {
        call();
      } catch (err) {
        caught = err;
      }
      expectMessage(caught, cls, fn, arg);
    }
  });

  // Node 24+ has Float16Array: its bytes are the float16 bits a Uint16Array view passes as they are.
  const hasFloat16 = typeof (globalThis as { Float16Array?: unknown }).Float16Array === 'function';
  test.skipIf(noteSkip(!hasFloat16, 'validation: the Float16Array hint', `Node ${process.versions.node} has no Float16Array (Node 24+)`))('a Float16Array for from is refused with the zero-copy Uint16Array view as the fix', () => {
    const F16 = (globalThis as unknown as { Float16Array: new (n: number) => ArrayBufferView }).Float16Array;
    let err: unknown;
    try {
      DeviceTensor.from(new F16(NUMEL) as never, SHAPE, { dtype: 'float16' });
    } catch (e) {
      err = e;
    }
    expectMessage(err, TypeError, 'DeviceTensor.from', 'data');
    expect((err as Error).message).toContain("For dtype 'float16', a Float16Array's bytes are its raw bits: pass new Uint16Array(value.buffer, value.byteOffset, value.length) (no copy); for another dtype, Float32Array.from(value)");
  });

  // A newcomer's check (2026-12-03): the half decoders said only "received a Float16Array".
  test.skipIf(noteSkip(!hasFloat16, 'validation: the Float16Array hint of the half decoders', `Node ${process.versions.node} has no Float16Array (Node 24+)`))('a Float16Array for the half decoders says it needs no decoding', () => {
    const F16 = (globalThis as unknown as { Float16Array: new (n: number) => ArrayBufferView }).Float16Array;
    const cases: [(v: never) => unknown, string, string][] = [
      [float16BitsToFloat32 as never, 'float16BitsToFloat32', 'A Float16Array holds float16 values already: Float32Array.from(value) converts them'],
      [bfloat16BitsToFloat32 as never, 'bfloat16BitsToFloat32', 'A Float16Array holds float16 values, not bfloat16 bits: Float32Array.from(value) converts them'],
    ];
    for (const [fn, name, hint] of cases) {
      let err: unknown;
      try {
        fn(new F16(2) as never);
      } catch (e) {
        err = e;
      }
      expectMessage(err, TypeError, name, 'bits');
      expect((err as Error).message).toContain(hint);
    }
  });

  // A newcomer's check (2026-12-05): an Array of bit patterns was the one Array refusal with no fix.
  test('an Array of bit patterns for the half decoders says Uint16Array.from(value)', () => {
    for (const [fn, name] of [[float16BitsToFloat32, 'float16BitsToFloat32'], [bfloat16BitsToFloat32, 'bfloat16BitsToFloat32']] as const) {
      let err: unknown;
      try {
        fn([15360, 16256] as never);
      } catch (e) {
        err = e;
      }
      expectMessage(err, TypeError, name, 'bits');
      expect((err as Error).message).toContain('received an Array of length 2. To convert an Array of bit patterns: Uint16Array.from(value)');
    }
  });

  test('from without CUDA is an Error carrying the status reason', () => {
    const status = cuda.status();
    if (status.available) return;
    expect(() => DeviceTensor.from(new Float32Array(NUMEL), SHAPE)).toThrow(status.reason ?? '<no reason>');
  });

  test('fromPointer without CUDA is refused at once, with the reason and a code', () => {
    const status = cuda.status();
    if (status.available) return;
    let caught: unknown;
    try {
      DeviceTensor.fromPointer(0x2000n, SHAPE);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    expect((caught as { code?: string }).code).toBe('ERR_SQEX_CUDA_UNAVAILABLE');
    expect((caught as Error).message).toContain(status.reason ?? '<no reason>');
  });

  test.skipIf(noteSkip(!cuda.status().available, 'validation: DeviceTensor use after dispose', cuda.status().reason ?? 'no usable GPU'))('use after dispose names the tensor; double dispose is a no-op; borrowed memory is never freed', async () => {
    const t = DeviceTensor.fromPointer(0x2000n, SHAPE, { dtype: 'float16', layout: 'NHWC' });
    expect(t.owned).toBe(false);
    expect(t.byteLength).toBe(NUMEL * 2);
    expect(t.ptr).toBe(0x2000n);
    t.dispose();
    t.dispose();
    expect(t.disposed).toBe(true);
    const named = /DeviceTensor float16 NHWC \[2, 8, 3, 5\] on cuda:0/;
    expect(() => t.ptr).toThrow(named);
    expect(() => t.toHostSync()).toThrow(named);
    await expect(t.toHost()).rejects.toThrow(named);
    await expect(t.toFloat32()).rejects.toThrow(named);
    const u = DeviceTensor.fromPointer(0x3000n, SHAPE);
    const dispose = (u as unknown as Record<symbol, () => void>)[Symbol.dispose ?? Symbol.for('nodejs.dispose')];
    expect(typeof dispose).toBe('function');
    dispose!.call(u);
    expect(u.disposed).toBe(true);
  });
});

describe('refusals that have a standard fix name it', () => {
  const x = new Float32Array(NUMEL).fill(0.5);
  const w = { w1: new Float32Array(2 * C).fill(0.1), w2: new Float32Array(C * 2).fill(0.1) };
  const messageOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      return (err as Error).message;
    }
    return '(did not throw)';
  };

  test('a Float64Array weight: convert with Float32Array.from', () => {
    expect(messageOf(() => seForward(x, SHAPE, { ...w, w1: new Float64Array(2 * C) } as never))).toMatch(
      /^seForward: weights\.w1 must be a Float32Array; received a Float64Array of length 16\. .*Float32Array\.from\(value\)/,
    );
  });

  test('a Node Buffer: how to view its bytes as a Float32Array', () => {
    expect(messageOf(() => seForward(Buffer.from(x.buffer) as never, SHAPE, w))).toMatch(
      /new Float32Array\(buf\.buffer, buf\.byteOffset, buf\.byteLength \/ 4\)/,
    );
  });

  test('a 3-D shape: add the batch axis', () => {
    expect(messageOf(() => seForward(x, [C, H, W] as never, w))).toMatch(/\[1, C, H, W\]/);
  });

  test('a misspelt option: the nearest known key', () => {
    expect(messageOf(() => seForward(x, SHAPE, w, { layot: 'NHWC' } as never))).toMatch(/unknown key "layot" \(did you mean 'layout'\?\)/);
  });
});

// Found by an attack (2026-11-30): Array.isArray, instanceof and getPrototypeOf throw on a revoked
// Proxy, and describe() probed the value while building the message: the caller got V8's uncoded
// TypeError instead of the argument error.
// From an attack (2026-12-02): an option's getter that threw escaped as the caller's bare Error.
describe("an option's getter that throws is a coded TypeError naming the option", () => {
  test('seForward options.layout, and readSafetensors options.names', () => {
    const x = new Float32Array(2 * 8 * 4 * 4);
    const w = { w1: new Float32Array(2 * 8).fill(0.1), w2: new Float32Array(8 * 2).fill(0.1) };
    const out = new Float32Array(x.length).fill(7);
    const boom = new Error('boom');
    const opts = {
      out,
      get layout(): string {
        throw boom;
      },
    };
    let err: unknown;
    try {
      seForward(x, [2, 8, 4, 4], w, opts as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TypeError);
    expect(err).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', argument: 'options.layout', cause: boom });
    expect(out.every((v) => v === 7)).toBe(true);
    // A valid file with no tensors: the header '{}' padded to 8 bytes.
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, 8n, true);
    bytes.set(new TextEncoder().encode('{}      '), 8);
    expect(readSafetensors(bytes)).toBeDefined();
    let err2: unknown;
    try {
      readSafetensors(bytes, {
        get names(): string[] {
          throw boom;
        },
      } as never);
    } catch (e) {
      err2 = e;
    }
    expect(err2).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', argument: 'options.names', cause: boom });
  });
});

// From an attack (2026-12-02): a hole in the shape array was read through Array.prototype.
describe('a hole in the shape is refused, whatever Array.prototype holds', () => {
  test('seForward(x, [2, 8, 4, , ]) with Array.prototype[3] = 4', () => {
    const x = new Float32Array(2 * 8 * 4 * 4);
    const w = { w1: new Float32Array(2 * 8).fill(0.1), w2: new Float32Array(8 * 2).fill(0.1) };
    // eslint-disable-next-line no-sparse-arrays
    const shape = [2, 8, 4, , ] as unknown as [number, number, number, number];
    const proto = Array.prototype as unknown as Record<number, unknown>;
    proto[3] = 4;
    let err: unknown;
    try {
      seForward(x, shape, w);
    } catch (e) {
      err = e;
    } finally {
      delete proto[3];
    }
    expect(err).toBeInstanceOf(TypeError);
    expect(err).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', argument: 'shape[3] (W)' });
  });
});

describe('a revoked Proxy in any argument is a coded TypeError naming it', () => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  const x8 = new Float32Array(NUMEL);
  const sw = { w1: new Float32Array(HIDDEN * C), w2: new Float32Array(C * HIDDEN) };
  test.each([
    ['seForward x', 'x', () => seForward(proxy as never, SHAPE, sw)],
    ['seForward shape', 'shape', () => seForward(x8, proxy as never, sw)],
    ['seForward weights', 'weights', () => seForward(x8, SHAPE, proxy as never)],
    ['seForward options', 'options', () => seForward(x8, SHAPE, sw, proxy as never)],
    ['ecaForward weights.weight', 'weights.weight', () => ecaForward(x8, SHAPE, { weight: proxy as never })],
    ['new SEBlock weights', 'weights', () => new SEBlock(proxy as never)],
    ['SEBlock.fromStateDict tensors', 'tensors', () => SEBlock.fromStateDict(proxy as never, 'm', { kind: 'timm.SEModule' })],
    ['SEBlock.fromStateDict options', 'options', () => SEBlock.fromStateDict({}, 'm', proxy as never)],
  ] as const)('%s', (_what, argument, call) => {
    expect(call).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument }));
  });
  test('seForwardAsync rejects the same way', async () => {
    await expect(seForwardAsync(proxy as never, SHAPE, sw)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', argument: 'x' });
  });
});

// From an attack (2026-11-30): a Proxy of a Float32Array was refused as "must be a Float32Array
// …; received a Float32Array instance", which reads as a contradiction.
describe('an object posing as a typed array is described as one that is not', () => {
  const w = { w1: new Float32Array(HIDDEN * C), w2: new Float32Array(C * HIDDEN) };
  test.each([
    ['a Proxy of a Float32Array', new Proxy(new Float32Array(NUMEL), {})],
    ['Object.create(Float32Array.prototype)', Object.create(Float32Array.prototype) as unknown],
  ])('%s', (_what, fake) => {
    expect(() => seForward(fake as never, SHAPE, w)).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_ARG_TYPE',
        argument: 'x',
        message: expect.stringContaining('received an object posing as a Float32Array (a Proxy of one, or an object made from its prototype), not one itself'),
      }),
    );
  });
});

// From an attack (2026-11-30): { device: 'cpu', deviceIndex: 99 } was accepted silently. Also a
// type error now (test/types/errors.ts), hence the casts.
describe("deviceIndex with device 'cpu' is refused by name", () => {
  const w = { w1: new Float32Array(HIDDEN * C), w2: new Float32Array(C * HIDDEN) };
  test.each([
    ['seForward', () => seForward(new Float32Array(NUMEL), SHAPE, w, { device: 'cpu', deviceIndex: 0 } as never)],
    ['new SEBlock', () => new SEBlock(w, { device: 'cpu', deviceIndex: 99 } as never)],
  ] as const)('%s', (_what, call) => {
    expect(call).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: 'options.deviceIndex' }));
  });
});

// From an attack with hardened runtimes (2026-11-30): objects made in another realm (a vm
// context, where a sandboxed caller's `{}` and `new Map()` come from) were refused with "must be a
// plain object; received an Object instance". They are plain objects and Maps: accepted, read the
// same way (own enumerable keys; Map.prototype.forEach), the same bits as this realm's.
describe('options, weights and state dicts from another realm (vm context)', () => {
  const ctx = createContext({});
  test('seForward and a block take another realm\'s plain objects; results equal bit for bit', () => {
    const w1 = new Float32Array(HIDDEN * C).map((_, i) => Math.sin(i) / 4);
    const w2 = new Float32Array(C * HIDDEN).map((_, i) => Math.cos(i) / 4);
    const x = rand(NUMEL);
    const weights = runInContext('({})', ctx) as { w1: Float32Array; w2: Float32Array };
    weights.w1 = w1;
    weights.w2 = w2;
    const options = runInContext("({ device: 'cpu', gate: 'hardsigmoid' })", ctx) as object;
    const blockOptions = runInContext(`({ device: 'cpu', gate: 'hardsigmoid', channels: ${C} })`, ctx) as object;
    const mine = seForward(x, SHAPE, { w1, w2 }, { device: 'cpu', gate: 'hardsigmoid' });
    expect(bitsEqual(seForward(x, SHAPE, weights, options as never), mine)).toBe(true);
    expect(bitsEqual(new SEBlock(weights, blockOptions as never).forward(x, SHAPE), mine)).toBe(true);
  });

  test('fromStateDict takes another realm\'s Map; a Proxy of a Map and an object posing as Object.prototype stay refused', () => {
    const m = runInContext('new Map()', ctx) as Map<string, { shape: number[]; data: Float32Array }>;
    m.set('se.fc1.weight', { shape: [HIDDEN, C, 1, 1], data: new Float32Array(HIDDEN * C).fill(0.25) });
    m.set('se.fc2.weight', { shape: [C, HIDDEN, 1, 1], data: new Float32Array(C * HIDDEN).fill(0.25) });
    expect(SEBlock.fromStateDict(m, 'se', { kind: 'timm.SEModule', device: 'cpu' }).channels).toBe(C);
    expect(() => SEBlock.fromStateDict(new Proxy(new Map(m), {}) as never, 'se', { kind: 'timm.SEModule' })).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }),
    );
    const posing = Object.create(Object.create(null, { constructor: { value: function Object(): void {} } })) as object;
    expect(() => seForward(rand(NUMEL), SHAPE, posing as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'weights' }));
  });
});


// From an attack (2026-12-01): Object.keys on a Proxy whose ownKeys trap breaks the object rules
// (a key listed twice), and any read of a revoked Proxy nested in a state dict or a
// SafetensorsFile, threw V8's uncoded TypeError; so did a SafetensorsFile method called on null.
describe('hostile objects the first check lets through are coded TypeErrors too', () => {
  const revoked = (): object => {
    const r = Proxy.revocable({}, {});
    r.revoke();
    return r.proxy;
  };
  const dupKeys = (): object => new Proxy({}, { ownKeys: () => ['layout', 'layout'] });
  const x8 = new Float32Array(NUMEL);
  const ew = { weight: Float32Array.of(1, 2, 3) };
  const L = (f: unknown) => f as Loose;
  test.each([
    ['ecaForward options (duplicate ownKeys)', 'options', () => ecaForward(x8, SHAPE, ew, dupKeys() as never)],
    ['seForward weights (duplicate ownKeys)', 'weights', () => seForward(x8, SHAPE, dupKeys() as never)],
    ['new ECABlock options (duplicate ownKeys)', 'options', () => new ECABlock(ew, dupKeys() as never)],
    ['readSafetensors options (duplicate ownKeys)', 'options', () => L(readSafetensors)(new Uint8Array(16), dupKeys())],
    ['attentionWeightsFromStateDict, a revoked entry', "tensors['conv.weight']", () => attentionWeightsFromStateDict({ 'conv.weight': revoked() } as never, '', { kind: 'timm.EcaModule' })],
    ['attentionWeightsFromStateDict, a revoked entry in a Map', "tensors['conv.weight']", () => attentionWeightsFromStateDict(new Map([['conv.weight', revoked()]]) as never, '', { kind: 'timm.EcaModule' })],
    ['attentionWeightsFromStateDict, a record with duplicate ownKeys', 'tensors', () => attentionWeightsFromStateDict(dupKeys() as never, '', { kind: 'timm.EcaModule' })],
    ['new SafetensorsFile, a revoked header', 'header', () => new SafetensorsFile(revoked() as never, {})],
    ['new SafetensorsFile, revoked tensors', 'tensors', () => new SafetensorsFile({ tensors: [] } as never, revoked() as never)],
    ['SafetensorsFile.names, a revoked tensor info', 'this.header.tensors[0]', () => new SafetensorsFile({ tensors: [revoked()] } as never, {}).names()],
    ['SafetensorsFile.get on null', 'this', () => L(SafetensorsFile.prototype.get).call(null, 'a')],
    ['SafetensorsFile.metadata on null', 'this', () => Reflect.getOwnPropertyDescriptor(SafetensorsFile.prototype, 'metadata')!.get!.call(null)],
    ['findAttentionModules, a revoked tensor info', 'source.tensors[0]', () => findAttentionModules({ tensors: [revoked()] } as never)],
    ['findAttentionModules, a revoked source', 'source', () => findAttentionModules(revoked() as never)],
  ] as const)('%s', (_what, argument, call) => {
    expect(call).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument }));
  });
  test('the message names the argument and says the properties could not be read; cause is the original', () => {
    let err: unknown;
    try {
      ecaForward(x8, SHAPE, ew, dupKeys() as never);
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toMatch(/^ecaForward: options must be .*whose properties could not be read: .*ownKeys/);
    expect((err as { cause?: unknown }).cause).toBeInstanceOf(TypeError);
  });
});

// From a newcomer's review (2026-12-01): misspelt option values got no suggestion (keys did), and
// a channels-last shape [N, H, W, C] passed as the shape gave a weight error with no word about
// the layout.
describe('messages for the usual mix-ups', () => {
  const x = new Float32Array(2 * 6 * 5 * 4);
  const w = { w1: new Float32Array(2 * 4), w2: new Float32Array(4 * 2) };
  test.each([
    [{ layout: 'nchw' }, "options.layout", "(did you mean 'NCHW'?)"],
    [{ gate: 'hard-sigmoid' }, 'options.gate', "(did you mean 'hardsigmoid'?)"],
    [{ activation: 'SiLU' }, 'options.activation', "(did you mean 'silu'?)"],
  ])('%j: the nearest allowed value', (options, argument, hint) => {
    expect(() => seForward(new Float32Array(NUMEL), SHAPE, { w1: new Float32Array(HIDDEN * C), w2: new Float32Array(C * HIDDEN) }, options as never)).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', argument, message: expect.stringContaining(hint) }),
    );
  });
  test('NHWC with the memory order as the shape: the weight error says shapes are [N, C, H, W]', () => {
    expect(() => seForward(x, [2, 6, 5, 4], w, { layout: 'NHWC' })).toThrow(
      expect.objectContaining({
        code: 'ERR_OUT_OF_RANGE',
        argument: 'weights.w1',
        message: expect.stringContaining('shape is [N, C, H, W] in every layout: for channels-last data of C = 4, pass [2, 4, 6, 5], not the memory order [N, H, W, C]'),
      }),
    );
    // NCHW, a map that is not square: the advice as a condition (the weights fit C = 4 = shape[3];
    // a plain NCHW x whose W happens to be that C must not be told it is in memory order).
    expect(() => seForward(x, [2, 6, 5, 4], w)).toThrow(
      expect.objectContaining({
        argument: 'weights.w1',
        message: expect.stringContaining("If x is channels-last data of C = 4 (the memory order [N, H, W, C]), pass the shape [2, 4, 6, 5] with options.layout 'NHWC': shape is [N, C, H, W] in every layout"),
      }),
    );
    expect(() => seForward(x, [2, 6, 5, 4], w)).toThrow(expect.objectContaining({ message: expect.not.stringContaining('not the memory order') }));
    // Weights that do not fit shape[3] either: no hint (they are simply wrong).
    const w3 = { w1: new Float32Array(10), w2: new Float32Array(10) };
    expect(() => seForward(x, [2, 6, 5, 4], w3)).toThrow(expect.objectContaining({ message: expect.not.stringContaining('channels-last') }));
  });
  // From a newcomer's check (2026-12-05): x [2, 64, 7, 9] in channels-last memory passed as
  // [2, 7, 9, 64] with weights that have no biases blamed w1 without a word on the layout (with
  // biases the shape was named). The no-bias weights fit C = 64 = shape[3]: the hint says so.
  test('NCHW, a 7×9 map in memory order, weights without biases: the w1 refusal gives the layout as a condition', () => {
    const x64 = new Float32Array(2 * 7 * 9 * 64);
    const w64 = { w1: new Float32Array(4 * 64), w2: new Float32Array(64 * 4) };
    expect(() => seForward(x64, [2, 7, 9, 64], w64)).toThrow(
      expect.objectContaining({
        code: 'ERR_OUT_OF_RANGE',
        argument: 'weights.w1',
        message: expect.stringContaining("multiple of C = 7; received a Float32Array of length 256. If x is channels-last data of C = 64 (the memory order [N, H, W, C]), pass the shape [2, 64, 7, 9] with options.layout 'NHWC'"),
      }),
    );
    expect(() => cbamForward(x64, [2, 7, 9, 64], { ...w64, spatialWeight: new Float32Array(2 * 7 * 7) })).toThrow(
      expect.objectContaining({ argument: 'weights.w1', message: expect.stringContaining('If x is channels-last data of C = 64') }),
    );
    // Single-FC SE (w1 [C, C], b1 [C]; an attack found it without the hint).
    for (const single of [{ w1: new Float32Array(64 * 64) }, { w1: new Float32Array(64 * 64), b1: new Float32Array(64) }]) {
      expect(() => seForward(x64, [2, 7, 9, 64], single)).toThrow(
        expect.objectContaining({ argument: 'weights.w1', message: expect.stringContaining("(C × C = 7 × 7: single-FC SE, w2 omitted); received a Float32Array of length 4096. If x is channels-last data of C = 64 (the memory order [N, H, W, C]), pass the shape [2, 64, 7, 9] with options.layout 'NHWC'") }),
      );
    }
    // Weights that fit no C the shape names get no layout advice, in NHWC and for square maps too
    // (a review: following the advice met another refusal); nor do weights with an empty bias.
    const F = (n: number): Float32Array => new Float32Array(n);
    for (const [what, call] of [
      ['NHWC', () => seForward(F(2 * 64 * 7 * 9), [2, 64, 7, 9], { w1: F(155), w2: F(155) }, { layout: 'NHWC' })],
      ['a square map', () => seForward(F(2 * 8 * 8 * 64), [2, 8, 8, 64], { w1: F(155), w2: F(155) })],
      ['an empty b2', () => seForward(x64, [2, 7, 9, 64], { ...w64, b2: F(0) })],
    ] as const) {
      expect(call, what).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.not.stringContaining('memory order') }));
    }
    // A single-FC b1 of another C: no hint (the weights do not fit shape[3] either).
    expect(() => seForward(x64, [2, 7, 9, 64], { w1: new Float32Array(64 * 64), b1: new Float32Array(63) })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('channels-last') }),
    );
  });
  // From a newcomer's trial (2026-12-01): a C = 32 shape with a C = 64 block's weights was told
  // weights.b1 had the wrong length, for a hidden derived from the wrong C. A review then found
  // one wrong bias blamed on a right shape: only both biases agreeing on another C name the shape.
  test('weights for another C: both biases agreeing name shape[1] (C); one bias is named with the other C as a hint', () => {
    const F = (n: number): Float32Array => new Float32Array(n);
    const shape32 = [4, 32, 28, 14] as const;
    const x32 = F(4 * 32 * 28 * 14);
    const c64 = { w1: F(16 * 64), b1: F(16), w2: F(64 * 16), b2: F(64) };
    for (const [what, call] of [
      ['SE', () => seForward(x32, shape32, c64)],
      ['CBAM', () => cbamForward(x32, shape32, { ...c64, spatialWeight: F(2 * 7 * 7) })],
    ] as const) {
      expect(call, what).toThrow(
        expect.objectContaining({
          code: 'ERR_OUT_OF_RANGE',
          argument: 'shape[1] (C)',
          message: expect.stringContaining('shape[1] (C) must be 64, the C the weights are for (weights.b2 has 64 elements, and w1, b1 and w2 agree); received 32. Either the shape is wrong'),
        }),
      );
    }
    // b1 alone agreeing on C = 64: b1 is named, with the shape as the other explanation.
    expect(() => seForward(x32, shape32, { w1: c64.w1, b1: c64.b1, w2: c64.w2 })).toThrow(
      expect.objectContaining({ argument: 'weights.b1', message: expect.stringContaining('or shape[1] (C) = 32 is wrong: these weights fit C = 64); received a Float32Array of length 16') }),
    );
    // A right shape [2, 64, 4, 4] with one wrong bias: the bias is named, never the shape.
    const shape64 = [2, 64, 4, 4] as const;
    const x64 = F(2 * 64 * 16);
    const cases: [string, Record<string, Float32Array>, string, string][] = [
      ["fc1's bias passed as b2", { w1: c64.w1, w2: c64.w2, b2: F(16) }, 'weights.b2', 'or shape[1] (C) = 64 is wrong: these weights fit C = 16'],
      ['b1 of the wrong length', { w1: c64.w1, b1: F(32), w2: c64.w2 }, 'weights.b1', 'or shape[1] (C) = 64 is wrong: these weights fit C = 32'],
      ['b1 and b2 swapped', { w1: c64.w1, b1: F(64), w2: c64.w2, b2: F(16) }, 'weights.b1', 'weights.b1 and weights.b2 look swapped (b1 has C elements, b2 hidden)'],
    ];
    for (const [what, w, argument, hint] of cases) {
      expect(() => seForward(x64, shape64, w as never), what).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', argument, message: expect.stringContaining(hint) }));
    }
    // Weights that do not agree among themselves still name the weight that is off.
    expect(() => seForward(x32, shape32, { ...c64, b1: F(17) })).toThrow(expect.objectContaining({ argument: 'weights.b1' }));
  });
  test('fromStateDict without options names options.kind and its values', () => {
    expect(() => (SEBlock.fromStateDict as (...a: unknown[]) => unknown)({}, 'layer1.0.se')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', argument: 'options', message: expect.stringMatching(/at least options\.kind, one of 'timm\.SEModule'.*npx squeeze-excite inspect/) }),
    );
  });
});

// From an attack with objects of other realms and exotic objects (2026-12-04): options defined as
// non-enumerable own properties were ignored (a new array returned, out untouched, a misspelt key
// let through); refusals called a Proxy of a Map or Object.create(Array.prototype) "a Map / an
// Array instance", a Proxy whose getPrototypeOf trap throws "made by Object.create(proto)", and let
// a Proxy's get trap see a private symbol and choose the words; an array-like shape got the hint
// for options passed in the shape's place.
describe('non-enumerable options and exotic objects in refusals', () => {
  const w = { w1: new Float32Array(HIDDEN * C).fill(0.1), w2: new Float32Array(C * HIDDEN).fill(-0.1) };
  test('a non-enumerable own option is read like any other; an unknown non-enumerable key (a framework\'s) is passed over', () => {
    const x = rand(NUMEL);
    const out = new Float32Array(NUMEL).fill(NaN);
    const options = Object.defineProperty({}, 'out', { value: out });
    const y = seForward(x, SHAPE, w, options as never);
    expect(y).toBe(out);
    expect(bitsEqual(out, seForward(x, SHAPE, w))).toBe(true);
    const weights = Object.defineProperty({ w1: w.w1 }, 'w2', { value: w.w2 });
    expect(bitsEqual(seForward(x, SHAPE, weights as never), seForward(x, SHAPE, w))).toBe(true);
    // Vue 2's observe() adds a non-enumerable __ob__, Vue 3's markRaw a __v_skip (a review,
    // 2026-12-04: refused once every own key was read); an enumerable unknown key stays refused.
    const held = Object.defineProperty({ ...w }, '__ob__', { value: { dep: {} } });
    const raw = Object.defineProperty({ layout: 'NCHW' }, '__v_skip', { value: true });
    expect(bitsEqual(seForward(x, SHAPE, held as never, raw as never), seForward(x, SHAPE, w))).toBe(true);
    expect(() => seForward(x, SHAPE, w, { lyout: 'NHWC' } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', argument: 'options', message: expect.stringContaining('the unknown key "lyout"') }));
  });

  test('objects posing as an Array or a Map are described as such; a real Map is not', () => {
    expect(() => seForward(rand(NUMEL), Object.create(Array.prototype) as never, w)).toThrow(
      /shape must be .*; received an object posing as an Array \(a Proxy of one, or an object made from its prototype\), not one itself/,
    );
    for (const posing of [new Proxy(new Map(), {}), Object.create(Map.prototype) as object]) {
      expect(() => SEBlock.fromStateDict(posing as never, 'se', { kind: 'timm.SEModule' })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', argument: 'tensors', message: expect.stringMatching(/received an object posing as a Map \(a Proxy of one/) }),
      );
    }
    expect(() => seForward(rand(NUMEL), SHAPE, w, new Map() as never)).toThrow(/options must be .*; received a Map instance$/);
  });

  test('a class of the same name from another library is not called another copy of squeeze-excite', () => {
    class SafetensorsFile {
      header = {};
    }
    expect(() => SEBlock.fromStateDict(new SafetensorsFile() as never, 'se', { kind: 'timm.SEModule' })).toThrow(/received a SafetensorsFile instance$/);
  });

  test('describing a refused object reads a Proxy\'s prototype once, and a plain object\'s constructor not at all', () => {
    const reads: string[] = [];
    const proxy = new Proxy({}, {
      getPrototypeOf(t) {
        reads.push('getPrototypeOf');
        return Reflect.getPrototypeOf(t);
      },
    });
    expect(() => seForward(proxy as never, SHAPE, w)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', argument: 'x' }));
    expect(reads).toEqual(['getPrototypeOf']);
    const plain = Object.defineProperty({}, 'constructor', { get: () => { reads.push('constructor'); return Object; } });
    expect(() => seForward(plain as never, SHAPE, w)).toThrow(/x must be a Float32Array or a DeviceTensor; received an object$/);
    expect(reads).toEqual(['getPrototypeOf']);
  });

  test("a Proxy's traps neither see the private describe key nor pass for a plain object", () => {
    const symbols: symbol[] = [];
    const liar = new Proxy({}, {
      get(_t, k) {
        if (typeof k === 'symbol') {
          symbols.push(k);
          return () => 'a Float32Array of length 240';
        }
        return undefined;
      },
    });
    expect(() => seForward(liar as never, SHAPE, w)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', argument: 'x', message: expect.not.stringContaining('a Float32Array of length 240') }));
    expect(symbols).toEqual([]);
    const throwingProto = new Proxy({}, { getPrototypeOf() { throw new Error('trap'); } });
    expect(() => seForward(rand(NUMEL), SHAPE, w, throwingProto as never)).toThrow(/options must be .*; received a Proxy or exotic object$/);
  });

  test('a view of a WebAssembly.Memory that grew is described as detached by either cause', () => {
    // The test types (@types/node, no DOM lib) declare WebAssembly's types but not its value.
    const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer; grow(pages: number): number } } }).WebAssembly;
    const memory = new wasm.Memory({ initial: 1 });
    const x = new Float32Array(memory.buffer, 0, NUMEL);
    memory.grow(1);
    expect(() => seForward(x, SHAPE, w)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', argument: 'x', message: expect.stringContaining('whose buffer is detached (transferred, or the WebAssembly.Memory it viewed grew)') }));
  });

  test('an array-like shape gets the Array.from hint, options in its place the other one', () => {
    const arrayLike = { 0: N, 1: C, 2: H, 3: W, length: 4 };
    expect(() => seForward(rand(NUMEL), arrayLike as never, w)).toThrow(/received an object\. To pass an array-like shape: Array\.from\(shape\)$/);
    expect(() => seForward(rand(NUMEL), { layout: 'NCHW' } as never, w)).toThrow(/An object came where the shape goes/);
  });
});
