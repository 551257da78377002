// The 'auto' policy for host arrays on CUDA: a configuration the CUDA kernel refuses
// (ERR_SQEX_UNSUPPORTED) runs on the CPU, warns once per reason, and later calls with it skip the
// CUDA attempt.

import type { NativeError } from '../backend/contract.js';
import { emitWarningSafely } from '../errors.js';
import type { HostOperandSet } from './operands.js';
import { SetPrototypeAdd, SetPrototypeClear, SetPrototypeGetSize, SetPrototypeHas, joinList } from '../primordials.js';
import type { PreparedCall } from './run.js';

// One warning per function and kind of reason, so neither a loop over an unsupported shape nor
// a stream of shapes (each reason names its own byte counts) floods stderr: the key is the reason
// with its numbers left out (reasonKind).
const fallbackWarned = new Set<string>();
// Configurations the CUDA kernel refused: later 'auto' calls with the same one go straight to the
// CPU instead of staging x to the GPU again (the native planning runs after the upload).
const refusedConfigs = new Set<string>();

// Configurations CUDA ran: the kernel's refusal depends on the configuration alone (shape,
// options, dtype, device), so once one ran, an async 'auto' call with it needs no copy of its
// inputs for a CPU rerun (runAsync).
const ranConfigs = new Set<string>();
// Each set is bounded: past this many keys it starts again (a server fed ever new shapes grew
// refusedConfigs by ~0.8 KB a shape, without end). Forgetting costs one more CUDA attempt for a
// refused configuration, one more input copy for a ran one, or one more warning.
const MAX_KEYS = 4096;

function addBounded(set: Set<string>, key: string): void {
  if (SetPrototypeGetSize(set) >= MAX_KEYS) SetPrototypeClear(set);
  SetPrototypeAdd(set, key);
}

/** A reason with every run of digits replaced by '#': "one channel (# bytes) ...". */
function reasonKind(message: string): string {
  let kind = '';
  let inDigits = false;
  for (let i = 0; i < message.length; i++) {
    const ch = message[i] as string;
    const digit = ch >= '0' && ch <= '9';
    if (!digit) kind += ch;
    else if (!inDigits) kind += '#';
    inDigits = digit;
  }
  return kind;
}

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
  addBounded(ranConfigs, configKey(call));
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
  addBounded(refusedConfigs, configKey(call));
  return true;
}

/**
 * The warning of a fallback (fallsBackToCpu said yes), once per function and kind of reason (the
 * reason's numbers aside): the first call's reason, numbers included, is the one shown.
 */
export function warnCpuFallback(call: PreparedCall, err: Error): void {
  const key = `${call.fn}\u0000${reasonKind(err.message)}`;
  if (!SetPrototypeHas(fallbackWarned, key)) {
    addBounded(fallbackWarned, key);
    emitWarningSafely(
      `${call.fn}: the CUDA kernel cannot take this call (${err.message}); it ran on the CPU instead ` +
        "(device 'auto' with a deviceIndex or stream). Omit both to run host arrays on the CPU directly " +
        "(plain 'auto' does), or pass device: 'cpu'.",
      'SQEX_CPU_FALLBACK',
    );
  }
}
