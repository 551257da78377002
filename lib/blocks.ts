/// <reference lib="esnext.disposable" preserve="true" />
// Reusable blocks: SEBlock, ECABlock and CBAMBlock, their public surface. Weights are validated
// once and, when the block uses CUDA, uploaded once as resident float32 DeviceTensors (at
// construction, or at the first DeviceTensor call under plain device 'auto'); what the classes
// share is block-core.ts, their options block-options.ts.

import { BlockCore, describeBlock } from './block-core.js';
import {
  type BlockEitherForwardOptions,
  CBAM_BLOCK_KEYS,
  CBAM_CALL_KEYS,
  type CBAMBlockDeviceForwardOptions,
  type CBAMBlockForwardOptions,
  type CBAMBlockOptions,
  ECA_BLOCK_KEYS,
  ECA_CALL_KEYS,
  type ECABlockDeviceForwardOptions,
  type ECABlockForwardOptions,
  type ECABlockOptions,
  SE_BLOCK_KEYS,
  SE_CALL_KEYS,
  type SEBlockDeviceForwardOptions,
  type SEBlockForwardOptions,
  type SEBlockOptions,
} from './block-options.js';
import type { DeviceTensor } from './device-tensor.js';
import { typeError, typeErrorText } from './arg-errors.js';
import { article, registerOwnClass } from './describe.js';
import { ObjectDefineProperty } from './primordials.js';
import { CBAM_SPEC, type CBAMWeights } from './ops/cbam.js';
import { ECA_SPEC, type ECAWeights } from './ops/eca.js';
import { SE_SPEC, type SEWeights } from './ops/se.js';
import {
  type CBAMFromStateDictOptions,
  type ECAFromStateDictOptions,
  type SEFromStateDictOptions,
  type StateDict,
  cbamFromStateDict,
  ecaFromStateDict,
  seFromStateDict,
} from './state-dict.js';
import { runAsync } from './ops/run.js';
import { awaitable } from './awaitable.js';
import type { Activation, DType, Gate, HostOrDevice, Layout, OutputActivation, Shape4 } from './types.js';
// For the doc comments' links.
import type { cbamForward, cbamForwardAsync } from './ops/cbam.js';
import type { ecaForward, ecaForwardAsync } from './ops/eca.js';
import type { seForward, seForwardAsync } from './ops/se.js';
import type { ATTENTION_KINDS, attentionWeightsFromStateDict } from './state-dict.js';

// Symbol.dispose is missing on early Node 20 releases; Node uses this registered symbol there.
const disposeSymbol: typeof Symbol.dispose = (Symbol.dispose ?? Symbol.for('nodejs.dispose')) as typeof Symbol.dispose;

/**
 * `self`'s core, when `self` is a block (of class `name` when given); else a coded TypeError.
 * Module-private, set in Block's static block (the one place that can read #core): a protected
 * static method gave any subclass the core, whose weights, pointers and disposed flag it could
 * then change (an attack on the published types, 2026-11-30).
 */
let coreOf: (self: unknown, fn: string, name?: string) => BlockCore;
/** Whether value is a block of this copy's class `name` (describe's registry). */
let isBlockNamed: (value: unknown, name: string) => boolean;

/**
 * What every block shares: where it runs, disposal, and its description. Not constructible
 * outside this module (its constructor takes a core only the block classes make).
 */
abstract class Block {
  // Private: a method called on anything but a block of its class (`SEBlock.prototype.forward
  // .call(other)`, a Proxy of a block) is refused by coreOf instead of running on it.
  readonly #core: BlockCore;

