// The options of the block classes: their constructors' and their calls' (lib/blocks.ts), as
// types and as the key lists each accepts.

import type { DeviceTensor } from './device-tensor.js';
import type { Activation, DType, DeviceSelection, Gate, HostOrDevice, Layout, Offload, OutputActivation } from './types.js';

/**
 * Constructor options of SEBlock. An unknown key is a TypeError (code 'ERR_INVALID_ARG_TYPE')
 * naming it; a bad value a TypeError or RangeError (code 'ERR_OUT_OF_RANGE') naming the option.
 * `device` and `deviceIndex` (see {@link DeviceSelection}) are resolved once, at construction:
 * a CUDA block uploads its weights there (under plain 'auto': at its first DeviceTensor call) and
 * keeps them resident until dispose().
 */
export type SEBlockOptions = DeviceSelection & {
  /** Layout of host inputs (default 'NCHW'); DeviceTensor inputs must have it when given. See {@link Layout}. */
  layout?: Layout | undefined;
  /** Between the two FCs; default 'relu'. Unused by the single-FC form. See {@link Activation}. */
  activation?: Activation | undefined;
  /** Default 'sigmoid'. See {@link Gate}. */
  gate?: Gate | undefined;
  /** Applied after the residual add; default 'none'. See {@link OutputActivation}. */
  outputActivation?: OutputActivation | undefined;
  /** The dtype DeviceTensor inputs must have, when given (host arrays are always float32). See {@link DType}. */
  dtype?: DType | undefined;
  /**
   * C, a positive integer: needed only when w2 is present and b1 and b2 are both omitted (w1
   * [hidden, C] and w2 [C, hidden] alone do not fix C); must agree with the weights otherwise.
   */
  channels?: number | undefined;
};

/** Constructor options of ECABlock (see {@link SEBlockOptions} for the common rules). */
export type ECABlockOptions = DeviceSelection & {
  /** Layout of host inputs (default 'NCHW'); DeviceTensor inputs must have it when given. */
  layout?: Layout | undefined;
  /** Default 'sigmoid'. See {@link Gate}. */
  gate?: Gate | undefined;
  /** The dtype DeviceTensor inputs must have, when given. */
  dtype?: DType | undefined;
};

/** Constructor options of CBAMBlock (see {@link SEBlockOptions} for the common rules). */
export type CBAMBlockOptions = DeviceSelection & {
  /** Layout of host inputs (default 'NCHW'); DeviceTensor inputs must have it when given. */
  layout?: Layout | undefined;
  /** Between the channel MLP's FCs; default 'relu'. See {@link Activation}. */
  activation?: Activation | undefined;
  /** Of the channel and spatial gates; default 'sigmoid'. See {@link Gate}. */
  gate?: Gate | undefined;
  /** The dtype DeviceTensor inputs must have, when given. */
  dtype?: DType | undefined;
  /** C, a positive integer: needed only when b1 and b2 are both omitted. */
  channels?: number | undefined;
};

/**
 * Per-call options of SEBlock.forward / forwardAsync with host arrays (Float32Arrays); each field's
 * doc gives its shape. An unknown key is a TypeError (code 'ERR_INVALID_ARG_TYPE'); an option the
 * block fixes at construction (layout, gate, ...) a RangeError (code 'ERR_OUT_OF_RANGE').
 */
export interface SEBlockForwardOptions {
  /** y = x·s + residual: N·C·H·W elements in the block's layout; out may be it (in place) or disjoint from it. */
  residual?: Float32Array | undefined;
  /** Receives y (N·C·H·W elements) and is returned; may be x or residual itself, else disjoint from them. Default: a new array. */
  out?: Float32Array | undefined;
  /** Receives s, [N, C] row-major (N·C elements); disjoint from x, residual and out. */
  scaleOut?: Float32Array | undefined;
  /**
   * cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) of a CUDA block; default 0n; not cudaStreamPerThread (2n). Given with a
   * host x to a block built with plain 'auto' (any value, 0n included), it sends that call to
   * CUDA when CUDA is usable (the CPU otherwise); omit it to run there on the CPU. On the CPU its value is checked (2n refused) and otherwise ignored.
   */
  stream?: bigint | undefined;
  /** Async calls on the CPU: 'always' runs the op off the calling thread even when copying its operands costs more; default 'auto' (see {@link Offload}). */
  offload?: Offload | undefined;
}
/**
 * Per-call options of SEBlock.forward / forwardAsync with a DeviceTensor x (a CUDA block); refused
 * keys as for the host form.
 */
export interface SEBlockDeviceForwardOptions {
  /** y = x·s + residual: a DeviceTensor like x, live. */
  residual?: DeviceTensor | undefined;
  /** Receives y and is returned: a DeviceTensor like x; may be x or residual itself. Default: a new DeviceTensor. */
  out?: DeviceTensor | undefined;
  /** Receives s: a float32 DeviceTensor of N·C elements on x's device. */
  scaleOut?: DeviceTensor | undefined;
  /** cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) the kernel is enqueued on; default 0n; not cudaStreamPerThread (2n). */
  stream?: bigint | undefined;
}
/**
 * Per-call options of ECABlock.forward / forwardAsync with host arrays (Float32Arrays); each field's
 * doc gives its shape. An unknown key is a TypeError (code 'ERR_INVALID_ARG_TYPE'); an option the
 * block fixes at construction (layout, gate, ...) a RangeError (code 'ERR_OUT_OF_RANGE').
 */
