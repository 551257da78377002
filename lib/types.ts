// Public value types shared by the functions, the blocks and DeviceTensor.

/** Always the logical N, C, H, W, whatever the memory layout. */
export type Shape4 = readonly [n: number, c: number, h: number, w: number];
/** Memory layout of activations: NCHW (PyTorch default) or NHWC (channels-last). */
export type Layout = 'NCHW' | 'NHWC';
/** 'auto' picks CUDA when `cuda.status().available`, else the CPU. */
export type Device = 'auto' | 'cpu' | 'cuda';
/** Storage type of DeviceTensor activations. Host arrays and all weights are always float32. */
export type DType = 'float32' | 'float16' | 'bfloat16';
/** Hidden-layer activation of the excitation MLP. */
export type Activation = 'relu' | 'silu';
/** sigmoid, or hardsigmoid = min(max(v + 3, 0), 6) / 6. */
export type Gate = 'sigmoid' | 'hardsigmoid';
/** Applied to y after the residual add (SE only). */
export type OutputActivation = 'none' | 'relu';
/**
 * Where an async call over host arrays runs its CPU work. Staged on the libuv pool, such a call
 * copies its non-shared operands on the calling thread (README, "Async calls and your buffers").
 * 'auto': on the pool, unless those copies (and the hand-off) would cost the calling thread more
 * than the op itself (native/binding/host_staging.h estimates both from the shape and which arrays
 * are SharedArrayBuffer views); then the op runs on the calling thread before the call returns,
 * as the sync call does, and the promise resolves without a trip to the pool. 'always': on the
 * pool whatever the copies cost. Sync calls, DeviceTensor calls and the CUDA path ignore it.
 */
export type Offload = 'auto' | 'always';