  static {
    coreOf = (self, fn, name) => {
      const expected = name === undefined ? 'an SEBlock, ECABlock or CBAMBlock' : `${article(name)} ${name}`;
      if (typeof self !== 'object' || self === null || !(#core in self)) {
        // A Proxy of a block (Vue's reactive(), MobX) or Object.create(SEBlock.prototype) was
        // described as "an SEBlock instance": a contradiction with no fix (an attack, 2026-12-02).
        let poses = false;
        try {
          poses = typeof self === 'object' && self !== null && self instanceof Block;
        } catch {
          // a revoked Proxy: described as such below
        }
        if (poses) {
          throw typeErrorText(
            fn,
            'this',
            expected,
            'an object posing as a block (a Proxy of one, or an object made from its prototype), not one itself. Call the method on the block itself (with Vue, keep it out of reactive state: markRaw(block), or toRaw(proxy))',
          );
        }
        throw typeError(fn, 'this', expected, self);
      }
      const core = (self as Block).#core;
      if (name !== undefined && core.name !== name) throw typeError(fn, 'this', expected, self);
      return core;
    };
    isBlockNamed = (value, name) => typeof value === 'object' && value !== null && #core in value && (value as Block).#core.name === name;
  }

  // `object`, not BlockCore, so that the declarations do not publish the core's shape; only this
  // module can make one (BlockCore is not exported), and nothing else is taken.
  protected constructor(core: object) {
    if (!(core instanceof BlockCore)) throw typeError('Block', 'core', 'a block core (blocks are made with new SEBlock / ECABlock / CBAMBlock)', core);
    this.#core = core;
  }
  /**
   * Where the block runs its calls, fixed at construction: 'cpu', or 'cuda' when it may use the GPU
   * (device 'cuda' or 'auto' with a usable GPU). 'cuda' does not say that the weights are on the GPU
   * or that a host x runs there: a DeviceTensor x runs on the GPU, and so does a host x when the
   * block was built with device 'cuda' or a deviceIndex, or the call gives a stream; under plain
   * 'auto' a host x runs on the CPU, and the weights are uploaded at the first DeviceTensor call.
   */
  get backend(): 'cpu' | 'cuda' {
    return coreOf(this, 'backend').cuda ? 'cuda' : 'cpu';
  }
  /**
   * The layout given at construction, or undefined when none was: host x is then read as 'NCHW'
   * and a DeviceTensor x brings its own.
   */
  get layout(): Layout | undefined {
    return coreOf(this, 'layout').settings.layout;
  }
  /** The gate (the module's default for a block from fromStateDict, unless overridden). */
  get gate(): Gate {
    return coreOf(this, 'gate').settings.gate;
  }
  /** The DeviceTensor dtype given at construction, or undefined when any is taken. */
  get dtype(): DType | undefined {
    return coreOf(this, 'dtype').dtype;
  }
  /** True once dispose() has been called. */
  get disposed(): boolean {
    return coreOf(this, 'disposed').disposed;
  }
  /**
   * Frees the resident device weights (a CPU block has none). Idempotent; afterwards forward
   * throws and forwardAsync rejects with an Error with code 'ERR_SQEX_DISPOSED'. An async call still
   * in flight keeps the weights until it settles. A failed cudaFree is thrown (code
   * 'ERR_SQEX_CUDA') after every weight has been freed or tried.
   */
  dispose(): void {
    coreOf(this, 'dispose').dispose();
  }
  /** dispose(), for `using block = new SEBlock(...)` (or ECABlock, CBAMBlock). */
  [disposeSymbol](): void {
    coreOf(this, 'Symbol.dispose').dispose();
  }
  /**
   * What the block computes and where, e.g. "SEBlock (C 64, hidden 16, relu/sigmoid, cpu)",
   * "ECABlock (k 3, sigmoid, NHWC, cuda:0)", "CBAMBlock (C 256, hidden 16, relu/sigmoid, spatial
   * k 7, cpu, disposed)".
   */
  toString(): string {
    return describeBlock(coreOf(this, 'toString'));
  }
}

// console.log and util.inspect show what toString() says (a block's state is private: they showed
// `SEBlock {}`, even for a disposed one); not in the declared types, which need no Node types.
ObjectDefineProperty(Block.prototype, Symbol.for('nodejs.util.inspect.custom'), {
  __proto__: null,
  value: function inspect(this: unknown): string {
    try {
      return describeBlock(coreOf(this, 'inspect'));
    } catch {
      return 'an object posing as a block'; // Object.create(SEBlock.prototype), a Proxy: no core
    }
  },
  writable: true,
  configurable: true,
} as PropertyDescriptor);

// The call a block is being made for, when it is not `new`: fromStateDict sets it around its own
// `new`, so that what the constructor refuses (an option such as dtype or device, which
// fromStateDict passes on) names the function the caller called. Read and cleared at the
// constructor's start, before any other code can run.
let maker: string | undefined;

function takeMaker(): string | undefined {
  const fn = maker;
  maker = undefined;
  return fn;
}

function makingFor<T>(fn: string, make: () => T): T {
  maker = fn;
  try {
    return make();
  } finally {
    maker = undefined;
  }
}

/**
 * A squeeze-and-excitation block with fixed weights (see {@link seForward} for the math and its
 * sources). The weights are validated and copied once, at construction (later writes to your
 * arrays do not change the block); on CUDA they are uploaded once and stay resident on the device
 * until dispose(): at construction, or under plain device 'auto' at the first DeviceTensor call
 * (which then allocates and copies the weights, synchronously, before its kernel is enqueued:
 * run one call before capturing a CUDA graph). Later DeviceTensor calls upload nothing.
 */
export class SEBlock extends Block {
  /**
   * @param weights - see {@link SEWeights} (host Float32Arrays; copied).
   * @param options - see {@link SEBlockOptions}.
   * @throws TypeError (code 'ERR_INVALID_ARG_TYPE') or RangeError (code 'ERR_OUT_OF_RANGE') naming
   *   a bad weight or option; Error with code 'ERR_SQEX_CUDA_UNAVAILABLE' for device 'cuda'
   *   without a usable GPU; Error with code 'ERR_SQEX_CUDA' when the upload fails (at
   *   construction with device 'cuda' or a deviceIndex; under plain 'auto' the first DeviceTensor
   *   call reports it, and the block stays usable); Error with code
   *   'ERR_SQEX_OUT_OF_MEMORY' when the weight copies cannot be allocated. A native addon that
   *   cannot be loaded is not an error here: device 'cuda' is then ERR_SQEX_CUDA_UNAVAILABLE (its
   *   message gives the load failure), and a CPU block throws LoadError (code 'ERR_SQEX_LOAD')
   *   from its first forward (forwardAsync rejects with it).
   */
  constructor(weights: SEWeights, options?: SEBlockOptions) {
    super(new BlockCore('SEBlock', SE_SPEC, SE_BLOCK_KEYS, SE_CALL_KEYS, weights, options, takeMaker()));
  }

