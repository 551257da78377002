// The 'auto' policy for host arrays on CUDA: a configuration the CUDA kernel refuses
// (ERR_SQEX_UNSUPPORTED) runs on the CPU, warns once per reason, and later calls with it skip the
// CUDA attempt.

import type { NativeError } from '../backend/contract.js';
import type { HostOperandSet } from './operands.js';
import { SetPrototypeAdd, SetPrototypeClear, SetPrototypeGetSize, SetPrototypeHas, joinList } from '../primordials.js';
import type { PreparedCall } from './run.js';

// One warning per distinct reason, so a loop over an unsupported shape does not flood stderr.
const fallbackWarned = new Set<string>();
// Configurations the CUDA kernel refused: later 'auto' calls with the same one go straight to the
// CPU instead of staging x to the GPU again (the native planning runs after the upload).
const refusedConfigs = new Set<string>();

// Configurations CUDA ran: the kernel's refusal depends on the configuration alone (shape,
// options, dtype, device), so once one ran, an async 'auto' call with it needs no copy of its
// inputs for a CPU rerun (runAsync). Bounded: past this many, start again.
const ranConfigs = new Set<string>();
const MAX_RAN_CONFIGS = 4096;

function configKey(call: PreparedCall): string {
  return joinList(call.cfg as unknown as readonly number[], ',');
}

/** Whether an async host call that tries CUDA might still fall back to the CPU after its await. */
export function mayFallBackLater(call: PreparedCall): boolean {
  return call.cpuFallback && !SetPrototypeHas(ranConfigs, configKey(call));
}

/** Records that CUDA ran this configuration (see mayFallBackLater). */
export function cudaRan(call: PreparedCall): void {
  if (!call.cpuFallback) return;
  if (SetPrototypeGetSize(ranConfigs) >= MAX_RAN_CONFIGS) SetPrototypeClear(ranConfigs);
  SetPrototypeAdd(ranConfigs, configKey(call));
}

/** Whether a host call should try CUDA: device 'cuda' always; 'auto' unless this configuration was refused. */
export function triesCuda(call: PreparedCall, o: HostOperandSet): boolean {
  return o.cuda && !(call.cpuFallback && SetPrototypeGetSize(refusedConfigs) > 0 && SetPrototypeHas(refusedConfigs, configKey(call)));
}

/**
 * Whether a failed CUDA call on host arrays may run on the CPU instead: device 'auto' and a
 * shape the kernel refused before touching any output (ERR_SQEX_UNSUPPORTED). Runs no code of
 * the caller's: the warning (warnCpuFallback) comes after the CPU has run, since
 * process.emitWarning may be the caller's own, and a block's calls share one cfg.
 */
export function fallsBackToCpu(call: PreparedCall, err: unknown): boolean {
  if (!call.cpuFallback || !(err instanceof Error) || (err as NativeError).code !== 'ERR_SQEX_UNSUPPORTED') return false;
  SetPrototypeAdd(refusedConfigs, configKey(call));
  return true;
}

/** The warning of a fallback (fallsBackToCpu said yes), once per function and reason. */
export function warnCpuFallback(call: PreparedCall, err: Error): void {
  const key = `${call.fn}\u0000${err.message}`;
  if (!SetPrototypeHas(fallbackWarned, key)) {
    SetPrototypeAdd(fallbackWarned, key);
    process.emitWarning(
      `${call.fn}: the CUDA kernel cannot take this call (${err.message}); it ran on the CPU instead ` +
        "(device 'auto' with a deviceIndex or stream). Omit both to run host arrays on the CPU directly " +
        "(plain 'auto' does), or pass device: 'cpu'.",
      { code: 'SQEX_CPU_FALLBACK' },
    );
  }
}
