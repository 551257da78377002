// An emulation of the CUDA half of the native binding over host memory, so that the CUDA path of
// the TypeScript layer (DeviceTensor, the functions with DeviceTensors, the blocks on CUDA) runs
// in CI on machines without a GPU. See test/device-contract.test.ts.
//
// What it mirrors from native/binding (addon.cpp, cuda_exports.cpp, convert.cpp) and native/cuda (device.cpp, forward.cpp, memory.cpp):
//   - the argument re-checks, with the same error classes and messages: ParseCfg, ExpectedSlots,
//     ParseDevicePtrs (byte lengths), ParseHostOperands (weights only), DeviceArg, BigIntToU64,
//     the cudaAlloc byte count (a positive integer: 0 bytes is a RangeError, as natively);
//   - CUDA failures as Errors with code 'ERR_SQEX_CUDA', cudaError, cudaErrorName and the message
//     "<cudaGetErrorString> (while <what>)", as ThrowStatus builds them: an unknown device index
//     (cudaErrorInvalidDevice), a copy or free at an address that is not live device memory
//     (cudaErrorInvalidValue), a kernel reading or writing outside live memory of its device
//     (cudaErrorIllegalAddress, thrown at once where the real one would be sticky), and an
//     allocation beyond the device's memory (cudaErrorMemoryAllocation);
//   - the async entry points' split: argument errors throw synchronously; cudaForwardDeviceAsync
//     enqueues (runs) the op on the calling thread, so launch errors throw synchronously too, and
//     resolves later; cudaForwardHostAsync does its work later, off the caller's turn, and
//     rejects on failure; cudaDownloadAsync snapshots the memory on the caller's turn (as the
//     real one does, so later work on the stream cannot reach the copy) and delivers it later.
// The ops themselves are computed by the real addon's cpuForward: float16 / bfloat16 activations
// are widened to float32 first and the results rounded back with the test's own converters
// (test/helpers.ts), never the library's.
//
// Device memory is one Uint8Array per allocation at a 256-aligned address. Addresses are never
// reused, so a use after free is always caught; allocations are separated by an unmapped gap, so
// running off the end of one never lands in the next.
import { createRequire } from 'node:module';
import type { CudaBuildInfo } from '../dist/backend/load.js';
import type {
  HostOperands,
  HostWeights,
  NativeBinding,
  NativeCudaBench,
  NativeCudaDevice,
  NativeCudaStatus,
  NativeError,
  NativeInfo,
} from '../dist/backend/contract.js';
import { fromBf16Bits, fromF16Bits, toBf16Bits, toF16Bits } from './helpers.js';

/** The .node path the faked loader reports. */
export const FAKE_BINARY_PATH = '/fake-cuda/build/Release/squeeze_excite.node';

/**
 * Indices of the cfg Float64Array, transcribed from `enum Cfg` in native/binding/convert.h (not
 * taken from lib/, so that a disagreement between lib/ and the native side shows).
 */
export const NATIVE_CFG = {
  op: 0, n: 1, c: 2, h: 3, w: 4, layout: 5, hidden: 6, twoFc: 7, act: 8, gate: 9, outAct: 10,
  ecaK: 11, spatialK: 12, spatialBias: 13, dtype: 14, device: 15, length: 16,
} as const;
/** `enum Slot` of native/binding/convert.h, in order. */
export const NATIVE_SLOTS = ['x', 'residual', 'out', 'scaleOut', 'w1', 'b1', 'w2', 'b2', 'aux'] as const;
export type SlotName = (typeof NATIVE_SLOTS)[number];
const SLOT = { x: 0, residual: 1, out: 2, scaleOut: 3, w1: 4, b1: 5, w2: 6, b2: 7, aux: 8 } as const;
const SLOT_COUNT = 9;
const OP_NAMES = ['SE', 'ECA', 'CBAM'] as const;

const MAX_DIM = 2 ** 31 - 1;
const MAX_U64 = (1n << 64n) - 1n;
const ALIGN = 256n;
const GAP = 4096n; // unmapped bytes after each allocation
const DEVICE_BASE = 0x7f0000000000n;
const DEVICE_STRIDE = 0x10000000000n; // 1 TiB of address space per device

/** The two emulated devices. */
export const FAKE_DEVICES: readonly NativeCudaDevice[] = Object.freeze([
  { index: 0, name: 'Fake CUDA Device 0 (host memory)', computeCapability: '9.0', multiprocessors: 132, totalMemory: 2 ** 30, l2Bytes: 50 * 2 ** 20 },
  { index: 1, name: 'Fake CUDA Device 1 (host memory)', computeCapability: '8.9', multiprocessors: 76, totalMemory: 2 ** 29, l2Bytes: 48 * 2 ** 20 },
]);

// ---------------------------------------------------------------------------------------------
// Errors shaped like the native ones

const PREFIX = 'squeeze-excite (native): ';

// With the codes native/binding/convert.cpp sets (ThrowTypeError / ThrowRangeError): a suite that
// checks `code` must see the same from the emulation as from the addon.
function nativeType(msg: string): TypeError {
  return Object.assign(new TypeError(PREFIX + msg), { code: 'ERR_INVALID_ARG_TYPE' });
}
function nativeRange(msg: string): RangeError {
  return Object.assign(new RangeError(PREFIX + msg), { code: 'ERR_OUT_OF_RANGE' });
}

/** The real CUDA error codes the fake produces. */
export const CUDA_ERRORS = {
  invalidValue: { code: 1, name: 'cudaErrorInvalidValue', text: 'invalid argument' },
  memoryAllocation: { code: 2, name: 'cudaErrorMemoryAllocation', text: 'out of memory' },
  insufficientDriver: { code: 35, name: 'cudaErrorInsufficientDriver', text: 'CUDA driver version is insufficient for CUDA runtime version' },
  invalidDevice: { code: 101, name: 'cudaErrorInvalidDevice', text: 'invalid device ordinal' },
  illegalAddress: { code: 700, name: 'cudaErrorIllegalAddress', text: 'an illegal memory access was encountered' },
  launchFailure: { code: 719, name: 'cudaErrorLaunchFailure', text: 'unspecified launch failure' },
} as const;
export type CudaErrorKind = keyof typeof CUDA_ERRORS;

/** As ErrorFromStatus for StatusCode::Cuda: message "<text> (while <what>)". */
export function cudaError(kind: CudaErrorKind, what: string): NativeError {
  const e = CUDA_ERRORS[kind];
  const err: NativeError = new Error(`${e.text} (while ${what})`);
  err.code = 'ERR_SQEX_CUDA';
  err.cudaError = e.code;
  err.cudaErrorName = e.name;
  return err;
}

