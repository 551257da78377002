// The codes of the Errors this package throws, as a type, and a guard that narrows to them.

import { ObjectKeys, ReflectApply, SetPrototypeHas } from './primordials.js';
import type { LoadReport } from './backend/load.js';
import type { SafetensorsCheck } from './safetensors-header.js';
import type { StateDictCheck } from './state-dict-reader.js';

/**
 * Every `code` an Error thrown by this package carries (README, "Errors"):
 * - 'ERR_INVALID_ARG_TYPE' (TypeError) and 'ERR_OUT_OF_RANGE' (RangeError): a refused argument,
 *   named by `argument` (Node's own codes, with the same meaning);
 * - 'ERR_SQEX_INVALID_ARGUMENT' (RangeError): an argument only the native side could refuse
 *   (e.g. a CUDA cache that would have to grow during graph capture);
 * - 'ERR_SQEX_CUDA_UNAVAILABLE': 'cuda' or a DeviceTensor without a usable GPU (the message gives
 *   `cuda.status().reason`; `argument` is 'options.device' where an op or block asked for 'cuda'); 'ERR_SQEX_CUDA': a CUDA error (`cudaError`, `cudaErrorName`);
 * - 'ERR_SQEX_UNSUPPORTED', 'ERR_SQEX_ARRAY_CHANGED' (an async call's array was detached, resized
 *   or transferred meanwhile), 'ERR_SQEX_DISPOSED', 'ERR_SQEX_OUT_OF_MEMORY' (`bytes`),
 *   'ERR_ILLEGAL_CONSTRUCTOR', 'ERR_SQEX_LOAD' (LoadError), 'ERR_SQEX_INTERNAL' (a bug here);
 * - checkpoints: 'ERR_SQEX_SAFETENSORS' (SafetensorsError, `check`), 'ERR_SQEX_SAFETENSORS_NAME',
 *   'ERR_SQEX_SAFETENSORS_IO', 'ERR_SQEX_SAFETENSORS_TOO_LARGE', 'ERR_SQEX_STATE_DICT'
 *   (StateDictError, `check`).
 * Errors that are not this package's pass through unchanged: Node's (ENOENT for a missing file)
 * and whatever your callbacks throw (readSafetensors' `names` function). A getter or Proxy trap
 * that throws while an argument is read is refused as that argument instead: a TypeError
 * ('ERR_INVALID_ARG_TYPE', `argument`) with what it threw as `cause`.
 */
export type SqexErrorCode =
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_SQEX_INVALID_ARGUMENT'
  | 'ERR_SQEX_CUDA_UNAVAILABLE'
  | 'ERR_SQEX_CUDA'
  | 'ERR_SQEX_UNSUPPORTED'
  | 'ERR_SQEX_ARRAY_CHANGED'
  | 'ERR_SQEX_DISPOSED'
  | 'ERR_SQEX_OUT_OF_MEMORY'
  | 'ERR_ILLEGAL_CONSTRUCTOR'
  | 'ERR_SQEX_LOAD'
  | 'ERR_SQEX_INTERNAL'
  | 'ERR_SQEX_SAFETENSORS'
  | 'ERR_SQEX_SAFETENSORS_NAME'
  | 'ERR_SQEX_SAFETENSORS_IO'
  | 'ERR_SQEX_SAFETENSORS_TOO_LARGE'
  | 'ERR_SQEX_STATE_DICT';

