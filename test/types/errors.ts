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