/** As ErrorFromStatus for StatusCode::Unsupported. */
export function unsupportedError(message: string): NativeError {
  const err: NativeError = new Error(message);
  err.code = 'ERR_SQEX_UNSUPPORTED';
  return err;
}

// ---------------------------------------------------------------------------------------------
// Native argument re-checks (convert.cpp / cuda_exports.cpp)

/** std::to_string(double): fixed with six decimals. */
function cppDouble(v: number): string {
  if (Number.isNaN(v)) return v < 0 ? '-nan' : 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return v.toFixed(6);
}

/** ParseCfg's result. */
export interface ParsedCfg {
  op: number; // 0 SE, 1 ECA, 2 CBAM
  n: number;
  c: number;
  h: number;
  w: number;
  layout: number;
  hidden: number;
  twoFc: boolean;
  act: number;
  gate: number;
  outAct: number;
  ecaK: number;
  spatialK: number;
  spatialBias: number;
  dtype: number; // 0 float32, 1 float16, 2 bfloat16
  device: number;
}

function cfgInt(c: Float64Array, index: number, lo: number, hi: number): number {
  const v = c[index] as number;
  if (!Number.isFinite(v) || Math.floor(v) !== v || v < lo || v > hi) {
    throw nativeRange(`cfg[${index}] must be an integer in [${lo}, ${hi}]; received ${cppDouble(v)}`);
  }
  return v;
}

export function parseCfg(value: unknown): ParsedCfg {
  if (!(value instanceof Float64Array)) throw nativeType('cfg must be a Float64Array');
  if (value.length !== NATIVE_CFG.length) {
    throw nativeRange(`cfg must have ${NATIVE_CFG.length} entries; received ${value.length}`);
  }
  const K = NATIVE_CFG;
  const op = cfgInt(value, K.op, 0, 2);
  const n = cfgInt(value, K.n, 1, MAX_DIM);
  const c = cfgInt(value, K.c, 1, MAX_DIM);
  const h = cfgInt(value, K.h, 1, MAX_DIM);
  const w = cfgInt(value, K.w, 1, MAX_DIM);
  if (n * c * h * w > 9007199254740991) throw nativeRange('n*c*h*w exceeds 2^53-1');
  const layout = cfgInt(value, K.layout, 0, 1);
  const hidden = cfgInt(value, K.hidden, 0, MAX_DIM);
  let twoFc = cfgInt(value, K.twoFc, 0, 1) === 1;
  const act = cfgInt(value, K.act, 0, 1);
  const gate = cfgInt(value, K.gate, 0, 1);
  const outAct = cfgInt(value, K.outAct, 0, 1);
  const ecaK = cfgInt(value, K.ecaK, 0, 1 << 20);
  const spatialK = cfgInt(value, K.spatialK, 0, 1 << 12);
  const spatialBias = Math.fround(value[K.spatialBias] as number);
  const dtype = cfgInt(value, K.dtype, 0, 2);
  const device = cfgInt(value, K.device, 0, (1 << 16) - 1); // as the device argument: [0, 65535]
  switch (op) {
    case 0:
      if (hidden < 1) throw nativeRange('SE needs hidden >= 1');
      if (!twoFc && hidden !== c) throw nativeRange('single-FC SE needs hidden == C');
      break;
    case 1:
      if (ecaK < 1 || ecaK % 2 === 0) throw nativeRange('ECA k must be odd and >= 1');
      break;
    default:
      if (hidden < 1) throw nativeRange('CBAM needs hidden >= 1');
      if (spatialK < 1 || spatialK % 2 === 0) throw nativeRange('CBAM spatial k must be odd and >= 1');
      twoFc = true;
      break;
  }
  return { op, n, c, h, w, layout, hidden, twoFc, act, gate, outAct, ecaK, spatialK, spatialBias, dtype, device };
}

/** ExpectedSlots: element count, required, allowed per slot. */
export interface SlotSizes {
  elems: number[];
  required: boolean[];
  allowed: boolean[];
}

export function expectedSlots(p: ParsedCfg): SlotSizes {
  const s: SlotSizes = {
    elems: new Array<number>(SLOT_COUNT).fill(0),
    required: new Array<boolean>(SLOT_COUNT).fill(false),
    allowed: new Array<boolean>(SLOT_COUNT).fill(false),
  };
  const allow = (slot: number, elems: number, required: boolean): void => {
    s.elems[slot] = elems;
    s.allowed[slot] = true;
    s.required[slot] = required;
  };
  const numel = p.n * p.c * p.h * p.w;
  allow(SLOT.x, numel, true);
  allow(SLOT.out, numel, true);
  switch (p.op) {
    case 0:
      allow(SLOT.residual, numel, false);
      allow(SLOT.scaleOut, p.n * p.c, false);
      allow(SLOT.w1, p.hidden * p.c, true);
      allow(SLOT.b1, p.hidden, false);
      if (p.twoFc) {
        allow(SLOT.w2, p.c * p.hidden, true);
        allow(SLOT.b2, p.c, false);
      }
      break;
    case 1:
      allow(SLOT.scaleOut, p.n * p.c, false);
      allow(SLOT.aux, p.ecaK, true);
      break;
    default:
      allow(SLOT.w1, p.hidden * p.c, true);
      allow(SLOT.b1, p.hidden, false);
      allow(SLOT.w2, p.c * p.hidden, true);
      allow(SLOT.b2, p.c, false);
      allow(SLOT.aux, 2 * p.spatialK * p.spatialK, true);
      break;
  }
  return s;
}

export function dtypeSize(dtype: number): number {
  return dtype === 0 ? 4 : 2;
}