  /** Channels C the weights fix: x must have C channels. */
  get channels(): number {
    return coreOf(this, 'SEBlock.channels', 'SEBlock').weights.c;
  }
  /**
   * The hidden width (timm's `rd_channels`, torchvision's `squeeze_channels`; w1 is [hidden, C]); C
   * for the single FC of EffectiveSEModule (w2 omitted).
   */
  get hidden(): number {
    return coreOf(this, 'SEBlock.hidden', 'SEBlock').weights.hidden;
  }
  /** The activation between the two FCs, or null for the single FC (w2 omitted). */
  get activation(): Activation | null {
    const core = coreOf(this, 'SEBlock.activation', 'SEBlock');
    return core.weights.twoFc === 1 ? core.settings.act : null;
  }
  /** The activation applied to y (after the residual): 'none' or 'relu'. */
  get outputActivation(): OutputActivation {
    return coreOf(this, 'SEBlock.outputActivation', 'SEBlock').settings.outAct;
  }
  /**
   * Runs the block on host activations: x is [N, C, H, W] in the block's layout, N·C·H·W float32
   * elements, C = {@link SEBlock.channels}. It is staged to the GPU and back when
   * host arrays run on CUDA (a block built with device 'cuda' or a deviceIndex, or a call with a
   * stream); under plain 'auto' it runs on the CPU.
   * @returns y: `options.out` when given, else a new Float32Array of N·C·H·W elements.
   * @throws Error with code 'ERR_SQEX_DISPOSED' after dispose(); RangeError (code
   *   'ERR_OUT_OF_RANGE', argument 'shape[1] (C)') for another C; the errors of {@link seForward}.
   */
  forward(x: Float32Array, shape: Shape4, options?: SEBlockForwardOptions): Float32Array;
  /**
   * A CUDA block over a DeviceTensor x of C channels (its shape read from x), in the block's
   * layout and dtype when those were given and on its device. Without residual, out or scaleOut
   * this is the resident path: x is checked, and the result, a new DeviceTensor like x (yours to
   * dispose), is the only allocation. Enqueued on `options.stream`.
   * @throws Error with code 'ERR_SQEX_DISPOSED' after dispose(); RangeError (code
   *   'ERR_OUT_OF_RANGE') for a CPU block, a disposed x, or an x of another C, layout, dtype or
   *   device; the errors of {@link seForward}.
   */
  forward(x: DeviceTensor, options?: SEBlockDeviceForwardOptions): DeviceTensor;
  /** As forward(x, options), with `shape` checked against x.shape: a mismatch is a RangeError (code 'ERR_OUT_OF_RANGE', argument 'shape'). */
  forward(x: DeviceTensor, shape: Shape4, options?: SEBlockDeviceForwardOptions): DeviceTensor;
  /**
   * For an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}): the shape is needed,
   * the options are {@link BlockEitherForwardOptions}, and the result is the kind of x. Shapes and
   * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x).
   */
  forward<X extends Float32Array | DeviceTensor>(x: HostOrDevice<X>, shape: Shape4, options?: BlockEitherForwardOptions): Float32Array | DeviceTensor;
  /**
   * As the overload above, for an x typed by a type parameter (`T extends Float32Array |
   * DeviceTensor`), which the conditional {@link HostOrDevice} cannot resolve. Shapes and
   * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x).
   */
  forward(x: Float32Array | DeviceTensor, shape: Shape4, options?: BlockEitherForwardOptions): Float32Array | DeviceTensor;
  /**
   * The Float32Array form again, declared last: TypeScript reports a call that matches no overload
   * against the last one, so a wrong host call is reported against this form (see the first).
   */
  forward(x: Float32Array, shape: Shape4, options?: SEBlockForwardOptions): Float32Array;
  forward(x: unknown, a2?: unknown, a3?: unknown): Float32Array | DeviceTensor {
    return coreOf(this, 'SEBlock.forward', 'SEBlock').run('SEBlock.forward', x, a2, a3);
  }