/** An Error of this package: its `code`, and the fields some codes add (README, "Errors"). */
export interface SqexError extends Error {
  /** What kind of failure this is: one of {@link SqexErrorCode}, stable across versions (match on it, not on the message). */
  readonly code: SqexErrorCode;
  /** The refused argument, e.g. 'weights.w1' or 'options.out' (TypeError / RangeError refusals). */
  readonly argument?: string;
  /** The cudaError_t number ('ERR_SQEX_CUDA'), e.g. 2 for cudaErrorMemoryAllocation. */
  readonly cudaError?: number;
  /** Its name as cudaGetErrorName gives it ('ERR_SQEX_CUDA'), e.g. 'cudaErrorMemoryAllocation'. */
  readonly cudaErrorName?: string;
  /** The allocation that failed ('ERR_SQEX_OUT_OF_MEMORY'), in bytes. */
  readonly bytes?: number;
  /**
   * The memory available to the process when an async call's staging was refused
   * ('ERR_SQEX_OUT_OF_MEMORY' when the call is made), in bytes; 128 MiB of it are kept for the rest
   * of the process.
   */
  readonly available?: number;
  /** What async calls in flight had reserved and not yet written at that refusal, in bytes. */
  readonly reserved?: number;
  /** The tensor at fault ('ERR_SQEX_SAFETENSORS', 'ERR_SQEX_STATE_DICT'), when one is. */
  readonly tensor?: string | undefined;
  /** The shape that tensor must have ('ERR_SQEX_STATE_DICT', checks 'missing' and 'shape'), e.g. '[16, 64, 1, 1]'. */
  readonly expectedShape?: string | undefined;
  /** The checkpoint read ('ERR_SQEX_SAFETENSORS'): its path, or '<Uint8Array>'. */
  readonly source?: string;
  /** What the loader tried and why each candidate failed ('ERR_SQEX_LOAD'). */
  readonly report?: LoadReport;
  /**
   * Which rule a checkpoint broke: a {@link SafetensorsCheck} ('ERR_SQEX_SAFETENSORS') or a
   * {@link StateDictCheck} ('ERR_SQEX_STATE_DICT').
   */
  readonly check?: SafetensorsCheck | StateDictCheck;
}

// Every member of SqexErrorCode, once: the Record type makes the compiler refuse a code missing
// here or one that is not in the union.
const CODE_TABLE: Readonly<Record<SqexErrorCode, true>> = {
  ERR_INVALID_ARG_TYPE: true,
  ERR_OUT_OF_RANGE: true,
  ERR_SQEX_INVALID_ARGUMENT: true,
  ERR_SQEX_CUDA_UNAVAILABLE: true,
  ERR_SQEX_CUDA: true,
  ERR_SQEX_UNSUPPORTED: true,
  ERR_SQEX_ARRAY_CHANGED: true,
  ERR_SQEX_DISPOSED: true,
  ERR_SQEX_OUT_OF_MEMORY: true,
  ERR_ILLEGAL_CONSTRUCTOR: true,
  ERR_SQEX_LOAD: true,
  ERR_SQEX_INTERNAL: true,
  ERR_SQEX_SAFETENSORS: true,
  ERR_SQEX_SAFETENSORS_NAME: true,
  ERR_SQEX_SAFETENSORS_IO: true,
  ERR_SQEX_SAFETENSORS_TOO_LARGE: true,
  ERR_SQEX_STATE_DICT: true,
};
const CODES: ReadonlySet<string> = new Set(ObjectKeys(CODE_TABLE));

/**
 * Whether `e` is an Error with one of this package's codes (narrows `catch (e)`'s unknown). Node's
 * own ERR_INVALID_ARG_TYPE and ERR_OUT_OF_RANGE errors pass as well: the codes mean the same.
 * Reads `code` once; never throws (a Proxy or a getter that throws gives false).
 */
export function isSqexError(e: unknown): e is SqexError {
  try {
    if (!(e instanceof Error)) return false; // a Proxy's getPrototypeOf trap may throw
    const code: unknown = (e as { code?: unknown }).code;
    return typeof code === 'string' && SetPrototypeHas(CODES, code);
  } catch {
    return false;
  }
}

/**
 * process.emitWarning as it is at the call (a caller may route warnings through their own), where
 * a replaced one that throws, or none at all, does not fail the call that warns: the warning is
 * advice about work already done (an attack, 2026-12-03: a block built by fromStateDict was lost
 * to a throwing emitWarning, with the caller's uncoded error). @internal
 */
export function emitWarningSafely(message: string, code: string): void {
  try {
    const emit: unknown = process.emitWarning;
    if (typeof emit === 'function') ReflectApply(emit, process, [message, { code }]);
  } catch {
    // The warning is lost; what it is about has succeeded.
  }
}