/** ParseDevicePtrs: the pointer of each slot (0n when absent), byte lengths re-checked. */
export function parseDevicePtrs(v: unknown, p: ParsedCfg, hostWeights: boolean): bigint[] {
  if (!(v instanceof BigUint64Array)) throw nativeType('dev must be a BigUint64Array');
  if (v.length !== 2 * SLOT_COUNT) throw nativeRange('dev must have 18 entries');
  const sizes = expectedSlots(p);
  const out = new Array<bigint>(SLOT_COUNT).fill(0n);
  for (let slot = 0; slot < SLOT_COUNT; slot++) {
    if (hostWeights && slot >= SLOT.w1) continue;
    const ptr = v[2 * slot] as bigint;
    const bytes = v[2 * slot + 1] as bigint;
    const name = NATIVE_SLOTS[slot] as string;
    if (ptr === 0n) {
      if (sizes.required[slot]) throw nativeType(`device operand ${name} is required`);
      continue;
    }
    if (!sizes.allowed[slot]) throw nativeType(`device operand ${name} is not used by this op`);
    const activation = slot === SLOT.x || slot === SLOT.residual || slot === SLOT.out;
    const need = BigInt(sizes.elems[slot] as number) * BigInt(activation ? dtypeSize(p.dtype) : 4);
    if (bytes < need) {
      throw nativeRange(`device operand ${name} must have at least ${need} bytes; received ${bytes}`);
    }
    out[slot] = ptr;
  }
  return out;
}

/**
 * ParseHostOperands: the full tuple [x, residual, out, scaleOut, w1, b1, w2, b2, aux], or with
 * `weightsOnly` the five weights [w1, b1, w2, b2, aux].
 */
export function parseHostOperands(ops: unknown, p: ParsedCfg, weightsOnly: boolean, outOptional = false): (Float32Array | null)[] {
  if (!Array.isArray(ops)) throw nativeType(weightsOnly ? 'hostWeights must be an array' : 'ops must be an array');
  const first = weightsOnly ? SLOT.w1 : SLOT.x;
  const expectedLen = SLOT_COUNT - first;
  if (ops.length !== expectedLen) throw nativeRange(`operand tuple must have ${expectedLen} entries`);
  const sizes = expectedSlots(p);
  const out: (Float32Array | null)[] = [];
  for (let slot: number = first; slot < SLOT_COUNT; slot++) {
    const v: unknown = ops[slot - first];
    const name = NATIVE_SLOTS[slot] as string;
    if (v === null || v === undefined) {
      if (sizes.required[slot] && !(outOptional && slot === SLOT.out)) throw nativeType(`${name} is required`);
      out.push(null);
      continue;
    }
    if (!sizes.allowed[slot]) throw nativeType(`${name} is not used by this op and must be null`);
    if (!(v instanceof Float32Array)) throw nativeType(`${name} must be a Float32Array`);
    if (v.length === 0) throw nativeType(`${name} is detached or empty`);
    if (v.length !== sizes.elems[slot]) {
      throw nativeRange(`${name} must have ${sizes.elems[slot]} elements; received ${v.length}`);
    }
    out.push(v);
  }
  return out;
}

/** The fake's copy of the addon's async staging (host_staging.h). */
function stageHostOperands(parsed: (Float32Array | null)[]): { operands: HostOperands; settle: () => Float32Array } {
  const operands = parsed.map((v) => (v === null ? null : new Float32Array(v))) as (Float32Array | null)[];
  const x = parsed[SLOT.x]!;
  const out = parsed[SLOT.out] ?? null;
  // out === x (in place): computed on x's staging, as the addon does.
  if (out !== null && out === x) operands[SLOT.out] = operands[SLOT.x]!;
  else if (out !== null && out === parsed[SLOT.residual]) operands[SLOT.out] = operands[SLOT.residual]!;
  else if (out === null) operands[SLOT.out] = new Float32Array(x.length);
  const settle = (): Float32Array => {
    for (const slot of [SLOT.out, SLOT.scaleOut]) {
      const target = parsed[slot];
      const staged = operands[slot];
      if (target != null && staged != null && target.length !== staged.length) {
        const name = slot === SLOT.out ? 'options.out' : 'options.scaleOut';
        throw Object.assign(new Error(`${name} was detached, transferred or resized while the call ran, so the result was not written`), {
          code: 'ERR_SQEX_ARRAY_CHANGED',
          argument: name,
        });
      }
    }
    for (const slot of [SLOT.out, SLOT.scaleOut]) {
      const target = parsed[slot];
      if (target != null) target.set(operands[slot]!);
    }
    return out ?? operands[SLOT.out]!;
  };
  return { operands: operands as unknown as HostOperands, settle };
}

function bigintArg(v: unknown, what: string): bigint {
  if (typeof v !== 'bigint') throw nativeType(`${what} must be a bigint`);
  if (v < 0n || v > MAX_U64) throw nativeRange(`${what} must fit in 64 unsigned bits`);
  return v;
}

function deviceArg(v: unknown): number {
  if (typeof v !== 'number') throw nativeType('device must be a number');
  if (!(v >= 0 && v < 65536) || Math.trunc(v) !== v) throw nativeRange('device must be an integer in [0, 65535]');
  return v;
}

function argCount(n: number, expected: number, fn: string): void {
  if (n < expected) throw nativeType(`${fn} expects ${expected} arguments`);
}

