// Calls that must NOT type-check. Each line carries @ts-expect-error, so `tsc -p test/types`
// fails if one of them starts to compile. test/types.test.ts also compiles them without the
// directives and checks that the message names the option, against the Float32Array form.
import { SEBlock, ecaForward, seForward, seForwardAsync } from '../../dist/index.js';

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
