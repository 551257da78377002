// squeeze-excite: fused channel-attention blocks (SE, ECA, CBAM) on the CPU and CUDA.

export type { Activation, DType, Device, DeviceSelection, Gate, HostOrDevice, Layout, Offload, OutputActivation, Shape4 } from './types.js';

export { seForward, seForwardAsync } from './ops/se.js';
export type { SEDeviceOptions, SEDeviceWeights, SEEitherOptions, SEOptions, SEWeights } from './ops/se.js';
export { ecaForward, ecaForwardAsync, ecaKernelSize } from './ops/eca.js';
export type { ECADeviceOptions, ECADeviceWeights, ECAEitherOptions, ECAOptions, ECAWeights } from './ops/eca.js';
export { cbamForward, cbamForwardAsync } from './ops/cbam.js';
export type { CBAMDeviceOptions, CBAMDeviceWeights, CBAMEitherOptions, CBAMOptions, CBAMWeights } from './ops/cbam.js';

export { CBAMBlock, ECABlock, SEBlock } from './blocks.js';
export type {
  BlockEitherForwardOptions,
  CBAMBlockDeviceForwardOptions,
  CBAMBlockForwardOptions,
  CBAMBlockOptions,
  ECABlockDeviceForwardOptions,
  ECABlockForwardOptions,
  ECABlockOptions,
  SEBlockDeviceForwardOptions,
  SEBlockForwardOptions,
  SEBlockOptions,
} from './block-options.js';

export {
  SAFETENSORS_MAX_HEADER_BYTES,
  SafetensorsError,
  SafetensorsFile,
  readSafetensors,
  readSafetensorsHeader,
  safetensorsToFloat32,
} from './safetensors.js';
export type {
  FileUrl,
  ReadSafetensorsOptions,
  SafetensorsCheck,
  SafetensorsData,
  SafetensorsDType,
  SafetensorsHeader,
  SafetensorsTensor,
  SafetensorsTensorInfo,
} from './safetensors.js';
export { ATTENTION_KINDS, BATCHNORM_EPS, StateDictError, attentionWeightsFromStateDict } from './state-dict.js';
export type {
  AttentionKind,
  AttentionMapOptions,
  CBAMFromStateDictOptions,
  CBAMKind,
  ECAFromStateDictOptions,
  ECAKind,
  MappedAttention,
  MappedAttentionOf,
  MappedCBAM,
  MappedECA,
  MappedSE,
  SEFromStateDictOptions,
  SEKind,
  StateDict,
  StateDictCheck,
  StateDictMapOptions,
  StateDictTensor,
} from './state-dict.js';
export { findAttentionModules } from './discover.js';
export type { FoundAttention, FoundAttentionBase } from './discover.js';

export { DeviceTensor } from './device-tensor.js';
export type { DevicePointerOptions, DeviceTensorHalfOptions, DeviceTensorOptions, DownloadOptions } from './device-tensor.js';

export { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from './half.js';

export { cuda } from './cuda.js';
export { cpu } from './cpu.js';
export type { CpuStatus } from './cpu.js';
export type { CudaBuildInfo, CudaDeviceInfo, CudaStatus } from './cuda.js';

export { loadReport, LoadError } from './backend/load.js';

export { isSqexError } from './errors.js';
export type { SqexError, SqexErrorCode } from './errors.js';
export type { LoadAttempt, LoadReport } from './backend/load.js';

import { DeviceTensor } from './device-tensor.js';
import type { DevicePointerOptions } from './device-tensor.js';
import type { Shape4 } from './types.js';

/**
 * Wraps CUDA memory owned by someone else, or views a DeviceTensor's memory, without taking
 * ownership: {@link DeviceTensor.fromPointer} (same arguments, result and errors). dispose() only
 * detaches; the memory stays its owner's to free, and must outlive every use (a view of this
 * thread's own DeviceTensors keeps their memory until it is done too). No CUDA call is made, so
 * the pointer is not checked beyond being non-zero.
 *
 * @param ptr - the device address, a bigint in (0n, 2n ** 64n); 0n for an empty tensor (N = 0).
 * @param shape - logical [N, C, H, W] of the memory, in `options.layout` and `options.dtype`.
 * @param options - see {@link DevicePointerOptions} (layout, dtype, device, byteLength).
 * @returns a DeviceTensor over that memory.
 * @throws TypeError (code 'ERR_INVALID_ARG_TYPE') for a non-bigint ptr or a bad option kind;
 *   RangeError (code 'ERR_OUT_OF_RANGE') for ptr 0n (with N >= 1) or >= 2^64, a bad shape, a
 *   byteLength below the tensor's bytes, or a device index past the device count; Error with code
 *   'ERR_SQEX_CUDA_UNAVAILABLE' without a usable GPU.
 */
export function fromPointer(ptr: bigint, shape: Shape4, options?: DevicePointerOptions): DeviceTensor {
  return DeviceTensor.fromPointer(ptr, shape, options);
}
