// CUDA status and backend choice. The addon is loaded lazily, on first use, so that argument
// validation never depends on it and `cuda.status()` can report a load failure instead of throwing.

import type { NativeBinding, NativeCudaStatus } from './backend/contract.js';
import type { CudaBuildInfo } from './backend/cuda-builds.js';
import { bindingPath, cudaBuilds, loadBinding } from './backend/load.js';
import { codedError, rangeError } from './arg-errors.js';
import { ObjectFreeze, StringPrototypeSlice, listAppend, withProps } from './primordials.js';

/** One CUDA device as seen by the addon. */
export interface CudaDeviceInfo {
  /** The device ordinal: what `deviceIndex` and DeviceTensor `device` take. */
  readonly index: number;
  /** e.g. "NVIDIA H100 80GB HBM3". */
  readonly name: string;
  /** major.minor, e.g. "9.0". */
  readonly computeCapability: string;
  /** Streaming multiprocessors (SMs). */
  readonly multiprocessors: number;
  /** Global memory, in bytes. */
  readonly totalMemory: number;
  /** L2 cache, in bytes. */
  readonly l2Bytes: number;
}

export type { CudaBuildInfo };

/**
 * What `cuda.status()` reports (a frozen object, read once per process; versions as CUDA numbers
 * them, e.g. 13.0): whether CUDA is compiled in and usable, the devices, the driver's and the
 * runtime's CUDA versions, the binary loaded and the shipped CUDA builds.
 */
export interface CudaStatus {
  /** CUDA kernels were built into the loaded addon. */
  readonly compiled: boolean;
  /**
   * A usable CUDA device exists now. `device: 'auto'` then runs DeviceTensor x on CUDA, and host
   * arrays on the CPU unless a `deviceIndex` or a `stream` is given (see {@link Device}).
   */
  readonly available: boolean;
  /** CUDA devices visible to the process (0 without a driver or CUDA build). */
  readonly deviceCount: number;
  /** One entry per device, by index. */
  readonly devices: readonly CudaDeviceInfo[];
  /**
   * The highest CUDA version the installed driver supports (cudaDriverGetVersion), e.g. "13.0";
   * not the driver's own release number that nvidia-smi shows (580.65.06). null without a driver.
   */
  readonly driverVersion: string | null;
  /** The CUDA runtime linked into the addon; null when CUDA is not compiled in. */
  readonly runtimeVersion: string | null;
  /** The oldest driver the loaded build runs on, in `driverVersion`'s unit; null when CUDA is not compiled in. */
  readonly minDriverVersion: string | null;
  /**
   * Every CUDA build found for this platform, newest first, with the one in use marked
   * `loaded` and why each other was not used. One entry for a single CUDA binary (a local
   * build, SQUEEZE_EXCITE_BINARY); empty for a CPU-only binary or when the addon did not load.
   */
  readonly builds: readonly CudaBuildInfo[];
  /** Why CUDA is not available, in words; null when it is. */
  readonly reason: string | null;
  /** Path of the loaded .node file; null when the addon could not be loaded. */
  readonly binary: string | null;
}

let cachedBinding: NativeBinding | undefined;

/** @internal The native addon; throws the loader's Error (which says what was tried) when it cannot load. */
export function binding(): NativeBinding {
  if (cachedBinding === undefined) cachedBinding = loadBinding();
  return cachedBinding;
}

/**
 * @internal Loads the addon now if it is not loaded, keeping the outcome for binding(); never
 * throws (binding() throws the loader's error where the call needs the addon, after the
 * arguments' own errors). Every call that reaches the addon runs this before it reads an
 * argument: the first load reads path, fs and JSON as they are, so a caller who replaced one of
 * them runs code inside it, and that code must not run between an argument's check and its use
 * (an attack called a block again from there and replaced the shape of the call in progress: a
 * silently wrong result; another detached a checked x).
 */
