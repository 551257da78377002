// The typed contract between lib/ and the native addon (native/binding/). Nothing else in
// lib/ sees the addon's untyped exports: lib/backend/load.ts casts once, to NativeBinding.
//
// Calls pack their scalar configuration into one Float64Array (indices in CFG) and their
// operands into a fixed tuple, so a call costs one N-API crossing and no property lookups.

/**
 * The contract's revision, which the addon reports as info().contract (kBindingContract in
 * native/binding/convert.h). Bump both with any change to CFG, DEV, the codes, the operand
 * tuples or an export's arguments: the loader refuses an addon of another revision, a stale
 * build that would read the configuration by an old layout (test/device-contract.test.ts pins
 * the tables to it).
 */
export const BINDING_CONTRACT = 1;

/** Indices into the Float64Array configuration passed to every forward call. */
export const CFG = {
  op: 0, // OP_CODE
  n: 1,
  c: 2,
  h: 3,
  w: 4,
  layout: 5, // LAYOUT_CODE
  hidden: 6, // SE/CBAM: rows of w1 (== c for single-FC SE)
  twoFc: 7, // 1 when w2 is present (SE); CBAM always 1
  act: 8, // ACT_CODE
  gate: 9, // GATE_CODE
  outAct: 10, // OUT_ACT_CODE
  ecaK: 11,
  spatialK: 12,
  spatialBias: 13,
  dtype: 14, // DTYPE_CODE
  device: 15, // CUDA device index
  length: 16,
} as const;

export const OP_CODE = { se: 0, eca: 1, cbam: 2 } as const;
export const LAYOUT_CODE = { NCHW: 0, NHWC: 1 } as const;
export const ACT_CODE = { relu: 0, silu: 1 } as const;
export const GATE_CODE = { sigmoid: 0, hardsigmoid: 1 } as const;
export const OUT_ACT_CODE = { none: 0, relu: 1 } as const;
export const DTYPE_CODE = { float32: 0, float16: 1, bfloat16: 2 } as const;

/**
 * Host operands, in this order. `aux` is the ECA conv weight [k] or the CBAM spatial weight
 * [2, k, k]. The native side re-checks every byte length against the configuration.
 */
export type HostOperands = readonly [
  x: Float32Array,
  residual: Float32Array | null,
  /** null: the addon allocates the result and returns it. */
  out: Float32Array | null,
  scaleOut: Float32Array | null,
  w1: Float32Array | null,
  b1: Float32Array | null,
  w2: Float32Array | null,
  b2: Float32Array | null,
  aux: Float32Array | null,
];

/** Host weights only (for device activations with weights still on the host). */
export type HostWeights = readonly [
  w1: Float32Array | null,
  b1: Float32Array | null,
  w2: Float32Array | null,
  b2: Float32Array | null,
  aux: Float32Array | null,
];

/**
 * Device operands: pairs of (pointer, byte length) as a BigUint64Array of DEV.length entries.
 * A zero pointer means absent. Weight slots may be zero when HostWeights are passed instead.
 */
export const DEV = {
  x: 0,
  residual: 2,
  out: 4,
  scaleOut: 6,
  w1: 8,
  b1: 10,
  w2: 12,
  b2: 14,
  aux: 16,
  length: 18,
} as const;

export interface NativeCudaDevice {
  index: number;
  name: string;
  computeCapability: string; // e.g. "9.0"
  multiprocessors: number;
  totalMemory: number; // bytes
  l2Bytes: number;
}

export interface NativeCudaStatus {
  compiled: boolean;
  available: boolean;
  deviceCount: number;
  driverVersion: string | null; // "13.0", null when no driver
  runtimeVersion: string | null; // runtime linked into the addon, null when not compiled
  /**
   * Oldest driver the build runs on, in driverVersion's unit ("13.0": R580; "11.2": R460); null
   * when not compiled. Absent from a stale local build made before this field existed.
   */
  minDriverVersion?: string | null;
  reason: string | null; // why CUDA is not available; null when it is
  devices: NativeCudaDevice[];
}

export interface NativeInfo {
  version: string; // addon version (matches package.json)
  /** BINDING_CONTRACT of the sources it was built from; absent in addons before 0.1.0's contract check. */
  contract?: number;
  buildSystem: string; // "cmake" or "node-gyp"
  napiVersion: number;
  cudaCompiled: boolean;
  simd: string; // CPU kernel dispatch level
  threads: number; // CPU pool size
  /** The pool size without setThreads (one per CPU the process may run on); absent in older addons. */
  defaultThreads?: number;
  /** The pool workers' spin after a job before they sleep, in microseconds; absent in older addons. */
  workerSpinUs?: number;
  /** Linked to load on glibc >= 2.28 with any libstdc++ (CMakeLists.txt SQEX_PORTABLE_GLIBC); absent in older addons. */
  portableLink?: boolean;
}

