// CUDA status and backend choice. The addon is loaded lazily, on first use, so that argument
// validation never depends on it and `cuda.status()` can report a load failure instead of throwing.

import type { NativeBinding, NativeCudaStatus } from './backend/contract.js';
import { bindingPath, loadBinding } from './backend/load.js';
import { codedError, rangeError } from './is.js';

/** One CUDA device as seen by the addon. */
export interface CudaDeviceInfo {
  readonly index: number;
  readonly name: string;
  /** e.g. "9.0" */
  readonly computeCapability: string;
  readonly multiprocessors: number;
  /** bytes */
  readonly totalMemory: number;
  /** bytes */
  readonly l2Bytes: number;
}

/** What `cuda.status()` reports. */
export interface CudaStatus {
  /** CUDA kernels were built into the loaded addon. */
  readonly compiled: boolean;
  /** A usable CUDA device exists now: `device: 'auto'` picks CUDA exactly when this is true. */
  readonly available: boolean;
  readonly deviceCount: number;
  readonly devices: readonly CudaDeviceInfo[];
  /** e.g. "13.0"; null without a driver. */
  readonly driverVersion: string | null;
  /** The CUDA runtime linked into the addon; null when CUDA is not compiled in. */
  readonly runtimeVersion: string | null;
  /** Why CUDA is not available, in words; null when it is. */
  readonly reason: string | null;
  /** Path of the loaded .node file; null when the addon could not be loaded. */
  readonly binary: string | null;
}

let cachedBinding: NativeBinding | undefined;

/** The native addon; throws the loader's Error (which says what was tried) when it cannot load. */
export function binding(): NativeBinding {
  if (cachedBinding === undefined) cachedBinding = loadBinding();
  return cachedBinding;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function freezeStatus(s: NativeCudaStatus, binary: string | null): CudaStatus {
  const devices = Object.freeze(
    s.devices.map((d) =>
      Object.freeze({
        index: d.index,
        name: d.name,
        computeCapability: d.computeCapability,
        multiprocessors: d.multiprocessors,
        totalMemory: d.totalMemory,
        l2Bytes: d.l2Bytes,
      }),
    ),
  );
  return Object.freeze({
    compiled: s.compiled,
    available: s.available,
    deviceCount: s.deviceCount,
    devices,
    driverVersion: s.driverVersion,
    runtimeVersion: s.runtimeVersion,
    reason: s.available ? null : (s.reason ?? 'CUDA is not available (no reason given by the addon)'),
    binary,
  });
}

function queryStatus(): CudaStatus {
  let native: NativeBinding;
  try {
    native = binding();
  } catch (err) {
    return Object.freeze({
      compiled: false,
      available: false,
      deviceCount: 0,
      devices: Object.freeze([]),
      driverVersion: null,
      runtimeVersion: null,
      reason: `the native addon could not be loaded: ${errorText(err)}`,
      binary: null,
    });
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
    return Object.freeze({
      compiled: false,
      available: false,
      deviceCount: 0,
      devices: Object.freeze([]),
      driverVersion: null,
      runtimeVersion: null,
      reason: `querying CUDA failed: ${errorText(err)}`,
      binary: path,
    });
  }
}

/** CUDA backend information. */
export const cuda = Object.freeze({
  /**
   * Reports whether CUDA kernels are compiled in and a device is usable, with the devices,
   * driver and runtime versions and the loaded binary. Never throws: when the addon itself
   * cannot load, `compiled` is false and `reason` says why.
   */
  status(): CudaStatus {
    return queryStatus();
  },
});

// Backend choice runs on every call with device 'auto', so the availability is read once per
// process (the native status is itself cached; this avoids building the devices array each call).
let cachedAvailability: CudaStatus | undefined;

function availability(): CudaStatus {
  if (cachedAvailability === undefined) {
    const s = queryStatus();
    // A load failure is not cached: the caller sees the loader's own Error on the CPU path.
    if (s.binary === null && !s.compiled) return s;
    cachedAvailability = s;
  }
  return cachedAvailability;
}

export type DeviceChoice = 'auto' | 'cpu' | 'cuda';

/**
 * true: run on CUDA device `deviceIndex`; false: run on the CPU. Throws an Error carrying the
 * status reason for 'cuda' without CUDA, and a RangeError for a device index out of range.
 */
export function useCuda(fn: string, device: DeviceChoice, deviceIndex: number | undefined): boolean {
  if (device === 'cpu') return false;
  const s = availability();
  if (!s.available) {
    if (device === 'auto') return false;
    throw codedError(
      `${fn}: device 'cuda' was requested but CUDA is not available: ${s.reason ?? 'unknown reason'}. ` +
        "Use device: 'auto' to run on the CPU when CUDA is missing; cuda.status() tells why it is.",
      'ERR_SQEX_CUDA_UNAVAILABLE',
    );
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

/** For DeviceTensor operations, which need CUDA whatever the options say. */
export function requireCuda(fn: string, what: string): NativeBinding {
  const s = availability();
  if (!s.available) {
    throw codedError(
      `${fn}: ${what} needs CUDA, which is not available: ${s.reason ?? 'unknown reason'}. ` +
        'Without CUDA, pass Float32Arrays (they run on the CPU); cuda.status() tells why CUDA is missing.',
      'ERR_SQEX_CUDA_UNAVAILABLE',
    );
  }
  return binding();
}
