// The 'auto' policy for host arrays on CUDA: a configuration the CUDA kernel refuses
// (ERR_SQEX_UNSUPPORTED) runs on the CPU, warns once per reason, and later calls with it skip the
// CUDA attempt.

import type { NativeError } from '../backend/contract.js';
import type { HostOperandSet } from './operands.js';
import type { PreparedCall } from './run.js';

// One warning per distinct reason, so a loop over an unsupported shape does not flood stderr.
const fallbackWarned = new Set<string>();
// Configurations the CUDA kernel refused: later 'auto' calls with the same one go straight to the
// CPU instead of staging x to the GPU again (the native planning runs after the upload).
const refusedConfigs = new Set<string>();

function configKey(call: PreparedCall): string {
  return call.cfg.join(',');
}

/** Whether a host call should try CUDA: device 'cuda' always; 'auto' unless this configuration was refused. */
export function triesCuda(call: PreparedCall, o: HostOperandSet): boolean {
  return o.cuda && !(call.cpuFallback && refusedConfigs.size > 0 && refusedConfigs.has(configKey(call)));
}

/**
 * Whether a failed CUDA call on host arrays may run on the CPU instead: device 'auto' and a
 * shape the kernel refused before touching any output (ERR_SQEX_UNSUPPORTED). Warns once.
 */
export function fallsBackToCpu(call: PreparedCall, err: unknown): boolean {
  if (!call.cpuFallback || !(err instanceof Error) || (err as NativeError).code !== 'ERR_SQEX_UNSUPPORTED') return false;
  refusedConfigs.add(configKey(call));
  const key = `${call.fn}\u0000${err.message}`;
  if (!fallbackWarned.has(key)) {
    fallbackWarned.add(key);
    process.emitWarning(
      `${call.fn}: the CUDA kernel cannot take this call (${err.message}); it ran on the CPU instead ` +
        "(device 'auto'). Pass device: 'cpu' to skip the CUDA attempt.",
      { code: 'SQEX_CPU_FALLBACK' },
    );
  }
  return true;
}