  /**
   * As forward, off the event loop (see {@link seForwardAsync}); results bitwise identical.
   * Errors reject the Promise, never throw synchronously; dispose() of the block meanwhile is
   * safe (the weights are freed when the call settles).
   */
  forwardAsync(x: Float32Array, shape: Shape4, options?: SEBlockForwardOptions): Promise<Float32Array>;
  /** As forward with a DeviceTensor x, resolving once the kernel has finished on the stream. */
  forwardAsync(x: DeviceTensor, options?: SEBlockDeviceForwardOptions): Promise<DeviceTensor>;
  /** As forwardAsync(x, options), with `shape` checked against x.shape: a mismatch rejects with a RangeError (code 'ERR_OUT_OF_RANGE', argument 'shape'). */
  forwardAsync(x: DeviceTensor, shape: Shape4, options?: SEBlockDeviceForwardOptions): Promise<DeviceTensor>;
  /**
   * For an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}); resolves to the kind of x. Shapes and
   * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x).
   */
  forwardAsync<X extends Float32Array | DeviceTensor>(x: HostOrDevice<X>, shape: Shape4, options?: BlockEitherForwardOptions): Promise<Float32Array | DeviceTensor>;
  /**
   * As the overload above, for an x typed by a type parameter (`T extends Float32Array |
   * DeviceTensor`), which the conditional {@link HostOrDevice} cannot resolve. Shapes and
   * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x).
   */
  forwardAsync(x: Float32Array | DeviceTensor, shape: Shape4, options?: BlockEitherForwardOptions): Promise<Float32Array | DeviceTensor>;
  /**
   * The Float32Array form again, declared last: TypeScript reports a call that matches no overload
   * against the last one, so a wrong host call is reported against this form (see the first).
   */
  forwardAsync(x: Float32Array, shape: Shape4, options?: SEBlockForwardOptions): Promise<Float32Array>;
  async forwardAsync(x: unknown, a2?: unknown, a3?: unknown): Promise<Float32Array | DeviceTensor> {
    return await awaitable(coreOf(this, 'SEBlock.forwardAsync', 'SEBlock').runAsync('SEBlock.forwardAsync', x, a2, a3));
  }

