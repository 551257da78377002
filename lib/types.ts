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
