// Public value types shared by the functions, the blocks and DeviceTensor.

import type { DeviceTensor } from './device-tensor.js';

/**
 * The logical [N, C, H, W] of an activation tensor (batch, channels, height, width), whatever
 * its memory layout: four integers, N ≥ 0 and C, H, W ≥ 1, whose product, the element count,
 * is at most 2^31 − 1. N = 0 is an empty batch, as PyTorch allows: the ops make every argument
 * check of lib/, run nothing and return an empty result (or `out`); the CUDA kernel's own limits
 * (ERR_SQEX_UNSUPPORTED) are not consulted. A wrong one is a TypeError (code
 * 'ERR_INVALID_ARG_TYPE': not an array, a non-number) or a RangeError (code 'ERR_OUT_OF_RANGE':
 * not 4 dims, N < 0, C, H or W < 1, not an integer, too many elements) naming it.
 */
export type Shape4 = readonly [n: number, c: number, h: number, w: number];
/**
 * Memory layout of activations: 'NCHW' (PyTorch's default, contiguous) or 'NHWC'
 * (channels-last, `torch.channels_last`). Weights have no layout.
 */
export type Layout = 'NCHW' | 'NHWC';
/**
 * Where a call over host arrays, or a block, runs. 'auto': host arrays on the CPU, unless a
 * `deviceIndex` or a `stream` is given and `cuda.status().available` (the CUDA host path, which copies x in and y
 * out through pinned memory, was slower than the CPU at every size measured on an H200 host:
 * README, "Choosing the device"); a block's weights go to the GPU (when it is available) at its
 * first DeviceTensor call under plain 'auto', at construction with a `deviceIndex` or 'cuda'. 'cuda' throws an Error (code 'ERR_SQEX_CUDA_UNAVAILABLE', the message giving
 * `cuda.status().reason`) without a usable GPU. A DeviceTensor x always runs on its device.
 */
export type Device = 'auto' | 'cpu' | 'cuda';
/**
 * Storage type of DeviceTensor activations: 4 bytes an element for float32, 2 for float16 (IEEE
 * binary16) and bfloat16. These are storage types only: the arithmetic accumulates in float32
 * (float64 where the 1e-5 accuracy needs it). Host arrays and all weights are always float32.
 */
export type DType = 'float32' | 'float16' | 'bfloat16';
/**
 * Hidden-layer activation of the excitation MLP (timm's `act_layer`, torchvision
 * SqueezeExcitation's `activation`): relu(v) = max(v, 0) (torch.nn.ReLU), or
 * silu(v) = v · sigmoid(v) (torch.nn.SiLU, a.k.a. swish; EfficientNet's).
 */
export type Activation = 'relu' | 'silu';
/**
 * The gate that turns the excitation into scales (timm's `gate_layer`, torchvision
 * SqueezeExcitation's `scale_activation`): sigmoid(v) = 1 / (1 + e^−v)
 * (torch.nn.Sigmoid), or hardsigmoid(v) = min(max(v + 3, 0), 6) / 6 (torch.nn.Hardsigmoid, as in
 * MobileNetV3 and timm's EffectiveSEModule `hard_sigmoid`).
 */
export type Gate = 'sigmoid' | 'hardsigmoid';
/**
 * Applied to y after the residual add (SE only): 'none', or 'relu' = max(v, 0). With `residual`
 * this is the tail of a ResNet bottleneck with SE (Hu et al. 2018, "Squeeze-and-Excitation
 * Networks", Fig. 3; timm.models.resnet.Bottleneck.forward: `x = self.se(x)`, `x += shortcut`,
 * `x = self.act3(x)`).
 */
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

/**
 * `device` and `deviceIndex` of a call over host arrays, and of a block's construction. A device
 * index picks a CUDA device, so it is refused with device 'cpu' (RangeError, code
 * 'ERR_OUT_OF_RANGE', argument 'options.deviceIndex'): either any `device` and no
 * `deviceIndex`, or a `deviceIndex` with device 'auto' (the default) or 'cuda'.
 */
export type DeviceSelection =
  | {
      /**
       * Default 'auto': host arrays on the CPU (see {@link Device}). 'cuda' without a usable GPU
       * is an Error with code 'ERR_SQEX_CUDA_UNAVAILABLE'.
       */
      device?: Device | undefined;
      /** Omitted: CUDA device 0 when the call runs on CUDA. (Not allowed with device 'cpu'.) */
      deviceIndex?: undefined;
    }
  | {
      /**
       * 'auto' (the default) or 'cuda': a device index is refused with device 'cpu'. With 'auto' it
       * sends host arrays to that GPU when CUDA is usable (the CPU otherwise).
       */
      device?: 'auto' | 'cuda' | undefined;
      /**
       * CUDA device ordinal, an integer from 0 to `cuda.status().deviceCount` − 1 (default 0).
       * TypeError (code 'ERR_INVALID_ARG_TYPE') for a non-number; RangeError (code
       * 'ERR_OUT_OF_RANGE') for a negative or non-integer index, or one past the device count
       * when the call runs on CUDA. With device 'auto' and no usable GPU the CPU runs and it is
       * not used.
       */
      deviceIndex?: number | undefined;
    };

/**
 * The `x` of the overloads that take a value typed `Float32Array | DeviceTensor` (a union, not
 * known to be one or the other until run time): `X` itself when it may be either, `never` when
 * it is statically one of them, so that such calls resolve to the precise overloads, which type
 * the options and the result by the kind of x. Those overloads return
 * `Float32Array | DeviceTensor` (a Promise of it for the async ones).
 */
export type HostOrDevice<X> = [X] extends [Float32Array] ? never : [X] extends [DeviceTensor] ? never : X;