function viewArg(v: unknown, what: string): Uint8Array {
  // napi IsTypedArray: a DataView is not one.
  if (!ArrayBuffer.isView(v) || v instanceof DataView) throw nativeType(`${what} must be a TypedArray`);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

// ---------------------------------------------------------------------------------------------
// The call log

export type ForwardFn = 'cudaForwardHost' | 'cudaForwardHostAsync' | 'cudaForwardDevice' | 'cudaForwardDeviceAsync';
export type CpuFn = 'cpuForward' | 'cpuForwardAsync';

/** One forward call as it reached the binding (recorded on entry, before any re-check). */
export interface ForwardRecord {
  readonly fn: ForwardFn | CpuFn;
  /** A copy of cfg (null when it was not a Float64Array). */
  readonly cfg: Float64Array | null;
  /** A copy of dev (device forwards; null otherwise or when not a BigUint64Array). */
  readonly dev: BigUint64Array | null;
  /** Device forwards: hostWeights was neither null nor undefined. */
  readonly hostWeights: boolean;
  /** The host operands / weights passed (the caller's arrays, not copies). */
  readonly hostArrays: readonly (Float32Array | null)[] | null;
  /** As passed (null for the CPU calls, which take none). */
  readonly stream: bigint | null;
  /** Set when the call threw or rejected. */
  error: Error | null;
}

/** Memory calls, by function name. */
export interface MemRecords {
  cudaAlloc: { readonly fn: 'cudaAlloc'; readonly device: number; readonly bytes: number; readonly ptr: bigint | null; readonly error: Error | null };
  cudaFree: { readonly fn: 'cudaFree'; readonly device: number; readonly ptr: bigint; readonly inFlight: boolean; readonly error: Error | null };
  cudaUpload: CopyRecord<'cudaUpload'>;
  cudaDownload: CopyRecord<'cudaDownload'>;
  cudaDownloadAsync: CopyRecord<'cudaDownloadAsync'>;
  cudaSynchronize: { readonly fn: 'cudaSynchronize'; readonly device: number; readonly stream: bigint };
}
export interface CopyRecord<F extends string> {
  readonly fn: F;
  readonly device: number;
  readonly ptr: bigint;
  readonly bytes: number;
  readonly stream: bigint;
}
export type MemRecord = MemRecords[keyof MemRecords];

export type CallRecord = ForwardRecord | MemRecord;

export interface Allocation {
  readonly device: number;
  readonly base: bigint;
  readonly size: number;
  readonly mem: Uint8Array;
  readonly id: number;
  live: boolean;
}

interface Located {
  alloc: Allocation;
  offset: number;
}

interface InFlight {
  readonly allocs: ReadonlySet<Allocation>;
  readonly what: string;
}

interface ForwardFault {
  code: 'ERR_SQEX_CUDA' | 'ERR_SQEX_UNSUPPORTED';
  message: string;
  cudaKind: CudaErrorKind;
  /** 'launch': thrown by the call itself (async device calls throw synchronously); 'settle':
   *  reported by the async variants' Promise (as a failure seen when the stream is synchronised). */
  phase: 'launch' | 'settle';
  /** Which calls it hits: any CUDA forward, only host-array ones, or only device-pointer ones. */
  target: 'any' | 'host' | 'device';
}

function settleSoon(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

// ---------------------------------------------------------------------------------------------
// Driver emulation (issue 12): what cuda_status() in native/cuda/device.cpp reports for a build
// of a given CUDA runtime on a given driver.

/**
 * The CUDA version each Linux driver branch supports (cudaDriverGetVersion), from NVIDIA's CUDA
 * Toolkit release notes, table "CUDA Toolkit and Corresponding Driver Versions" (R450: 11.0
 * GA 450.51.06; R470: 11.4; R535: 12.2; R570: 12.8; R580: 13.0 GA 580.65.06).
 */
export const DRIVER_BRANCH_CUDA = { 450: '11.0', 470: '11.4', 535: '12.2', 570: '12.8', 580: '13.0' } as const;
export type DriverBranch = keyof typeof DRIVER_BRANCH_CUDA;

function cmpVersion(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

/** kMinDriverVersion of device.cpp: major.0 for CUDA >= 12, 11.2 for CUDA 11 (cudaMallocAsync). */
export function emulatedMinDriver(runtimeVersion: string): string {
  const major = Number(runtimeVersion.split('.')[0]);
  return major >= 12 ? `${major}.0` : '11.2';
}

/**
 * cuda_status() of a build linking CUDA `runtimeVersion`, on a driver supporting CUDA
 * `driverVersion` (null: no driver installed), with the two fake devices when it can run (none
 * with `noDevice`: a driver installed on a machine without a GPU, or with none visible).
 */
export function emulatedStatus(runtimeVersion: string, driverVersion: string | null, noDevice = false): NativeCudaStatus {
  const minDriverVersion = emulatedMinDriver(runtimeVersion);
  const base = { compiled: true, driverVersion, runtimeVersion, minDriverVersion };
  const off = (reason: string): NativeCudaStatus => ({ ...base, available: false, deviceCount: 0, reason, devices: [] });
  if (driverVersion === null) return off('no NVIDIA driver is installed (cudaErrorInsufficientDriver)');
  // The runtime's own check (minor-version compatibility: same major or newer); without a GPU the
  // driver API's device count turns it into "no device" (device.cpp, driver_api_device_count).
  if (Number(driverVersion.split('.')[0]) < Number(runtimeVersion.split('.')[0])) {
    if (noDevice) return off(`no CUDA-capable device is present (the CUDA driver ${driverVersion} found is also older than the ${minDriverVersion} this build needs)`);
    return off(`CUDA driver ${driverVersion} is older than the ${minDriverVersion} this build needs`);
  }
  // device.cpp's own floor (a CUDA 11 build on an 11.0 or 11.1 driver).
  if (cmpVersion(driverVersion, minDriverVersion) < 0) {
    return off(`CUDA driver ${driverVersion} is older than the ${minDriverVersion} this build needs (it lacks the stream-ordered allocator, cudaMallocAsync)`);
  }
  if (noDevice) return off('no CUDA-capable device is present (cudaErrorNoDevice)');
  return { ...base, available: true, deviceCount: FAKE_DEVICES.length, reason: null, devices: FAKE_DEVICES.map((d) => ({ ...d })) };
}

/** What the fake emulates: the build's CUDA runtime and the machine's driver. */
export interface FakeCudaOptions {
  /** CUDA runtime linked into the emulated build; default '13.0'. */
  runtimeVersion?: string;
  /** CUDA version of the emulated driver (DRIVER_BRANCH_CUDA), null for none; default '13.0'. */
  driverVersion?: string | null;
  /** The driver sees no device. */
  noDevice?: boolean;
}

// ---------------------------------------------------------------------------------------------
// The fake

export class FakeCuda {
  /** The object lib/ sees as its NativeBinding. */
  readonly binding: NativeBinding;
  /** The real addon (CPU work, and the native re-checks for comparison). */
  readonly real: NativeBinding;
  /** Every call, in order (clear with clearLog()). */
  readonly log: CallRecord[] = [];
  /** cudaFree calls on memory an async op or download still in flight uses (should stay 0). */
  freedWhileInFlight = 0;

  #allocs: Map<bigint, Allocation>[] = FAKE_DEVICES.map(() => new Map());
  #next: bigint[] = FAKE_DEVICES.map((d) => DEVICE_BASE + BigInt(d.index) * DEVICE_STRIDE);
  #ids = 0;
  #inFlight = new Set<InFlight>();
  #allocFaults = 0;
  #allocSkip = 0;
  #uploadFaults = 0;
  #forwardFaults: ForwardFault[] = [];

  /** cudaStatus() of the emulated build on the emulated driver. */
  readonly status: NativeCudaStatus;

  constructor(real: NativeBinding, options: FakeCudaOptions = {}) {
    this.real = real;
    this.status = emulatedStatus(options.runtimeVersion ?? '13.0', options.driverVersion === undefined ? '13.0' : options.driverVersion, options.noDevice);
    const self = this;
    const binding: NativeBinding = {
      info(): NativeInfo {
        return { ...real.info(), cudaCompiled: true };
      },
      setThreads(n: number): void {
        real.setThreads(n);
      },
      cpuForward(cfg: Float64Array, ops: HostOperands): Float32Array {
        const rec = self.#record('cpuForward', cfg, null, false, Array.isArray(ops) ? ops : null, null);
        try {
          return real.cpuForward(cfg, ops);
        } catch (err) {
          rec.error = err as Error;
          throw err;
        }
      },
      cpuForwardAsync(cfg: Float64Array, ops: HostOperands, offloadAlways?: boolean): Promise<Float32Array> {
        const rec = self.#record('cpuForwardAsync', cfg, null, false, Array.isArray(ops) ? ops : null, null);
        try {
          return real.cpuForwardAsync(cfg, ops, offloadAlways).catch((err: unknown) => {
            rec.error = err as Error;
            throw err;
          });
        } catch (err) {
          rec.error = err as Error;
          throw err;
        }
      },
      cudaStatus(): NativeCudaStatus {
        // No Array.prototype method: the real binding's status is native code, which no built-in
        // a test replaces can reach (test/races-first-query.test.ts replaces map).
        const devices: NativeCudaDevice[] = [];
        for (let i = 0; i < self.status.devices.length; i++) Object.defineProperty(devices, i, { value: { ...self.status.devices[i]! }, enumerable: true, writable: true, configurable: true });
        return { ...self.status, devices };
      },
      cudaForwardHost(cfg: Float64Array, ops: HostOperands, stream: bigint): Float32Array {
        return self.#forwardHost('cudaForwardHost', arguments.length, cfg, ops, stream, false) as Float32Array;
      },
      cudaForwardHostAsync(cfg: Float64Array, ops: HostOperands, stream: bigint): Promise<Float32Array> {
        return self.#forwardHost('cudaForwardHostAsync', arguments.length, cfg, ops, stream, true) as Promise<Float32Array>;
      },
      cudaForwardDevice(cfg: Float64Array, dev: BigUint64Array, hostWeights: HostWeights | null, stream: bigint): void {
        self.#forwardDevice('cudaForwardDevice', arguments.length, cfg, dev, hostWeights, stream, false);
      },
      cudaForwardDeviceAsync(cfg: Float64Array, dev: BigUint64Array, hostWeights: HostWeights | null, stream: bigint): Promise<void> {
        return self.#forwardDevice('cudaForwardDeviceAsync', arguments.length, cfg, dev, hostWeights, stream, true) as Promise<void>;
      },
      cudaAlloc(device: number, bytes: number): bigint {
        return self.#alloc(arguments.length, device, bytes);
      },
      cudaFree(device: number, ptr: bigint): void {
        argCount(arguments.length, 2, 'cudaFree');
        self.#free(deviceArg(device), bigintArg(ptr, 'ptr'));
      },
      cudaUpload(device: number, ptr: bigint, src: ArrayBufferView, stream: bigint): void {
        const { d, p, view } = self.#copyArgs('cudaUpload', arguments.length, device, ptr, src, 'src', stream);
        self.#setDevice(d);
        if (self.#uploadFaults > 0) {
          self.#uploadFaults -= 1;
          throw cudaError('launchFailure', 'uploading to the device');
        }
        if (view.byteLength === 0) return;
        const at = self.#locate(d, p, view.byteLength, 'copy', 'uploading to the device');
        at.alloc.mem.set(view, at.offset);
      },
      cudaDownload(device: number, ptr: bigint, dst: ArrayBufferView, stream: bigint): void {
        const { d, p, view } = self.#copyArgs('cudaDownload', arguments.length, device, ptr, dst, 'dst', stream);
        self.#setDevice(d);
        if (view.byteLength === 0) return;
        const at = self.#locate(d, p, view.byteLength, 'copy', 'downloading from the device');
        view.set(at.alloc.mem.subarray(at.offset, at.offset + view.byteLength));
      },
      cudaDownloadAsync(device: number, ptr: bigint, dst: ArrayBufferView, stream: bigint): Promise<void> {
        const { d, p, view } = self.#copyArgs('cudaDownloadAsync', arguments.length, device, ptr, dst, 'dst', stream);
        // As the real one: the snapshot is taken now, on the caller's turn (its place in the
        // stream; a bad address throws here), and delivered to dst later, from a worker thread.
        // lib/ keeps the tensor retained until then, so the memory must still be live.
        self.#setDevice(d);
        let snapshot: Uint8Array | null = null;
        if (view.byteLength > 0) {
          const at = self.#locate(d, p, view.byteLength, 'copy', 'snapshotting a tensor for download');
          snapshot = at.alloc.mem.slice(at.offset, at.offset + view.byteLength);
        }
        const flight = self.#beginFlight(d, [p], 'cudaDownloadAsync');
        return settleSoon().then(() => {
          self.#inFlight.delete(flight);
          if (snapshot !== null) view.set(snapshot);
        });
      },
      cudaSynchronize(device: number, stream: bigint): void {
        argCount(arguments.length, 2, 'cudaSynchronize');
        const d = deviceArg(device);
        const s = bigintArg(stream, 'stream');
        self.log.push({ fn: 'cudaSynchronize', device: d, stream: s });
        self.#setDevice(d);
      },
      cudaMemInfo(device: number): { free: number; total: number } {
        argCount(arguments.length, 1, 'cudaMemInfo');
        const d = deviceArg(device);
        self.#setDevice(d);
        const total = (FAKE_DEVICES[d] as NativeCudaDevice).totalMemory;
        return { free: total - self.liveBytes(d), total };
      },
      cudaBenchmark(): NativeCudaBench {
        throw unsupportedError('cudaBenchmark is not emulated by the fake CUDA binding');
      },
    };
    this.binding = binding;
  }

  // ---- fault injection -------------------------------------------------------------------

  /**
   * After `after` more successful cudaAlloc calls, the next `n` fail as cudaMalloc does when out
   * of memory (cudaErrorMemoryAllocation).
   */
  failNextAllocs(n = 1, after = 0): void {
    this.#allocFaults = n;
    this.#allocSkip = after;
  }

  /**
   * The next CUDA forward call (host or device arrays, sync or async, per `target`) fails with
   * `code`: 'ERR_SQEX_UNSUPPORTED' (a shape the kernels cannot take) or 'ERR_SQEX_CUDA'.
   * Queue several by calling it several times.
   */
  failNextForward(
    code: 'ERR_SQEX_CUDA' | 'ERR_SQEX_UNSUPPORTED',
    opts: { message?: string; cudaKind?: CudaErrorKind; phase?: 'launch' | 'settle'; target?: 'any' | 'host' | 'device' } = {},
  ): void {
    const cudaKind = opts.cudaKind ?? 'launchFailure';
    this.#forwardFaults.push({
      code,
      cudaKind,
      message: opts.message ?? (code === 'ERR_SQEX_UNSUPPORTED' ? 'shape too large for the CUDA kernel (injected)' : 'running the op (injected)'),
      phase: opts.phase ?? 'launch',
      target: opts.target ?? 'any',
    });
  }

  /**
   * The next `n` cudaUpload calls fail as a copy does after an earlier kernel fault (a sticky
   * cudaErrorLaunchFailure), after checking their arguments.
   */
  failNextUploads(n = 1): void {
    this.#uploadFaults = n;
  }

  /** Drops pending injected faults. */
  clearFaults(): void {
    this.#uploadFaults = 0;
    this.#allocFaults = 0;
    this.#allocSkip = 0;
    this.#forwardFaults = [];
  }

  // ---- inspection ------------------------------------------------------------------------

  clearLog(): void {
    this.log.length = 0;
  }

  /** Live allocations (on one device, or all). */
  liveCount(device?: number): number {
    let n = 0;
    this.#allocs.forEach((m, d) => {
      if (device === undefined || device === d) n += m.size;
    });
    return n;
  }

  liveBytes(device?: number): number {
    let n = 0;
    this.#allocs.forEach((m, d) => {
      if (device === undefined || device === d) for (const a of m.values()) n += a.size;
    });
    return n;
  }

  /** The allocation holding `ptr` on `device`, or undefined (freed or never allocated). */
  allocationAt(device: number, ptr: bigint): Allocation | undefined {
    for (const a of this.#allocs[device]?.values() ?? []) {
      if (ptr >= a.base && ptr < a.base + BigInt(a.size)) return a;
    }
    return undefined;
  }

  isLive(device: number, ptr: bigint): boolean {
    return this.allocationAt(device, ptr) !== undefined;
  }

  /** A copy of device bytes (throws as a bad copy would). */
  read(device: number, ptr: bigint, bytes: number): Uint8Array {
    const at = this.#locate(device, ptr, bytes, 'copy', 'reading device memory (test)');
    return at.alloc.mem.slice(at.offset, at.offset + bytes);
  }

  /** Overwrites device bytes (test setup, e.g. poisoning; throws as a bad copy would). */
  write(device: number, ptr: bigint, bytes: Uint8Array): void {
    const at = this.#locate(device, ptr, bytes.byteLength, 'copy', 'writing device memory (test)');
    at.alloc.mem.set(bytes, at.offset);
  }

  /** Async operations in flight (downloads and device forwards not yet settled). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  forwards(): ForwardRecord[] {
    return this.log.filter((r): r is ForwardRecord => 'cfg' in r);
  }

  /** Forward calls that went to CUDA (host or device). */
  cudaForwards(): ForwardRecord[] {
    return this.forwards().filter((r) => r.fn.startsWith('cuda'));
  }

  mem<F extends keyof MemRecords>(fn: F): MemRecords[F][] {
    return this.log.filter((r): r is MemRecords[F] => r.fn === fn);
  }

  // ---- memory ----------------------------------------------------------------------------

  /** The checked arguments of a copy call, logged. */
  #copyArgs(
    fn: 'cudaUpload' | 'cudaDownload' | 'cudaDownloadAsync',
    argc: number,
    device: number,
    ptr: bigint,
    host: ArrayBufferView,
    hostName: 'src' | 'dst',
    stream: bigint,
  ): { d: number; p: bigint; view: Uint8Array } {
    argCount(argc, 4, fn);
    const d = deviceArg(device);
    const p = bigintArg(ptr, 'ptr');
    const view = viewArg(host, hostName);
    const s = bigintArg(stream, 'stream');
    this.log.push({ fn, device: d, ptr: p, bytes: view.byteLength, stream: s });
    return { d, p, view };
  }

  #setDevice(device: number): void {
    // As cudaSetDevice when the runtime cannot run on the driver (or there is none).
    if (!this.status.available) throw cudaError('insufficientDriver', `selecting device ${device}`);
    if (device >= FAKE_DEVICES.length) throw cudaError('invalidDevice', `selecting device ${device}`);
  }

  #alloc(nargs: number, device: unknown, bytes: unknown): bigint {
    argCount(nargs, 2, 'cudaAlloc');
    const d = deviceArg(device);
    if (typeof bytes !== 'number') throw nativeType('bytes must be a number');
    if (!(bytes >= 1 && bytes <= 9007199254740991) || Math.trunc(bytes) !== bytes) {
      throw nativeRange('bytes must be a positive integer');
    }
    try {
      this.#setDevice(d);
      const total = (FAKE_DEVICES[d] as NativeCudaDevice).totalMemory;
      const injected = this.#allocFaults > 0 && this.#allocSkip === 0;
      if (this.#allocFaults > 0 && this.#allocSkip > 0) this.#allocSkip -= 1;
      if (injected || this.liveBytes(d) + bytes > total) {
        if (injected) this.#allocFaults -= 1;
        throw cudaError('memoryAllocation', `allocating ${bytes} bytes on device ${d}`);
      }
    } catch (err) {
      this.log.push({ fn: 'cudaAlloc', device: d, bytes, ptr: null, error: err as Error });
      throw err;
    }
    const base = this.#next[d] as bigint;
    const size = BigInt(bytes);
    this.#next[d] = base + ((size + ALIGN - 1n) / ALIGN) * ALIGN + GAP;
    const alloc: Allocation = { device: d, base, size: bytes, mem: new Uint8Array(bytes), id: this.#ids++, live: true };
    // cudaMalloc leaves memory uninitialised: fill it with a NaN-ish pattern, not zeros.
    alloc.mem.fill(0xff);
    (this.#allocs[d] as Map<bigint, Allocation>).set(base, alloc);
    this.log.push({ fn: 'cudaAlloc', device: d, bytes, ptr: base, error: null });
    return base;
  }

  #free(device: number, ptr: bigint): void {
    let err: Error | null = null;
    let inFlight = false;
    try {
      if (ptr !== 0n) {
        // As native/binding/cuda_exports.cpp's CudaFree: only what cudaAlloc returned (in this env), once,
        // on its own device; refused before the device is selected.
        const map = this.#allocs[device] as Map<bigint, Allocation> | undefined;
        const alloc = map?.get(ptr);
        if (alloc === undefined) {
          const other = this.#allocs.findIndex((m) => m.has(ptr));
          throw other >= 0
            ? nativeRange(`cudaFree: ptr was allocated on device ${other}, not on device ${device}`)
            : nativeRange('cudaFree: ptr is not device memory that cudaAlloc returned on this thread, or it was freed already');
        }
        // Forgotten before CUDA is called, as natively: a failed free is not retried.
        map?.delete(ptr);
        this.#setDevice(device);
        for (const f of this.#inFlight) if (f.allocs.has(alloc)) inFlight = true;
        if (inFlight) this.freedWhileInFlight += 1;
        alloc.live = false;
      }
    } catch (e) {
      err = e as Error;
    }
    this.log.push({ fn: 'cudaFree', device, ptr, inFlight, error: err });
    if (err !== null) throw err;
  }

  #locate(device: number, ptr: bigint, bytes: number, kind: 'copy' | 'kernel', what: string): Located {
    const alloc = this.allocationAt(device, ptr);
    if (alloc === undefined || ptr + BigInt(bytes) > alloc.base + BigInt(alloc.size)) {
      throw cudaError(kind === 'copy' ? 'invalidValue' : 'illegalAddress', what);
    }
    return { alloc, offset: Number(ptr - alloc.base) };
  }

  #beginFlight(device: number, ptrs: readonly bigint[], what: string): InFlight {
    const allocs = new Set<Allocation>();
    for (const p of ptrs) {
      const a = p === 0n ? undefined : this.allocationAt(device, p);
      if (a !== undefined) allocs.add(a);
    }
    const f: InFlight = { allocs, what };
    this.#inFlight.add(f);
    return f;
  }

  // ---- forwards --------------------------------------------------------------------------

  #record(
    fn: ForwardFn | CpuFn,
    cfg: unknown,
    dev: unknown,
    hostWeights: boolean,
    hostArrays: readonly unknown[] | null,
    stream: unknown,
  ): ForwardRecord {
    const rec: ForwardRecord = {
      fn,
      cfg: cfg instanceof Float64Array ? new Float64Array(cfg) : null,
      dev: dev instanceof BigUint64Array ? new BigUint64Array(dev) : null,
      hostWeights,
      hostArrays: hostArrays === null ? null : hostArrays.map((a) => (a instanceof Float32Array ? a : null)),
      stream: typeof stream === 'bigint' ? stream : null,
      error: null,
    };
    this.log.push(rec);
    return rec;
  }

  #takeFault(kind: 'host' | 'device'): ForwardFault | undefined {
    const i = this.#forwardFaults.findIndex((f) => f.target === 'any' || f.target === kind);
    if (i < 0) return undefined;
    return this.#forwardFaults.splice(i, 1)[0];
  }

  #faultError(f: ForwardFault): NativeError {
    return f.code === 'ERR_SQEX_UNSUPPORTED' ? unsupportedError(f.message) : cudaError(f.cudaKind, f.message);
  }

  #forwardHost(fn: ForwardFn, nargs: number, cfg: unknown, ops: unknown, stream: unknown, isAsync: boolean): Float32Array | Promise<Float32Array> {
    const rec = this.#record(fn, cfg, null, false, Array.isArray(ops) ? (ops as unknown[]) : null, stream);
    let p: ParsedCfg;
    let parsed: (Float32Array | null)[];
    try {
      argCount(nargs, 3, fn);
      p = parseCfg(cfg);
      if (p.dtype !== 0) throw nativeType('host arrays are float32');
      parsed = parseHostOperands(ops, p, false, true);
      bigintArg(stream, 'stream');
    } catch (err) {
      rec.error = err as Error;
      throw err;
    }
    const cpuCfg = new Float64Array(cfg as Float64Array);
    cpuCfg[NATIVE_CFG.device] = 0;
    const run = (operands: HostOperands): void => {
      this.#setDevice(p.device);
      const fault = this.#takeFault('host');
      if (fault !== undefined) throw this.#faultError(fault);
      this.real.cpuForward(cpuCfg, operands);
    };
    if (!isAsync) {
      // As the addon: a null out means a new result array.
      const operands = [...parsed] as (Float32Array | null)[];
      if (operands[SLOT.out] === null) operands[SLOT.out] = new Float32Array(parsed[SLOT.x]!.length);
      try {
        run(operands as unknown as HostOperands);
      } catch (err) {
        rec.error = err as Error;
        throw err;
      }
      return operands[SLOT.out]!;
    }
    // As the addon (native/binding/host_staging.h): inputs copied now, outputs computed into
    // staging and written back at settle after a length check; no out: a new array.
    const staged = stageHostOperands(parsed);
    return settleSoon()
      .then(() => {
        run(staged.operands);
        return staged.settle();
      })
      .catch((err: unknown) => {
        rec.error = err as Error;
        throw err;
      });
  }

  #forwardDevice(
    fn: ForwardFn,
    nargs: number,
    cfg: unknown,
    dev: unknown,
    hostWeights: unknown,
    stream: unknown,
    isAsync: boolean,
  ): void | Promise<void> {
    const hw = !(hostWeights === null || hostWeights === undefined);
    const rec = this.#record(fn, cfg, dev, hw, hw && Array.isArray(hostWeights) ? (hostWeights as unknown[]) : null, stream);
    try {
      // ParseDeviceCall
      argCount(nargs, 4, fn);
      const p = parseCfg(cfg);
      const ptrs = parseDevicePtrs(dev, p, hw);
      const weights = hw ? parseHostOperands(hostWeights, p, true) : null;
      bigintArg(stream, 'stream');
      // RunDeviceCall: enqueued on the calling thread, async or not.
      this.#setDevice(p.device);
      const fault = this.#takeFault('device');
      if (fault !== undefined && fault.phase === 'launch') throw this.#faultError(fault);
      this.#execute(p, ptrs, weights);
      if (!isAsync) return;
      const flight = this.#beginFlight(p.device, ptrs, fn);
      return settleSoon().then(() => {
        this.#inFlight.delete(flight);
        if (fault !== undefined) {
          const err = this.#faultError(fault);
          rec.error = err;
          throw err;
        }
      });
    } catch (err) {
      rec.error = err as Error;
      throw err;
    }
  }

  #readActivation(device: number, ptr: bigint, numel: number, dtype: number, what: string): Float32Array {
    const bytes = numel * dtypeSize(dtype);
    const at = this.#locate(device, ptr, bytes, 'kernel', what);
    const dv = new DataView(at.alloc.mem.buffer, at.alloc.mem.byteOffset + at.offset, bytes);
    const out = new Float32Array(numel);
    if (dtype === 0) for (let i = 0; i < numel; i++) out[i] = dv.getFloat32(4 * i, true);
    else if (dtype === 1) for (let i = 0; i < numel; i++) out[i] = fromF16Bits(dv.getUint16(2 * i, true));
    else for (let i = 0; i < numel; i++) out[i] = fromBf16Bits(dv.getUint16(2 * i, true));
    return out;
  }

  #writeActivation(device: number, ptr: bigint, values: Float32Array, dtype: number, what: string): void {
    const bytes = values.length * dtypeSize(dtype);
    const at = this.#locate(device, ptr, bytes, 'kernel', what);
    const dv = new DataView(at.alloc.mem.buffer, at.alloc.mem.byteOffset + at.offset, bytes);
    if (dtype === 0) for (let i = 0; i < values.length; i++) dv.setFloat32(4 * i, values[i] as number, true);
    else if (dtype === 1) for (let i = 0; i < values.length; i++) dv.setUint16(2 * i, toF16Bits(values[i] as number), true);
    else for (let i = 0; i < values.length; i++) dv.setUint16(2 * i, toBf16Bits(values[i] as number), true);
  }

  /** The kernel: reads the operands from device memory, computes on the CPU, writes back. */
  #execute(p: ParsedCfg, ptrs: readonly bigint[], hostWeights: readonly (Float32Array | null)[] | null): void {
    const numel = p.n * p.c * p.h * p.w;
    const nc = p.n * p.c;
    const sizes = expectedSlots(p);
    const what = `running the ${OP_NAMES[p.op] ?? '?'} kernel`;
    const ptr = (slot: number): bigint => ptrs[slot] as bigint;
    const x = this.#readActivation(p.device, ptr(SLOT.x), numel, p.dtype, what);
    const residual = ptr(SLOT.residual) === 0n ? null : this.#readActivation(p.device, ptr(SLOT.residual), numel, p.dtype, what);
    const weights: (Float32Array | null)[] =
      hostWeights !== null
        ? [...hostWeights]
        : [SLOT.w1, SLOT.b1, SLOT.w2, SLOT.b2, SLOT.aux].map((slot) =>
            ptr(slot) === 0n ? null : this.#readActivation(p.device, ptr(slot), sizes.elems[slot] as number, 0, what),
          );
    // The writes must land in live memory too (checked before computing, as a fault would be).
    this.#locate(p.device, ptr(SLOT.out), numel * dtypeSize(p.dtype), 'kernel', what);
    if (ptr(SLOT.scaleOut) !== 0n) this.#locate(p.device, ptr(SLOT.scaleOut), nc * 4, 'kernel', what);
    const y = new Float32Array(numel);
    const scale = ptr(SLOT.scaleOut) === 0n ? null : new Float32Array(nc);
    const cpuCfg = new Float64Array(NATIVE_CFG.length);
    const K = NATIVE_CFG;
    cpuCfg[K.op] = p.op;
    cpuCfg[K.n] = p.n;
    cpuCfg[K.c] = p.c;
    cpuCfg[K.h] = p.h;
    cpuCfg[K.w] = p.w;
    cpuCfg[K.layout] = p.layout;
    cpuCfg[K.hidden] = p.hidden;
    cpuCfg[K.twoFc] = p.twoFc ? 1 : 0;
    cpuCfg[K.act] = p.act;
    cpuCfg[K.gate] = p.gate;
    cpuCfg[K.outAct] = p.outAct;
    cpuCfg[K.ecaK] = p.ecaK;
    cpuCfg[K.spatialK] = p.spatialK;
    cpuCfg[K.spatialBias] = p.spatialBias;
    cpuCfg[K.dtype] = 0;
    cpuCfg[K.device] = 0;
    const ops: HostOperands = [
      x,
      residual,
      y,
      scale,
      weights[0] ?? null,
      weights[1] ?? null,
      weights[2] ?? null,
      weights[3] ?? null,
      weights[4] ?? null,
    ];
    this.real.cpuForward(cpuCfg, ops);
    this.#writeActivation(p.device, ptr(SLOT.out), y, p.dtype, what);
    if (scale !== null) this.#writeActivation(p.device, ptr(SLOT.scaleOut), scale, 0, what);
  }
}

