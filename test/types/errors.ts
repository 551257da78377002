// Calls that must NOT type-check. Each line carries @ts-expect-error, so `tsc -p test/types`
// fails if one of them starts to compile. test/types.test.ts also compiles them without the
// directives and checks that the message names the option, against the Float32Array form.
import { ECABlock, SEBlock, ecaForward, readSafetensors, readSafetensorsHeader, seForward, seForwardAsync } from '../../dist/index.js';

declare const x: Float32Array;
const w1 = new Float32Array(16);
const w2 = new Float32Array(16);

// @ts-expect-error misspelt option
seForward(x, [1, 8, 4, 4], { w1, w2 }, { layot: 'NHWC' });
// @ts-expect-error unknown device
seForward(x, [1, 8, 4, 4], { w1, w2 }, { device: 'gpu' });
// @ts-expect-error a Float64Array weight
seForward(x, [1, 8, 4, 4], { w1: new Float64Array(16), w2 });
// @ts-expect-error a 3-D shape
seForwardAsync(x, [8, 4, 4], { w1, w2 });
// @ts-expect-error ECA takes no residual
ecaForward(x, [1, 8, 4, 4], { weight: new Float32Array(3) }, { residual: x });
// @ts-expect-error a block forward option that does not exist
new SEBlock({ w1, w2 }, { channels: 8 }).forward(x, [1, 8, 4, 4], { layout: 'NHWC' });
// @ts-expect-error offload is 'auto' or 'always'
seForwardAsync(x, [1, 8, 4, 4], { w1, w2 }, { offload: 'never' });
// @ts-expect-error offload is a per-call option, not a block's
new SEBlock({ w1, w2 }, { channels: 8, offload: 'always' });
// From an attack on the published types (2026-11-30): `URL` in the signatures read as `any` without
// @types/node, so these compiled.
// @ts-expect-error a number is not a path, URL or bytes
readSafetensors(42);
// @ts-expect-error an arbitrary object is not a file URL
readSafetensorsHeader({ anything: true });
// @ts-expect-error a DataView is not tensor data
ECABlock.fromStateDict({ 'conv.weight': { shape: [1, 1, 3], data: new DataView(new ArrayBuffer(12)) } }, '', { kind: 'timm.EcaModule' });
class Peek extends SEBlock {
  static core(b: SEBlock): unknown {
    // @ts-expect-error no accessor of a block's internals is published (coreOf was protected static)
    return SEBlock.coreOf(b, 'peek');
  }
}
void Peek;

// ---- Tightened types: each call below is refused at run time, and now by the types too. ----
import { CBAMBlock, DeviceTensor, cbamForward, ecaForwardAsync } from '../../dist/index.js';
declare const xd: DeviceTensor;
declare const xu: Float32Array | DeviceTensor;

// b2 without w2: the single-FC SE has one bias (TypeError naming weights.b2).
// @ts-expect-error b2 needs w2
seForward(x, [1, 4, 4, 4], { w1, b2: new Float32Array(4) });
// @ts-expect-error b2 needs w2, DeviceTensor weights too
seForward(xd, [1, 4, 4, 4], { w1: xd, b2: xd });
// @ts-expect-error b2 needs w2, in a block too
new SEBlock({ w1, b1: new Float32Array(4), b2: new Float32Array(4) });

// deviceIndex picks a CUDA device: refused with device 'cpu' (RangeError naming options.deviceIndex).
// @ts-expect-error deviceIndex with device 'cpu'
seForward(x, [1, 8, 4, 4], { w1, w2 }, { device: 'cpu', deviceIndex: 0 });
// @ts-expect-error deviceIndex with device 'cpu' (ECA)
ecaForwardAsync(x, [1, 8, 4, 4], { weight: new Float32Array(3) }, { device: 'cpu', deviceIndex: 1 });
// @ts-expect-error deviceIndex with device 'cpu' (CBAM)
cbamForward(x, [1, 8, 4, 4], { w1, w2, spatialWeight: new Float32Array(98) }, { deviceIndex: 0, device: 'cpu' });
// @ts-expect-error deviceIndex with device 'cpu' (a block)
new SEBlock({ w1, w2 }, { device: 'cpu', deviceIndex: 99 });
// @ts-expect-error deviceIndex with device 'cpu' (an ECA block)
new ECABlock({ weight: new Float32Array(3) }, { device: 'cpu', deviceIndex: 0 });
// @ts-expect-error deviceIndex with device 'cpu' (a CBAM block)
new CBAMBlock({ w1, w2, spatialWeight: new Float32Array(18) }, { channels: 8, device: 'cpu', deviceIndex: 0 });
// @ts-expect-error deviceIndex with device 'cpu' (fromStateDict)
SEBlock.fromStateDict({}, 'se', { kind: 'timm.SEModule', device: 'cpu', deviceIndex: 0 });
// @ts-expect-error channels comes from the shapes (fromStateDict refuses it)
SEBlock.fromStateDict({}, 'se', { kind: 'timm.SEModule', channels: 8 });

// An x typed Float32Array | DeviceTensor: only what both forms take, and the result is the union.
// @ts-expect-error out's kind must be x's: narrow x first
seForward(xu, [1, 8, 4, 4], { w1, w2 }, { out: x });
// @ts-expect-error device 'cpu' is refused for a DeviceTensor x
seForward(xu, [1, 8, 4, 4], { w1, w2 }, { device: 'cpu' });
// @ts-expect-error DeviceTensor weights are refused with a Float32Array x
seForward(xu, [1, 8, 4, 4], { w1: xd, w2: xd });
// @ts-expect-error out's kind must be x's, in a block too
new SEBlock({ w1, w2 }).forward(xu, [1, 8, 4, 4], { out: x });
// @ts-expect-error the result may be a DeviceTensor
export const notNarrowed: Float32Array = seForward(xu, [1, 8, 4, 4], { w1, w2 });

// DeviceTensor.from: raw half bits (a Uint16Array) need dtype 'float16' or 'bfloat16'.
// @ts-expect-error a Uint16Array without a half dtype
DeviceTensor.from(new Uint16Array(128), [1, 8, 4, 4]);
// @ts-expect-error a Uint16Array with dtype float32
DeviceTensor.from(new Uint16Array(128), [1, 8, 4, 4], { dtype: 'float32' });

// A type parameter's call returns the union, not the precise kind.
export function genericNotNarrowed<T extends Float32Array | DeviceTensor>(t: T): Float32Array {
  // @ts-expect-error the result may be a DeviceTensor
  return seForward(t, [1, 8, 4, 4], { w1, w2 });
}

// cpu's settings take numbers; its status is read-only.
import { cpu } from '../../dist/index.js';
// @ts-expect-error a string thread count
cpu.setThreads('2');
// @ts-expect-error a spin without its value
cpu.setWorkerSpin();
// @ts-expect-error the status is read-only
cpu.status().threads = 4;

// attentionWeightsFromStateDict: a kind typed as the union gives the union, which seForward does not take unchecked.
import { attentionWeightsFromStateDict, type AttentionKind } from '../../dist/index.js';
export function mappedUnchecked(kind: AttentionKind): Float32Array {
  // @ts-expect-error the weights may be ECA's or CBAM's
  return seForward(x, [1, 8, 4, 4], attentionWeightsFromStateDict({}, 'm', { kind }).weights);
}
// @ts-expect-error an ECA module's weights are not SE's
seForward(x, [1, 8, 4, 4], attentionWeightsFromStateDict({}, 'eca', { kind: 'timm.EcaModule' }).weights);