/**
 * Errors thrown by native calls: TypeError/RangeError for arguments the native re-check
 * refused (a bug in lib/ if ever seen), Error with `code` for CUDA and internal failures.
 * code: 'ERR_SQEX_CUDA' (cudaError in `cudaError`/`cudaErrorName`), 'ERR_SQEX_UNSUPPORTED',
 * 'ERR_SQEX_INTERNAL', 'ERR_SQEX_OUT_OF_MEMORY' (a host allocation failed; `bytes` when known).
 */
export interface NativeError extends Error {
  code?: string;
  cudaError?: number;
  cudaErrorName?: string;
}

export interface NativeBinding {
  info(): NativeInfo;
  /**
   * Registers how the addon allocates the arrays it returns when a call has no `out`:
   * `allocate(bytes)` returns a new ArrayBuffer of exactly `bytes` bytes (native/binding/result_array.h;
   * the binding does not rely on nobody else holding it). Only the first registration per
   * environment takes (true); later ones return false. Optional: builds before it, and the
   * emulated bindings in the tests, allocate their own.
   */
  setResultAllocator?(allocate: (bytes: number) => ArrayBuffer): boolean;
  setThreads(n: number): void; // 0 = one per CPU the process may run on
  /** The pool workers' spin, in whole microseconds [0, 1e6]; absent in older addons. */
  setWorkerSpin?(microseconds: number): void;

  /** Returns the result: ops' out, or a new array when it is null. */
  cpuForward(cfg: Float64Array, ops: HostOperands): Float32Array;
  /**
   * Runs off the event loop. Stages every non-shared array (copies inputs now, writes out/scaleOut back when it settles;
   * native/binding/host_staging.h) and resolves with the result: ops' out, or a new array when
   * it is null. Rejects with ERR_SQEX_ARRAY_CHANGED if an output array lost its length meanwhile.
   * Unless offloadAlways, an op that costs less than its staging copies runs on the calling
   * thread instead (as cpuForward) and the promise comes back settled, with an own property
   * `ranOnCaller: true` (absent in older addons).
   */
  cpuForwardAsync(cfg: Float64Array, ops: HostOperands, offloadAlways?: boolean): Promise<Float32Array>;

  cudaStatus(): NativeCudaStatus;
  /** Host arrays, staged through pinned memory; returns the result (as cpuForward) once written. */
  cudaForwardHost(cfg: Float64Array, ops: HostOperands, stream: bigint): Float32Array;
  /** As cpuForwardAsync, on the GPU through pinned staging. */
  cudaForwardHostAsync(cfg: Float64Array, ops: HostOperands, stream: bigint): Promise<Float32Array>;
  /** Device pointers; enqueues on `stream` and returns without waiting. */
  cudaForwardDevice(cfg: Float64Array, dev: BigUint64Array, hostWeights: HostWeights | null, stream: bigint): void;
  /** As cudaForwardDevice, then resolves once the stream has finished the work. */
  cudaForwardDeviceAsync(cfg: Float64Array, dev: BigUint64Array, hostWeights: HostWeights | null, stream: bigint): Promise<void>;

  cudaAlloc(device: number, bytes: number): bigint;
  cudaFree(device: number, ptr: bigint): void;
  cudaUpload(device: number, ptr: bigint, src: ArrayBufferView, stream: bigint): void;
  cudaDownload(device: number, ptr: bigint, dst: ArrayBufferView, stream: bigint): void;
  /** Snapshot now, download into memory the call owns, copy into dst when it settles (dst re-checked). */
  cudaDownloadAsync(device: number, ptr: bigint, dst: ArrayBufferView, stream: bigint): Promise<unknown>;
  cudaSynchronize(device: number, stream: bigint): void;
  cudaMemInfo(device: number): { free: number; total: number };
  /** bench/ only: event-timed op vs same-size D2D copy on random inputs (see cuda_api.h). */
  cudaBenchmark(cfg: Float64Array, hostWeights: HostWeights, iters: number): NativeCudaBench;
}

export interface NativeCudaBench {
  opUs: number;
  copyUs: number;
  opGraphUs: number;
  rotatingSets: number;
  bytes: number;
}