// ---------------------------------------------------------------------------------------------
// Installing it where lib/ looks

interface LoaderModule {
  loadBinding(): NativeBinding;
  bindingPath(): string | null;
  cudaBuilds(): CudaBuildInfo[];
}

const INSTALLED = Symbol.for('squeeze-excite.test.fake-cuda');
type Holder = { [INSTALLED]?: { fake: FakeCuda; restore(): void } };

/**
 * Replaces loadBinding / bindingPath in the instance of dist/backend/load.js that dist/ itself
 * uses. dist/ is CommonJS: its modules reach each other through Node's require, which vi.mock
 * does not intercept, so the exports object in Node's require cache is patched (the compiled
 * callers read `load_js_1.loadBinding` at call time). Idempotent; the fake is per process (each
 * vitest test file runs in its own worker). Must run before anything in dist/ loads the addon.
 */
export function installFakeCuda(): FakeCuda {
  const holder = globalThis as Holder;
  const existing = holder[INSTALLED];
  if (existing !== undefined) return existing.fake;
  const requireCjs = createRequire(import.meta.url);
  const load = requireCjs('../dist/backend/load.js') as LoaderModule;
  const originalLoad = load.loadBinding;
  const originalPath = load.bindingPath;
  const originalBuilds = load.cudaBuilds;
  const fake = new FakeCuda(originalLoad());
  load.loadBinding = () => fake.binding;
  load.bindingPath = () => FAKE_BINARY_PATH;
  load.cudaBuilds = () => [{ cudaVersion: '13.0', minDriverVersion: '13.0', binary: FAKE_BINARY_PATH, loaded: true }];
  holder[INSTALLED] = {
    fake,
    restore() {
      load.loadBinding = originalLoad;
      load.bindingPath = originalPath;
      load.cudaBuilds = originalBuilds;
      delete holder[INSTALLED];
    },
  };
  return fake;
}

/** Puts the real loader functions back (lib/'s own cached binding, if any, stays the fake). */
export function uninstallFakeCuda(): void {
  (globalThis as Holder)[INSTALLED]?.restore();
}