export function attemptLoad(): void {
  if (cachedBinding !== undefined) return;
  try {
    cachedBinding = loadBinding();
  } catch {
    // kept by the loader (or retried by binding(): a failure that says nothing of this machine)
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function freezeBuilds(): readonly CudaBuildInfo[] {
  let list: CudaBuildInfo[];
  try {
    list = cudaBuilds();
  } catch {
    list = [];
  }
  // Loops and built-ins captured at load: this runs inside calls (the first CUDA query), where a
  // replaced Array.prototype.map ran the caller's code after the arguments were checked.
  const out: CudaBuildInfo[] = [];
  for (let i = 0; i < list.length; i++) {
    const b = list[i]!;
    listAppend(out, ObjectFreeze({
      cudaVersion: b.cudaVersion,
      minDriverVersion: b.minDriverVersion,
      binary: b.binary,
      loaded: b.loaded,
      ...(b.reason === undefined ? {} : { reason: b.reason }),
    }));
  }
  return ObjectFreeze(out);
}

/** "12" of "12.4", without String.prototype.split (replaceable). */
function majorOf(version: string): string {
  let end = 0;
  while (end < version.length && version[end] !== '.') end++;
  return StringPrototypeSlice(version, 0, end);
}

function freezeStatus(s: NativeCudaStatus, binary: string | null): CudaStatus {
  const list: CudaDeviceInfo[] = [];
  for (let i = 0; i < s.devices.length; i++) {
    const d = s.devices[i]!;
    listAppend(list, ObjectFreeze({
      index: d.index,
      name: d.name,
      computeCapability: d.computeCapability,
      multiprocessors: d.multiprocessors,
      totalMemory: d.totalMemory,
      l2Bytes: d.l2Bytes,
    }));
  }
  const devices = ObjectFreeze(list);
  return ObjectFreeze({
    compiled: s.compiled,
    available: s.available,
    deviceCount: s.deviceCount,
    devices,
    driverVersion: s.driverVersion,
    runtimeVersion: s.runtimeVersion,
    // A stale local build made before the field existed: its runtime's major.0, the CUDA >= 12 rule.
    minDriverVersion: s.minDriverVersion ?? (s.runtimeVersion === null ? null : `${majorOf(s.runtimeVersion)}.0`),
    builds: freezeBuilds(),
    reason: s.available ? null : (s.reason ?? 'CUDA is not available (no reason given by the addon)'),
    binary,
  });
}

/** The status when no CUDA can be reported (the addon did not load, or its query threw). */
function unavailableStatus(reason: string, builds: CudaStatus['builds'], binary: string | null): CudaStatus {
  return ObjectFreeze({
    compiled: false,
    available: false,
    deviceCount: 0,
    devices: ObjectFreeze([]),
    driverVersion: null,
    runtimeVersion: null,
    minDriverVersion: null,
    builds,
    reason,
    binary,
  });
}

function queryStatus(): CudaStatus {
  let native: NativeBinding;
  try {
    native = binding();
  } catch (err) {
    return unavailableStatus(`the native addon could not be loaded: ${errorText(err)}`, ObjectFreeze([]), null);
  }
  let path: string | null = null;
  try {
    path = bindingPath();
  } catch {
    path = null;
  }
  try {
    return freezeStatus(native.cudaStatus(), path);
  } catch (err) {
    // Not cached by availability(): a failed query (code the caller replaced, throwing once) must
    // not make CUDA unavailable for the rest of the process.
    queryFailed = true;
    return unavailableStatus(`querying CUDA failed: ${errorText(err)}`, freezeBuilds(), path);
  }
}

/**
 * CUDA backend information (a frozen object): `cuda.status()` says whether the loaded addon has
 * CUDA kernels, which devices it can use and why not (the reason behind device 'auto' running on
 * the CPU). `import { cuda } from 'squeeze-excite'; console.log(cuda.status())`.
 */
export const cuda = Object.freeze({
  /**
   * Reports whether CUDA kernels are compiled in and a device is usable, with the devices,
   * driver and runtime versions, the loaded binary, and every shipped CUDA build (`builds`:
   * which one loaded and why the others did not). Never throws: when the addon itself cannot
   * load, `compiled` is false and `reason` says why.
   */
  status(): CudaStatus {
    return queryStatus();
  },
});

// Backend choice runs on every call with device 'auto', so the availability is read once per
// process (the native status is itself cached; this avoids building the devices array each call).
let cachedAvailability: CudaStatus | undefined;

let queryFailed = false;

function availability(): CudaStatus {
  if (cachedAvailability === undefined) {
    queryFailed = false;
    const s = queryStatus();
    // A load failure is not cached: the caller sees the loader's own Error on the CPU path; nor
    // is a query that threw.
    if ((s.binary === null && !s.compiled) || queryFailed) return s;
    cachedAvailability = s;
  }
  return cachedAvailability;
}

/** False when the addon itself did not load (then the CPU path cannot run either). */
function addonLoaded(s: CudaStatus): boolean {
  return s.binary !== null || s.compiled;
}

/** The status reason without its final full stop (the message adds its own). */
function reasonText(s: CudaStatus): string {
  const r = s.reason ?? 'unknown reason';
  return r.length > 0 && r[r.length - 1] === '.' ? StringPrototypeSlice(r, 0, -1) : r;
}

/** @internal */
export type DeviceChoice = 'auto' | 'cpu' | 'cuda';

/**
 * @internal true: run on CUDA device `deviceIndex`; false: run on the CPU. Throws an Error carrying the
 * status reason for 'cuda' without CUDA, and a RangeError for a device index out of range.
 */
export function useCuda(fn: string, device: DeviceChoice, deviceIndex: number | undefined): boolean {
  if (device === 'cpu') return false;
  const s = availability();
  if (!s.available) {
    if (device === 'auto') return false;
    const fix = addonLoaded(s)
      ? "Use device: 'auto' to run on the CPU when CUDA is missing; cuda.status() tells why it is."
      : 'The CPU path needs the same addon, so fix its installation first (the reason above says how).';
    // `argument` as for a refused option: the choice that cannot be honoured here is options.device.
    throw withProps(codedError(`${fn}: device 'cuda' was requested but CUDA is not available: ${reasonText(s)}. ${fix}`, 'ERR_SQEX_CUDA_UNAVAILABLE'), { argument: 'options.device' });
  }
  if (deviceIndex !== undefined && deviceIndex >= s.deviceCount) {
    throw rangeError(
      fn,
      'options.deviceIndex',
      `less than the CUDA device count (${s.deviceCount})`,
      deviceIndex,
    );
  }
  return true;
}

/**
 * @internal true: a call over host arrays runs on CUDA device `deviceIndex`; false: on the CPU.
 * Device 'auto' runs host arrays on the CPU unless the call names a GPU resource (a deviceIndex
 * or a stream): on the H200 host (16 cores, bench/crossover.mjs, 2026-11-30) the CUDA host path
 * (copy in through pinned staging, kernel, copy out) was slower than the CPU for every op at every
 * size measured, 0.02 to 392 MiB (1.1× at ECA 1×2048×7², 3.1-14× from 3 MiB up), and the 2-core
 * dev VM's CPU times were below that host path's too; a memory-bound op cannot win back a PCIe
 * round trip. With a deviceIndex or a stream, 'auto' keeps useCuda's choice. DeviceTensor x runs
 * on CUDA whatever this says.
 */
export function hostArraysUseCuda(fn: string, device: DeviceChoice, deviceIndex: number | undefined, streamGiven: boolean): boolean {
  if (device === 'auto' && deviceIndex === undefined && !streamGiven) return false;
  return useCuda(fn, device, deviceIndex);
}

/** @internal For DeviceTensor operations, which need CUDA whatever the options say. */
export function requireCuda(fn: string, what: string): NativeBinding {
  const s = availability();
  if (!s.available) {
    const fix = addonLoaded(s)
      ? 'Without CUDA, pass Float32Arrays (they run on the CPU); cuda.status() tells why CUDA is missing.'
      : 'The CPU path needs the same addon, so fix its installation first (the reason above says how).';
    throw codedError(`${fn}: ${what} needs CUDA, which is not available: ${reasonText(s)}. ${fix}`, 'ERR_SQEX_CUDA_UNAVAILABLE');
  }
  return binding();
}