export interface ECABlockForwardOptions {
  /** Receives y (N·C·H·W elements) and is returned; may be x itself, else disjoint from it. Default: a new array. */
  out?: Float32Array | undefined;
  /** Receives s, [N, C] row-major (N·C elements); disjoint from x and out. */
  scaleOut?: Float32Array | undefined;
  /**
   * cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) of a CUDA block; default 0n; not cudaStreamPerThread (2n). Given with a
   * host x to a block built with plain 'auto' (any value, 0n included), it sends that call to
   * CUDA when CUDA is usable (the CPU otherwise); omit it to run there on the CPU. On the CPU its value is checked (2n refused) and otherwise ignored.
   */
  stream?: bigint | undefined;
  /** Async calls on the CPU: 'always' runs the op off the calling thread even when copying its operands costs more; default 'auto' (see {@link Offload}). */
  offload?: Offload | undefined;
}
/**
 * Per-call options of ECABlock.forward / forwardAsync with a DeviceTensor x (a CUDA block); refused
 * keys as for the host form.
 */
export interface ECABlockDeviceForwardOptions {
  /** Receives y and is returned: a DeviceTensor like x; may be x itself. Default: a new DeviceTensor. */
  out?: DeviceTensor | undefined;
  /** Receives s: a float32 DeviceTensor of N·C elements on x's device. */
  scaleOut?: DeviceTensor | undefined;
  /** cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) the kernel is enqueued on; default 0n; not cudaStreamPerThread (2n). */
  stream?: bigint | undefined;
}
/**
 * Per-call options of CBAMBlock.forward / forwardAsync with host arrays (Float32Arrays); each field's
 * doc gives its shape. An unknown key is a TypeError (code 'ERR_INVALID_ARG_TYPE'); an option the
 * block fixes at construction (layout, gate, ...) a RangeError (code 'ERR_OUT_OF_RANGE').
 */
export interface CBAMBlockForwardOptions {
  /** Receives y (N·C·H·W elements) and is returned; may be x itself, else disjoint from it. Default: a new array. */
  out?: Float32Array | undefined;
  /**
   * cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) of a CUDA block; default 0n; not cudaStreamPerThread (2n). Given with a
   * host x to a block built with plain 'auto' (any value, 0n included), it sends that call to
   * CUDA when CUDA is usable (the CPU otherwise); omit it to run there on the CPU. On the CPU its value is checked (2n refused) and otherwise ignored.
   */
  stream?: bigint | undefined;
  /** Async calls on the CPU: 'always' runs the op off the calling thread even when copying its operands costs more; default 'auto' (see {@link Offload}). */
  offload?: Offload | undefined;
}
/**
 * Per-call options of CBAMBlock.forward / forwardAsync with a DeviceTensor x (a CUDA block); refused
 * keys as for the host form.
 */
export interface CBAMBlockDeviceForwardOptions {
  /** Receives y and is returned: a DeviceTensor like x; may be x itself. Default: a new DeviceTensor. */
  out?: DeviceTensor | undefined;
  /** cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) the kernel is enqueued on; default 0n; not cudaStreamPerThread (2n). */
  stream?: bigint | undefined;
}
/**
 * Per-call options of a block's forward for an x typed `Float32Array | DeviceTensor` (see
 * {@link HostOrDevice}): those both forms take. residual, out and scaleOut are not among them
 * (their kind must be x's: narrow x to pass them).
 */
export interface BlockEitherForwardOptions {
  /**
   * cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) of a CUDA block; default 0n; not cudaStreamPerThread (2n). Given with a
   * host x to a block built with plain 'auto' (any value, 0n included), it sends that call to
   * CUDA when CUDA is usable (the CPU otherwise); omit it to run there on the CPU. On the CPU its value is checked (2n refused) and otherwise ignored.
   */
  stream?: bigint | undefined;
  /** Async CPU calls over a host x; ignored for a DeviceTensor x. See {@link Offload}. */
  offload?: Offload | undefined;
}

export const SE_BLOCK_KEYS = ['layout', 'activation', 'gate', 'outputActivation', 'device', 'deviceIndex', 'dtype', 'channels'] as const;
export const ECA_BLOCK_KEYS = ['layout', 'gate', 'device', 'deviceIndex', 'dtype'] as const;
export const CBAM_BLOCK_KEYS = ['layout', 'activation', 'gate', 'device', 'deviceIndex', 'dtype', 'channels'] as const;
export const SE_CALL_KEYS = ['residual', 'out', 'scaleOut', 'stream', 'offload'] as const;
export const ECA_CALL_KEYS = ['out', 'scaleOut', 'stream', 'offload'] as const;
export const CBAM_CALL_KEYS = ['out', 'stream', 'offload'] as const;