  /**
   * An SEBlock from one module of a PyTorch state dict (e.g. readSafetensors' result).
   * C and the hidden width come from the tensor shapes; activation and gate default to the
   * module's (options.kind: see {@link ATTENTION_KINDS}) and can be overridden, as can every
   * SEBlockOptions field but channels (refused: RangeError, code 'ERR_OUT_OF_RANGE'). A timm
   * SEModule `bn` is folded into fc1 (eval mode, eps options.bnEps, default 1e-5; the formula is
   * at {@link attentionWeightsFromStateDict}, which lists the tensors each kind needs).
   * A state dict holds no activations: with kind 'torchvision.SqueezeExcitation' and a prefix
   * named as in torchvision's MobileNetV3 (features.N.block.M: gate 'hardsigmoid') or
   * EfficientNet (features.N.M.block.K: activation 'silu'), leaving those options out emits a
   * process warning (code 'SQEX_STATE_DICT_OPTIONS', once per family) naming them; passing them,
   * even with the default value, silences it.
   * @param tensors - readSafetensors' result, or a record or Map of { shape, data } by name.
   * @param prefix - the module's name in the state dict, e.g. 'layer1.0.se' ('' for a module saved alone).
   * @param options - `kind` (required), `bnEps`, `strict` and the block's options.
   * @throws StateDictError (code 'ERR_SQEX_STATE_DICT') naming a missing or mis-shaped tensor and
   *   the shape it must have; TypeError / RangeError (codes 'ERR_INVALID_ARG_TYPE' /
   *   'ERR_OUT_OF_RANGE') for bad arguments; then the constructor's errors.
   */
  static fromStateDict(tensors: StateDict, prefix: string, options: SEFromStateDictOptions): SEBlock {
    const m = seFromStateDict('SEBlock.fromStateDict', tensors, prefix, options, SE_BLOCK_KEYS);
    return makingFor('SEBlock.fromStateDict', () => new SEBlock(m.weights, m.options));
  }
}

/**
 * An ECA block with a fixed conv kernel (see {@link ecaForward} for the math and its sources).
 * The kernel is validated and copied once; on CUDA it is uploaded once and stays resident until
 * dispose(). Any C works (the kernel does not fix it).
 */
export class ECABlock extends Block {
  /**
   * @param weights - see {@link ECAWeights} (a host Float32Array; copied).
   * @param options - see {@link ECABlockOptions}.
   * @throws as the SEBlock constructor.
   */
  constructor(weights: ECAWeights, options?: ECABlockOptions) {
    super(new BlockCore('ECABlock', ECA_SPEC, ECA_BLOCK_KEYS, ECA_CALL_KEYS, weights, options, takeMaker()));
  }

  /** The conv kernel length k (odd). */
  get kernelSize(): number {
    return coreOf(this, 'ECABlock.kernelSize', 'ECABlock').weights.ecaK;
  }
  /**
   * Runs the block on host activations: x is [N, C, H, W] in the block's layout, N·C·H·W float32
   * elements. It is staged to the GPU and back when
   * host arrays run on CUDA (a block built with device 'cuda' or a deviceIndex, or a call with a
   * stream); under plain 'auto' it runs on the CPU.
   * @returns y: `options.out` when given, else a new Float32Array of N·C·H·W elements.
   * @throws Error with code 'ERR_SQEX_DISPOSED' after dispose(); the errors of {@link ecaForward}.
   */
  forward(x: Float32Array, shape: Shape4, options?: ECABlockForwardOptions): Float32Array;
  /**
   * A CUDA block over a DeviceTensor x (its shape read from x), in the block's layout and dtype
   * when those were given and on its device. Without out or scaleOut this is the resident path:
   * the result, a new DeviceTensor like x (yours to dispose), is the only allocation.
   * @throws Error with code 'ERR_SQEX_DISPOSED' after dispose(); RangeError (code
   *   'ERR_OUT_OF_RANGE') for a CPU block, a disposed x, or an x of another layout, dtype or
   *   device; the errors of {@link ecaForward}.
   */
  forward(x: DeviceTensor, options?: ECABlockDeviceForwardOptions): DeviceTensor;
  /** As forward(x, options), with `shape` checked against x.shape: a mismatch is a RangeError (code 'ERR_OUT_OF_RANGE', argument 'shape'). */
  forward(x: DeviceTensor, shape: Shape4, options?: ECABlockDeviceForwardOptions): DeviceTensor;
  /**
   * For an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}): the shape is needed,
   * the options are {@link BlockEitherForwardOptions}, and the result is the kind of x. Shapes and
   * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x).
   */
  forward<X extends Float32Array | DeviceTensor>(x: HostOrDevice<X>, shape: Shape4, options?: BlockEitherForwardOptions): Float32Array | DeviceTensor;
  /**
   * As the overload above, for an x typed by a type parameter (`T extends Float32Array |
   * DeviceTensor`), which the conditional {@link HostOrDevice} cannot resolve. Shapes and
   * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x).
   */
  forward(x: Float32Array | DeviceTensor, shape: Shape4, options?: BlockEitherForwardOptions): Float32Array | DeviceTensor;
  /**
   * The Float32Array form again, declared last: TypeScript reports a call that matches no overload
   * against the last one, so a wrong host call is reported against this form (see the first).
   */
  forward(x: Float32Array, shape: Shape4, options?: ECABlockForwardOptions): Float32Array;
  forward(x: unknown, a2?: unknown, a3?: unknown): Float32Array | DeviceTensor {
    return coreOf(this, 'ECABlock.forward', 'ECABlock').run('ECABlock.forward', x, a2, a3);
  }

  /**
   * As forward, off the event loop (see {@link ecaForwardAsync}); results bitwise identical.
   * Errors reject the Promise; dispose() of the block meanwhile is safe.
   */
  forwardAsync(x: Float32Array, shape: Shape4, options?: ECABlockForwardOptions): Promise<Float32Array>;
  /** As forward with a DeviceTensor x, resolving once the kernel has finished on the stream. */
  forwardAsync(x: DeviceTensor, options?: ECABlockDeviceForwardOptions): Promise<DeviceTensor>;
  /** As forwardAsync(x, options), with `shape` checked against x.shape: a mismatch rejects with a RangeError (code 'ERR_OUT_OF_RANGE', argument 'shape'). */
  forwardAsync(x: DeviceTensor, shape: Shape4, options?: ECABlockDeviceForwardOptions): Promise<DeviceTensor>;
  /**
   * For an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}); resolves to the kind of x. Shapes and
   * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x).
   */
  forwardAsync<X extends Float32Array | DeviceTensor>(x: HostOrDevice<X>, shape: Shape4, options?: BlockEitherForwardOptions): Promise<Float32Array | DeviceTensor>;
  /**
   * As the overload above, for an x typed by a type parameter (`T extends Float32Array |
   * DeviceTensor`), which the conditional {@link HostOrDevice} cannot resolve. Shapes and
   * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x).
   */
  forwardAsync(x: Float32Array | DeviceTensor, shape: Shape4, options?: BlockEitherForwardOptions): Promise<Float32Array | DeviceTensor>;
  /**
   * The Float32Array form again, declared last: TypeScript reports a call that matches no overload
   * against the last one, so a wrong host call is reported against this form (see the first).
   */
  forwardAsync(x: Float32Array, shape: Shape4, options?: ECABlockForwardOptions): Promise<Float32Array>;
  async forwardAsync(x: unknown, a2?: unknown, a3?: unknown): Promise<Float32Array | DeviceTensor> {
    return await awaitable(coreOf(this, 'ECABlock.forwardAsync', 'ECABlock').runAsync('ECABlock.forwardAsync', x, a2, a3));
  }

  /**
   * An ECABlock from a timm EcaModule in a PyTorch state dict: `prefix.conv.weight` [1, 1, k]
   * gives k; gate defaults to 'sigmoid' (overridable, as every ECABlockOptions field). EcaModule
   * has no BatchNorm: `bnEps` is accepted (checked: a finite number ≥ 0) and unused.
   * @param tensors - readSafetensors' result, or a record or Map of { shape, data } by name.
   * @param prefix - the module's name in the state dict, e.g. 'layer1.0.eca'.
   * @param options - `kind: 'timm.EcaModule'`, `strict` and the block's options.
   * @throws StateDictError (code 'ERR_SQEX_STATE_DICT') naming a missing or mis-shaped tensor
   *   (`check` 'unsupported' for EcaModule(use_mlp=True)); TypeError / RangeError (codes
   *   'ERR_INVALID_ARG_TYPE' / 'ERR_OUT_OF_RANGE') for bad arguments; then the constructor's errors.
   */
  static fromStateDict(tensors: StateDict, prefix: string, options: ECAFromStateDictOptions): ECABlock {
    const m = ecaFromStateDict('ECABlock.fromStateDict', tensors, prefix, options, ECA_BLOCK_KEYS);
    return makingFor('ECABlock.fromStateDict', () => new ECABlock(m.weights, m.options));
  }
}

/**
 * A CBAM block with fixed weights (see {@link cbamForward} for the math and its sources). The
 * weights are validated and copied once; on CUDA they are uploaded once and stay resident until
 * dispose().
 */
export class CBAMBlock extends Block {
  /**
   * @param weights - see {@link CBAMWeights} (host Float32Arrays; copied).
   * @param options - see {@link CBAMBlockOptions}.
   * @throws as the SEBlock constructor.
   */
  constructor(weights: CBAMWeights, options?: CBAMBlockOptions) {
    super(new BlockCore('CBAMBlock', CBAM_SPEC, CBAM_BLOCK_KEYS, CBAM_CALL_KEYS, weights, options, takeMaker()));
  }

  /** Channels C the weights fix: x must have C channels. */
  get channels(): number {
    return coreOf(this, 'CBAMBlock.channels', 'CBAMBlock').weights.c;
  }
  /** The channel MLP's hidden width (timm's `rd_channels`; w1 is [hidden, C]). */
  get hidden(): number {
    return coreOf(this, 'CBAMBlock.hidden', 'CBAMBlock').weights.hidden;
  }
  /** The channel MLP's activation. */
  get activation(): Activation {
    return coreOf(this, 'CBAMBlock.activation', 'CBAMBlock').settings.act;
  }
  /** The spatial conv's kernel size k (timm CbamModule's `spatial_kernel_size`; odd; spatialWeight is [1, 2, k, k]). */
  get kernelSize(): number {
    return coreOf(this, 'CBAMBlock.kernelSize', 'CBAMBlock').weights.spatialK;
  }
  /**
   * Runs the block on host activations: x is [N, C, H, W] in the block's layout, N·C·H·W float32
   * elements, C = {@link CBAMBlock.channels}. It is staged to the GPU and back when
   * host arrays run on CUDA (a block built with device 'cuda' or a deviceIndex, or a call with a
   * stream); under plain 'auto' it runs on the CPU.
   * @returns y: `options.out` when given, else a new Float32Array of N·C·H·W elements.
   * @throws Error with code 'ERR_SQEX_DISPOSED' after dispose(); RangeError (code
   *   'ERR_OUT_OF_RANGE', argument 'shape[1] (C)') for another C; the errors of {@link cbamForward}.
   */
  forward(x: Float32Array, shape: Shape4, options?: CBAMBlockForwardOptions): Float32Array;
  /**
   * A CUDA block over a DeviceTensor x of C channels (its shape read from x), in the block's
   * layout and dtype when those were given and on its device. Without out this is the resident
   * path: the result, a new DeviceTensor like x (yours to dispose), is the only allocation.
   * @throws Error with code 'ERR_SQEX_DISPOSED' after dispose(); RangeError (code
   *   'ERR_OUT_OF_RANGE') for a CPU block, a disposed x, or an x of another C, layout, dtype or
   *   device; the errors of {@link cbamForward}.
   */
  forward(x: DeviceTensor, options?: CBAMBlockDeviceForwardOptions): DeviceTensor;
  /** As forward(x, options), with `shape` checked against x.shape: a mismatch is a RangeError (code 'ERR_OUT_OF_RANGE', argument 'shape'). */
  forward(x: DeviceTensor, shape: Shape4, options?: CBAMBlockDeviceForwardOptions): DeviceTensor;
  /**
   * For an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}): the shape is needed,
   * the options are {@link BlockEitherForwardOptions}, and the result is the kind of x. Shapes and
   * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x).
   */
  forward<X extends Float32Array | DeviceTensor>(x: HostOrDevice<X>, shape: Shape4, options?: BlockEitherForwardOptions): Float32Array | DeviceTensor;
  /**
   * As the overload above, for an x typed by a type parameter (`T extends Float32Array |
   * DeviceTensor`), which the conditional {@link HostOrDevice} cannot resolve. Shapes and
   * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x).
   */
  forward(x: Float32Array | DeviceTensor, shape: Shape4, options?: BlockEitherForwardOptions): Float32Array | DeviceTensor;
  /**
   * The Float32Array form again, declared last: TypeScript reports a call that matches no overload
   * against the last one, so a wrong host call is reported against this form (see the first).
   */
  forward(x: Float32Array, shape: Shape4, options?: CBAMBlockForwardOptions): Float32Array;
  forward(x: unknown, a2?: unknown, a3?: unknown): Float32Array | DeviceTensor {
    return coreOf(this, 'CBAMBlock.forward', 'CBAMBlock').run('CBAMBlock.forward', x, a2, a3);
  }

  /**
   * As forward, off the event loop (see {@link cbamForwardAsync}); results bitwise identical.
   * Errors reject the Promise; dispose() of the block meanwhile is safe.
   */
  forwardAsync(x: Float32Array, shape: Shape4, options?: CBAMBlockForwardOptions): Promise<Float32Array>;
  /** As forward with a DeviceTensor x, resolving once the kernel has finished on the stream. */
  forwardAsync(x: DeviceTensor, options?: CBAMBlockDeviceForwardOptions): Promise<DeviceTensor>;
  /** As forwardAsync(x, options), with `shape` checked against x.shape: a mismatch rejects with a RangeError (code 'ERR_OUT_OF_RANGE', argument 'shape'). */
  forwardAsync(x: DeviceTensor, shape: Shape4, options?: CBAMBlockDeviceForwardOptions): Promise<DeviceTensor>;
  /**
   * For an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}); resolves to the kind of x. Shapes and
   * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x).
   */
  forwardAsync<X extends Float32Array | DeviceTensor>(x: HostOrDevice<X>, shape: Shape4, options?: BlockEitherForwardOptions): Promise<Float32Array | DeviceTensor>;
  /**
   * As the overload above, for an x typed by a type parameter (`T extends Float32Array |
   * DeviceTensor`), which the conditional {@link HostOrDevice} cannot resolve. Shapes and
   * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x).
   */
  forwardAsync(x: Float32Array | DeviceTensor, shape: Shape4, options?: BlockEitherForwardOptions): Promise<Float32Array | DeviceTensor>;
  /**
   * The Float32Array form again, declared last: TypeScript reports a call that matches no overload
   * against the last one, so a wrong host call is reported against this form (see the first).
   */
  forwardAsync(x: Float32Array, shape: Shape4, options?: CBAMBlockForwardOptions): Promise<Float32Array>;
  async forwardAsync(x: unknown, a2?: unknown, a3?: unknown): Promise<Float32Array | DeviceTensor> {
    return await awaitable(coreOf(this, 'CBAMBlock.forwardAsync', 'CBAMBlock').runAsync('CBAMBlock.forwardAsync', x, a2, a3));
  }

  /**
   * A CBAMBlock from a timm CbamModule in a PyTorch state dict: C, the hidden width and the
   * spatial k come from the shapes; the spatial ConvNormAct's BatchNorm is folded into the conv
   * (eval mode, eps options.bnEps, default 1e-5; formula at {@link CBAMWeights}); activation
   * 'relu' and gate 'sigmoid' by default, overridable as every CBAMBlockOptions field but
   * channels (refused: RangeError, code 'ERR_OUT_OF_RANGE').
   * @param tensors - readSafetensors' result, or a record or Map of { shape, data } by name.
   * @param prefix - the module's name in the state dict, e.g. 'layer1.0.cbam'.
   * @param options - `kind: 'timm.CbamModule'`, `bnEps`, `strict` and the block's options.
   * @throws StateDictError (code 'ERR_SQEX_STATE_DICT') naming a missing or mis-shaped tensor
   *   (`check` 'unsupported' for LightCbamModule); TypeError / RangeError (codes
   *   'ERR_INVALID_ARG_TYPE' / 'ERR_OUT_OF_RANGE') for bad arguments; then the constructor's errors.
   */
  static fromStateDict(tensors: StateDict, prefix: string, options: CBAMFromStateDictOptions): CBAMBlock {
    const m = cbamFromStateDict('CBAMBlock.fromStateDict', tensors, prefix, options, CBAM_BLOCK_KEYS);
    return makingFor('CBAMBlock.fromStateDict', () => new CBAMBlock(m.weights, m.options));
  }
}

// Names written out: a minifier may rename the classes.
registerOwnClass('SEBlock', SEBlock.prototype, (v) => isBlockNamed(v, 'SEBlock'));
registerOwnClass('ECABlock', ECABlock.prototype, (v) => isBlockNamed(v, 'ECABlock'));
registerOwnClass('CBAMBlock', CBAMBlock.prototype, (v) => isBlockNamed(v, 'CBAMBlock'));
