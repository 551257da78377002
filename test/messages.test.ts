// Error messages whose fix advice was wrong or missing, from an audit of every refusal (2026-12-01):
// each refusal says what was expected, what was received and the usual fix, and the fix must not
// make things worse (a converted copy as `out`, raw half bits read as integers).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  CBAMBlock,
  DeviceTensor,
  ECABlock,
  SEBlock,
  cbamForward,
  ecaForward,
  findAttentionModules,
  readSafetensors,
  readSafetensorsHeader,
  safetensorsToFloat32,
  seForward,
  attentionWeightsFromStateDict,
  cuda,
  ecaForwardAsync,
  LoadError,
  loadReport,
} from '../dist/index.js';
import { FIXTURE_DIR } from './helpers.js';
import { f32Bytes, writeSafetensors } from './safetensors-writer.js';

const shape = [1, 4, 1, 1] as [number, number, number, number];
const w = { w1: new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]), b1: new Float32Array(2), w2: new Float32Array(8), b2: new Float32Array(4) };

function messageOf(call: () => unknown): { name: string; code: unknown; argument: unknown; message: string } {
  try {
    call();
  } catch (err) {
    const e = err as Error & { code?: unknown; argument?: unknown };
    return { name: e.name, code: e.code, argument: e.argument, message: e.message };
  }
  throw new Error('expected a refusal');
}

describe('the fix a refusal gives fits the argument', () => {
  test('an out of another type is told to allocate a Float32Array, not to convert (a converted copy would receive the result)', () => {
    const out = new Float64Array(4).fill(7);
    const m = messageOf(() => seForward(new Float32Array(4), shape, w, { out: out as never }));
    expect(m).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'options.out' });
    expect(m.message).toContain('options.out receives the float32 result: pass a Float32Array of that length');
    expect(m.message).not.toContain('Float32Array.from');
    expect(Array.from(out)).toEqual([7, 7, 7, 7]);
    // A plain Array as out or scaleOut too (a review found the array hint still given there).
    for (const arg of ['out', 'scaleOut'] as const) {
      const a = messageOf(() => seForward(new Float32Array(4), shape, w, { [arg]: [0, 0, 0, 0] } as never));
      expect(a.message).toContain(`options.${arg} receives the float32 result`);
      expect(a.message).not.toContain('Float32Array.from');
    }
  });

  test('float64 x gets a conversion, not the advice meant for weights', () => {
    const m = messageOf(() => seForward(new Float64Array(4) as never, shape, w));
    expect(m.message).toMatch(/x must be a Float32Array or a DeviceTensor; received a Float64Array of length 4\. To convert: Float32Array\.from\(value\)/);
    expect(m.message).not.toContain('Weights saved as float64');
    const mw = messageOf(() => seForward(new Float32Array(4), shape, { ...w, w1: new Float64Array(8) as never }));
    expect(mw.message).toContain('Weights saved as float64');
  });

  test('a Uint16Array where float32 is wanted is told how to decode half bits, not to convert the integers', () => {
    const m = messageOf(() => seForward(new Uint16Array(4) as never, shape, w));
    expect(m.message).toContain('float16BitsToFloat32(value) or bfloat16BitsToFloat32(value)');
    expect(m.message).not.toMatch(/To convert: Float32Array\.from/);
  });

  test('safetensorsToFloat32 with the data of another dtype names that dtype', () => {
    expect(messageOf(() => safetensorsToFloat32('F32', new Float64Array(2) as never)).message).toMatch(/A Float64Array is the data of dtype 'F64': pass the dtype the tensor has$/);
    expect(messageOf(() => safetensorsToFloat32('F64', new Uint16Array(2) as never)).message).toMatch(/A Uint16Array is the data of dtype 'F16' or 'BF16'/);
  });

  test('an Array passed as a state dict gets no "convert an Array of numbers" hint', () => {
    const m = messageOf(() => attentionWeightsFromStateDict([] as never, 'm', { kind: 'timm.SEModule' }));
    expect(m.message).toMatch(/received an Array of length 0$/);
  });

  test('an overlap refusal says how to fix it, as the native re-check does', () => {
    const buf = new Float32Array(8);
    const x = buf.subarray(0, 4);
    const m = messageOf(() => seForward(x, shape, w, { out: buf.subarray(2, 6) }));
    expect(m).toMatchObject({ name: 'RangeError', argument: 'options.out' });
    expect(m.message).toMatch(/\(partial overlap with x\); received a Float32Array of length 4\. Pass out: x to compute in place, or one over other memory$/);
  });

  test('an initialism takes the article it is read with', () => {
    expect(messageOf(() => readSafetensors(new URL('https://example.com/m.safetensors') as never)).message).toContain('received a URL instance');
  });
});

// From a newcomer's trial (2026-12-05): ECA's { w } got no suggestion ('weight' is 5 edits away),
// another op's weights were refused as plain unknown keys, and "only the keys weight" read oddly.
describe('weights of the wrong op, or a key cut short', () => {
  const x = new Float32Array(4);
  test("ECA's { w } is told 'weight', with the key singular", () => {
    const m = messageOf(() => ecaForward(x, shape, { w: new Float32Array(3) } as never));
    expect(m).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'weights' });
    expect(m.message).toContain("did you mean 'weight'?");
    expect(m.message).toContain('only the key weight;');
  });
  test("SE's w1 / w2 passed to ECA say whose they are and what ECA takes", () => {
    const m = messageOf(() => ecaForward(x, shape, { w1: w.w1, w2: w.w2 } as never));
    expect(m.message).toContain('(w1 is an SE or CBAM weight (seForward / SEBlock, cbamForward / CBAMBlock); this one takes { weight })');
  });
  test("ECA's weight passed to SE, and CBAM's spatialWeight passed to SE, say whose they are", () => {
    expect(messageOf(() => seForward(x, shape, { weight: new Float32Array(3) } as never)).message).toMatch(/weight is ECA's conv weight.*ecaForward/);
    expect(messageOf(() => seForward(x, shape, { ...w, spatialWeight: new Float32Array(98) } as never)).message).toMatch(/spatialWeight is CBAM's.*cbamForward/);
  });
});

describe('a state dict with a misspelt tensor name', () => {
  // From a newcomer's trial (2026-12-05): the missing name was listed beside its misspelling
  // without saying that one is the other.
  test('the missing tensor names the near miss under the prefix', () => {
    const sd = {
      'se.fc1.weight': { shape: [2, 4, 1, 1], data: new Float32Array(8) },
      'se.fc1.bias': { shape: [2], data: new Float32Array(2) },
      'se.fc2.wieght': { shape: [4, 2, 1, 1], data: new Float32Array(8) },
      'se.fc2.bias': { shape: [4], data: new Float32Array(4) },
    };
    const m = messageOf(() => SEBlock.fromStateDict(sd, 'se', { kind: 'timm.SEModule' }));
    expect(m.message).toContain('"se.fc2.weight"');
    expect(m.message).toContain('"se.fc2.wieght" is 1 edit from it: a misspelt name?');
    // A review: names the kind reads later (fc2.weight is 1 edit from fc1.weight) are not misspellings.
    const early = messageOf(() => SEBlock.fromStateDict({
      'se.fc2.weight': sd['se.fc1.weight'], 'se.fc1.wieght': sd['se.fc1.weight'], 'se.fc1.bias': sd['se.fc1.bias'], 'se.fc2.bias': sd['se.fc2.bias'],
    }, 'se', { kind: 'timm.SEModule' }));
    expect(early.message).toContain('"se.fc1.wieght" is 1 edit from it');
    expect(early.message).not.toContain('"se.fc2.weight" is 1 edit');
    const noBias = messageOf(() => SEBlock.fromStateDict({ 'se.fc1.weight': sd['se.fc1.weight'], 'se.fc2.weight': sd['se.fc1.weight'], 'se.fc2.bias': sd['se.fc2.bias'] }, 'se', { kind: 'torchvision.SqueezeExcitation' }));
    expect(noBias.message).not.toContain('edit from it');
  });
  test('a prefix left out names the prefixes the tensor is under', () => {
    const block = (p: string) => ({
      [`${p}.fc1.weight`]: { shape: [2, 4, 1, 1], data: new Float32Array(8) },
      [`${p}.fc2.weight`]: { shape: [4, 2, 1, 1], data: new Float32Array(8) },
    });
    const sd = { 'conv1.weight': { shape: [1], data: new Float32Array(1) }, ...block('layer1.0.se'), ...block('layer2.0.se') };
    const m = messageOf(() => SEBlock.fromStateDict(sd, '', { kind: 'timm.SEModule' }));
    expect(m.message).toContain(`"fc1.weight" is under 2 prefixes: 'layer1.0.se', 'layer2.0.se': pass one as the prefix.`);
    const one = messageOf(() => SEBlock.fromStateDict(block('layer1.0.se'), 'layer1', { kind: 'timm.SEModule' }));
    expect(one.message).toContain(`"fc1.weight" is under the prefix 'layer1.0.se': pass it as the prefix.`);
  });
});

// An attack (2026-12-05): fc1.weight alone had another C, and the refusal blamed fc2.weight (C was
// taken from fc1.weight, read first) without naming fc1.weight.
test('a shape refused for a dim taken from an earlier tensor names that tensor', () => {
  const T = (shape: number[]) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const m = messageOf(() => SEBlock.fromStateDict({ 'm.fc1.weight': T([2, 9, 1, 1]), 'm.fc1.bias': T([2]), 'm.fc2.weight': T([8, 2, 1, 1]), 'm.fc2.bias': T([8]) }, 'm', { kind: 'timm.SEModule' }));
  expect(m.message).toContain('tensor "m.fc2.weight" must have shape [9, 2, 1, 1]');
  expect(m.message).toContain('received [8, 2, 1, 1] (C = 9 was taken from "m.fc1.weight" [2, 9, 1, 1]: if that tensor is the one that is off, fix it instead)');
});

// An attack (2026-12-05): a number stream and a bigint deviceIndex were refused without the fix.
test('stream: 0 is told to write 0n; deviceIndex: 0n to pass a number', () => {
  const x = new Float32Array(4);
  expect(messageOf(() => seForward(x, shape, w, { stream: 0 } as never)).message).toMatch(/received the number 0\. Write it as a bigint: 0n/);
  expect(messageOf(() => seForward(x, shape, w, { deviceIndex: 0n } as never)).message).toMatch(/received the bigint 0n\. Pass a number, e\.g\. Number\(i\)/);
});

describe('state-dict options', () => {
  const sd = {
    'm.fc1.weight': { shape: [2, 4, 1, 1], data: w.w1 },
    'm.fc1.bias': { shape: [2], data: w.b1 },
    'm.fc2.weight': { shape: [4, 2, 1, 1], data: w.w2 },
    'm.fc2.bias': { shape: [4], data: w.b2 },
  };
  test('a kind named without its library, or in another case, is suggested', () => {
    expect(messageOf(() => SEBlock.fromStateDict(sd, 'm', { kind: 'SEModule' as never })).message).toMatch(/received the string "SEModule" \(did you mean 'timm\.SEModule'\?\)$/);
    expect(messageOf(() => SEBlock.fromStateDict(sd, 'm', { kind: 'timm.SeModule' as never })).message).toMatch(/\(did you mean 'timm\.SEModule'\?\)$/);
  });
  test('a bnEps that is not a number is a TypeError; channels is refused with its reason, not listed as allowed', () => {
    expect(messageOf(() => SEBlock.fromStateDict(sd, 'm', { kind: 'timm.SEModule', bnEps: '1e-5' as never }))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'options.bnEps' });
    const m = messageOf(() => SEBlock.fromStateDict(sd, 'm', { kind: 'timm.SEModule', channels: 4 } as never));
    expect(m).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: 'options.channels' });
    expect(m.message).toContain('options.channels must be absent: C comes from the tensor shapes');
    expect(messageOf(() => SEBlock.fromStateDict(sd, 'm', { kind: 'timm.SEModule', chanels: 4 } as never)).message).not.toMatch(/only the keys [^;]*channels/);
  });
  // A parity check (2026-12-05): 'timm.CecaModule' got "did you mean 'timm.EcaModule'?", and
  // following it loads the same tensor into a block that pads with zeros where CecaModule wraps
  // around (first channel 0.03 against CecaModule's 0.62): a module no block computes says so.
  test('a module no block computes is refused with why, not with a near kind to try', () => {
    const eca = { 'e.conv.weight': { shape: [1, 1, 3], data: new Float32Array([0.1, 0.2, 0.3]) } };
    for (const kind of ['timm.CecaModule', 'CecaModule', 'timm.cecamodule']) {
      const m = messageOf(() => ECABlock.fromStateDict(eca, 'e', { kind: kind as never }));
      expect(m).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: 'options.kind' });
      expect(m.message).toContain("CecaModule (ECA with circular padding over the channels) is not supported");
      expect(m.message).not.toContain('did you mean');
    }
    const light = messageOf(() => CBAMBlock.fromStateDict(eca, 'e', { kind: 'timm.LightCbamModule' as never }));
    expect(light.message).toContain("timm's LightCbamModule is not supported: its spatial conv takes one map");
    expect(messageOf(() => attentionWeightsFromStateDict(eca, 'e', { kind: 'timm.CecaModule' as never })).message).toContain('is not supported');
    // a near miss of a supported kind still gets its suggestion
    expect(messageOf(() => ECABlock.fromStateDict(eca, 'e', { kind: 'timm.ECAModule' as never })).message).toMatch(/\(did you mean 'timm\.EcaModule'\?\)$/);
  });
  test("attentionWeightsFromStateDict's activation and gate are checked before any tensor is read; an activation of its own is not 'did you mean' another", () => {
    const eca = { 'e.conv.weight': { shape: [1, 1, 3], data: new Float32Array([0.1, 0.2, 0.3]) } };
    expect(messageOf(() => attentionWeightsFromStateDict({}, 'm', { kind: 'timm.SEModule', gate: 'tanh' as never }))).toMatchObject({ code: 'ERR_OUT_OF_RANGE', argument: 'options.gate' });
    const gelu = messageOf(() => attentionWeightsFromStateDict({}, 'm', { kind: 'timm.SEModule', activation: 'gelu' as never }));
    expect(gelu).toMatchObject({ code: 'ERR_OUT_OF_RANGE', argument: 'options.activation' });
    expect(gelu.message).toMatch(/\('gelu' is another function, which this library does not compute\)$/);
    expect(messageOf(() => seForward(new Float32Array(4), [1, 4, 1, 1], w, { activation: 'GELU' as never })).message).not.toContain('did you mean');
    const m = messageOf(() => attentionWeightsFromStateDict(eca, 'e', { kind: 'timm.EcaModule', activation: 'relu' }));
    expect(m).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: 'options.activation' });
    expect(m.message).toContain('must be absent: timm.EcaModule has no hidden activation');
    // EffectiveSEModule takes it without using it, as SEBlock.fromStateDict does (a review)
    const ese = { 'm.fc.weight': { shape: [4, 4, 1, 1], data: new Float32Array(16) }, 'm.fc.bias': { shape: [4], data: new Float32Array(4) } };
    const mapped = attentionWeightsFromStateDict(ese, 'm', { kind: 'timm.EffectiveSEModule', activation: 'silu' });
    expect(mapped.op === 'se' && mapped.activation).toBeUndefined();
    expect(SEBlock.fromStateDict(ese, 'm', { kind: 'timm.EffectiveSEModule', activation: 'silu' }).channels).toBe(4);
    // the functions' hint is for function options only
    expect(messageOf(() => seForward(new Float32Array(4), [1, 4, 1, 1], w, { layout: 'elu' as never })).message).not.toContain('another function');
    expect(attentionWeightsFromStateDict(eca, 'e', { kind: 'timm.EcaModule', gate: 'hardsigmoid' }).gate).toBe('hardsigmoid');
  });
  // Left alone for a while, then mended (2026-12-05): the options fromStateDict passes on to the
  // constructor were refused as "new SEBlock: ...", a call the caller never made.
  test('an option the block refuses names fromStateDict, the call that was made', () => {
    const eca = { 'e.conv.weight': { shape: [1, 1, 3], data: new Float32Array([0.1, 0.2, 0.3]) } };
    const cbam = {
      'c.channel.fc1.weight': { shape: [2, 4, 1, 1], data: w.w1 },
      'c.channel.fc2.weight': { shape: [4, 2, 1, 1], data: w.w2 },
      'c.spatial.conv.conv.weight': { shape: [1, 2, 3, 3], data: new Float32Array(18) },
    };
    for (const [make, fn] of [
      [(o: object) => SEBlock.fromStateDict(sd, 'm', { kind: 'timm.SEModule', ...o }), 'SEBlock.fromStateDict'],
      [(o: object) => ECABlock.fromStateDict(eca, 'e', { kind: 'timm.EcaModule', ...o }), 'ECABlock.fromStateDict'],
      [(o: object) => CBAMBlock.fromStateDict(cbam, 'c', { kind: 'timm.CbamModule', ...o }), 'CBAMBlock.fromStateDict'],
    ] as const) {
      const dtype = messageOf(() => make({ dtype: 'float64' }));
      expect(dtype).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: 'options.dtype' });
      expect(dtype.message).toMatch(new RegExp(`^${fn.replace('.', '\\.')}: options\\.dtype must be one of`));
      expect(messageOf(() => make({ layout: 'nchw' })).message).toMatch(new RegExp(`^${fn.replace('.', '\\.')}: options\\.layout must be`));
      // and `new` itself still says new
      expect(make({}).toString()).toMatch(/Block/);
    }
    expect(messageOf(() => new SEBlock(w, { dtype: 'float64' as never })).message).toMatch(/^new SEBlock: options\.dtype must be one of/);
  });
  test('a shape with a bad dim says which, and a bare array says to wrap it', () => {
    const bad = { ...sd, 'm.fc1.weight': { shape: [2, -1, 1, 1], data: w.w1 } };
    expect(messageOf(() => SEBlock.fromStateDict(bad, 'm', { kind: 'timm.SEModule' })).message).toMatch(/received an Array of length 4 whose \[1\] is the number -1$/);
    const bare = { ...sd, 'm.fc1.weight': w.w1 };
    expect(messageOf(() => SEBlock.fromStateDict(bare as never, 'm', { kind: 'timm.SEModule' })).message).toContain('wrap a bare array as { shape: [...dims], data: value }');
  });
});

describe('readSafetensors options.names', () => {
  const file = path.join(FIXTURE_DIR, 'attention_model.safetensors');
  test('a name the file lacks is a RangeError naming options.names, with the nearest name', () => {
    const name = readSafetensorsHeader(file).tensors[0]!.name;
    const m = messageOf(() => readSafetensors(file, { names: [`${name.slice(0, -1)}#`] }));
    expect(m).toMatchObject({ name: 'RangeError', code: 'ERR_SQEX_SAFETENSORS_NAME', argument: 'options.names' });
    expect(m.message).toContain(`did you mean ${JSON.stringify(name)}?`);
    expect(m.message).toContain('readSafetensorsHeader(source).tensors lists them');
  });

  // A review (2026-12-04): a bad element was refused as "received an Array of length 2", which
  // said neither which element nor what it held.
  test('an element that is not a name (a number, a hole) is named by index, with what it holds', () => {
    const name = readSafetensorsHeader(file).tensors[0]!.name;
    const num = messageOf(() => readSafetensors(file, { names: [name, 42] as never }));
    expect(num).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'options.names[1]' });
    expect(num.message).toMatch(/^readSafetensors: options\.names\[1\] must be a tensor name \(a string\).*; received the number 42\. Pass the full names/);
    // eslint-disable-next-line no-sparse-arrays
    const hole = messageOf(() => readSafetensors(file, { names: [, name] as never }));
    expect(hole).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'options.names[0]' });
    expect(hole.message).toMatch(/options\.names\[0\] must be a tensor name \(a string\).*; received nothing \(a hole in the array\)/);
  });
});

describe('device cuda when the addon itself does not load', () => {
  test("does not advise device 'auto' or host arrays, which need the same addon", () => {
    const script = `
      const sqex = require(${JSON.stringify(path.resolve(__dirname, '../dist/index.js'))});
      const out = [];
      const w = { w1: new Float32Array(4), w2: new Float32Array(4) };
      for (const call of [
        () => sqex.seForward(new Float32Array(4), [1, 4, 1, 1], w, { device: 'cuda' }),
        () => sqex.DeviceTensor.from(new Float32Array(4), [1, 4, 1, 1]),
      ]) { try { call(); out.push(null); } catch (e) { out.push({ code: e.code, message: e.message }); } }
      console.log(JSON.stringify(out));`;
    const env = { ...process.env, SQUEEZE_EXCITE_BINARY: path.join(FIXTURE_DIR, 'no-such-addon.node') };
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' })) as { code: string; message: string }[];
    expect(out).toHaveLength(2);
    for (const o of out) {
      expect(o.code).toBe('ERR_SQEX_CUDA_UNAVAILABLE');
      expect(o.message).toContain('The CPU path needs the same addon, so fix its installation first');
      expect(o.message).not.toMatch(/device: 'auto'|pass Float32Arrays/);
      expect(o.message).not.toContain('..');
    }
  });
});

describe('DeviceTensor options name the ordinal `device` (the op options: deviceIndex)', () => {
  test("device 'cuda' and deviceIndex are refused with the name these options use", () => {
    const data = new Float32Array(4);
    const m = messageOf(() => DeviceTensor.from(data, shape, { device: 'cuda' as never }));
    expect(m).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'options.device' });
    expect(m.message).toContain('its options.device is the ordinal (0 for the first GPU), what the op options call deviceIndex');
    const d = messageOf(() => DeviceTensor.empty(shape, { deviceIndex: 0 } as never));
    expect(d).toMatchObject({ name: 'RangeError', argument: 'options.deviceIndex' });
    expect(d.message).toContain("options.deviceIndex must be absent: a DeviceTensor's options name the CUDA device ordinal `device`");
  });
  test('a data length refusal says what was received as every other refusal does', () => {
    expect(messageOf(() => DeviceTensor.from(new Float32Array(3), shape)).message).toMatch(
      /^DeviceTensor\.from: data must be a Float32Array of length 4 \(N × C × H × W of \[1, 4, 1, 1\]\); received a Float32Array of length 3$/,
    );
  });
});

// A newcomer's check (2026-12-02): a Buffer was received as "a Uint8Array", and a readSafetensors
// tensor record passed whole as a weight got no hint to take its .data.
describe('what a newcomer passes instead of a Float32Array is named, with the fix', () => {
  test('a Node Buffer is received as a Buffer, with its byte length', () => {
    const m = messageOf(() => seForward(Buffer.alloc(16) as never, shape, w));
    expect(m).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'x' });
    expect(m.message).toContain('received a Buffer of 16 bytes. To read float32 bytes from a Node Buffer');
    expect(messageOf(() => seForward(new Uint8Array(16) as never, shape, w)).message).toContain('received a Uint8Array of length 16');
  });
  test("a readSafetensors tensor record as a weight is told to pass its .data or use fromStateDict", () => {
    const record = { dtype: 'F32', shape: [2, 4], data: w.w1, zeroCopy: false };
    const m = messageOf(() => seForward(new Float32Array(4), shape, { ...w, w1: record as never }));
    expect(m).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'weights.w1' });
    expect(m.message).toContain('received an object. This is a readSafetensors tensor record ({ dtype, shape, data }): pass its .data');
    expect(m.message).toContain('fromStateDict');
    // An object that is not such a record gets no such hint.
    expect(messageOf(() => seForward(new Float32Array(4), shape, { ...w, w1: { data: 1 } as never })).message).not.toContain('tensor record');
  });
});

describe('the received part is worded one way', () => {
  test('cudaStreamPerThread, an object made by Object.create, a block given another C', () => {
    expect(messageOf(() => seForward(new Float32Array(4), shape, w, { device: 'cpu', stream: 2n })).message).toMatch(/; received the bigint 2n$/);
    const o = messageOf(() => seForward(new Float32Array(4), shape, w, Object.create({ layout: 'NHWC' }) as never));
    expect(o.message).toContain('received an object whose prototype is not Object.prototype (e.g. made by Object.create(proto))');
    const block = new SEBlock(w);
    expect(messageOf(() => block.forward(new Float32Array(6), [1, 6, 1, 1])).message).toContain('shape[1] (C) must be 4, the channels of the block\'s weights; received the number 6 (shape [1, 6, 1, 1])');
  });
});

describe('the safetensors readers refuse what they would otherwise ignore', () => {
  const file = path.join(FIXTURE_DIR, 'attention_model.safetensors');
  test("readSafetensorsHeader with readSafetensors' options; .map(readSafetensorsHeader) still works", () => {
    const m = messageOf(() => (readSafetensorsHeader as (...a: unknown[]) => unknown)(file, { names: ['x'] }));
    expect(m).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'options' });
    expect(m.message).toContain("options.names and options.toFloat32 are readSafetensors' options");
    expect([file].map(readSafetensorsHeader)[0]!.tensors.length).toBeGreaterThan(0);
  });
  test('an invalid file is refused under the name of the function called, as every refusal is', () => {
    const m = messageOf(() => readSafetensorsHeader(new Uint8Array(3)));
    expect(m).toMatchObject({ name: 'SafetensorsError', code: 'ERR_SQEX_SAFETENSORS' });
    expect(m.message).toMatch(/^readSafetensorsHeader: <Uint8Array>: not a valid safetensors file \(file-too-small\)/);
    expect(messageOf(() => readSafetensors(new Uint8Array(3))).message).toMatch(/^readSafetensors: <Uint8Array>: /);
  });
  test('SafetensorsFile.get with a non-string name', () => {
    const f = readSafetensors(file);
    expect(messageOf(() => f.get(42 as never))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'name' });
  });
});

describe('BatchNorm folds that would not compute what PyTorch computes are refused', () => {
  // From a parity audit (2026-12-01): CbamModule with spatial bn.weight = +Inf gave NaN in 128 of
  // 128 outputs (PyTorch: 8), and an SEModule whose folded fc1 bias overflowed float32 from a
  // running_mean of 3e38 gave NaN where float64 PyTorch stayed finite.
  const t = (shape: number[], values: number[] | Float32Array) => ({ shape, data: Float32Array.from(values) });
  const cbam = (gamma: number) => ({
    'm.channel.fc1.weight': t([2, 8, 1, 1], new Float32Array(16).fill(0.1)),
    'm.channel.fc2.weight': t([8, 2, 1, 1], new Float32Array(16).fill(0.1)),
    'm.spatial.conv.conv.weight': t([1, 2, 3, 3], new Float32Array(18).fill(0.05)),
    'm.spatial.conv.bn.weight': t([1], [gamma]),
    'm.spatial.conv.bn.bias': t([1], [0]),
    'm.spatial.conv.bn.running_mean': t([1], [0.1]),
    'm.spatial.conv.bn.running_var': t([1], [1]),
    'm.spatial.conv.bn.num_batches_tracked': t([], [0]),
  });
  const se = (mean: number) => ({
    'm.fc1.weight': t([2, 4, 1, 1], new Float32Array(8).fill(0.1)),
    'm.fc1.bias': t([2], [0, 0]),
    'm.bn.weight': t([2], [1, 1]),
    'm.bn.bias': t([2], [0, 0]),
    'm.bn.running_mean': t([2], [mean, 0]),
    'm.bn.running_var': t([2], [0.2, 0.2]),
    'm.fc2.weight': t([4, 2, 1, 1], new Float32Array(8).fill(0.1)),
    'm.fc2.bias': t([4], [0, 0, 0, 0]),
  });
  test('an infinite γ (CbamModule spatial bn) and a folded bias past float32 (SEModule bn)', () => {
    const c = messageOf(() => attentionWeightsFromStateDict(cbam(Infinity) as never, 'm', { kind: 'timm.CbamModule' }));
    expect(c).toMatchObject({ name: 'StateDictError', code: 'ERR_SQEX_STATE_DICT' });
    expect((c as unknown as { message: string }).message).toContain('"m.spatial.conv.bn" cannot be folded into the spatial conv exactly: its scale');
    const s = messageOf(() => SEBlock.fromStateDict(se(3e38) as never, 'm', { kind: 'timm.SEModule' }));
    expect(s).toMatchObject({ name: 'StateDictError', code: 'ERR_SQEX_STATE_DICT' });
    expect(s.message).toContain('the folded bias');
  });
  // An attack (2026-12-02): a subnormal γ made every folded weight 0, so an input with one +Inf
  // channel gave NaN everywhere, where PyTorch (conv, then BatchNorm) gives Inf and finite gates.
  test('a folded weight that underflows to 0 from non-zero factors (subnormal γ) is refused; γ = 0 folds', () => {
    const c = messageOf(() => attentionWeightsFromStateDict(cbam(1.4e-45) as never, 'm', { kind: 'timm.CbamModule' }));
    expect(c).toMatchObject({ name: 'StateDictError', code: 'ERR_SQEX_STATE_DICT' });
    expect(c.message).toContain('"m.spatial.conv.bn" cannot be folded into the spatial conv exactly: the folded weight 0.05');
    expect(c.message).toContain('underflows float32 to 0 in channel 0');
    expect(c.message).toContain('0 × Inf');
    const tiny = se(0);
    tiny['m.bn.weight'] = t([2], [1, 1.4e-45]);
    const s = messageOf(() => SEBlock.fromStateDict(tiny as never, 'm', { kind: 'timm.SEModule' }));
    expect(s).toMatchObject({ name: 'StateDictError', code: 'ERR_SQEX_STATE_DICT' });
    expect(s.message).toContain('in channel 1');
    // γ = 0 exactly (a channel switched off): 0 × Inf is NaN in PyTorch as well.
    expect(attentionWeightsFromStateDict(cbam(0) as never, 'm', { kind: 'timm.CbamModule' }).op).toBe('cbam');
    // A small γ whose folded weights stay in float32's normal range still loads.
    expect(attentionWeightsFromStateDict(cbam(1e-30) as never, 'm', { kind: 'timm.CbamModule' }).op).toBe('cbam');
  });
  // An attack (2026-12-05): a folded weight in float32's subnormal range keeps fewer than 24 bits
  // (0.1 × 1e-44 / √(1 + 1e-5) = 9.8e-46 rounds to 1.4e-45, 43% off), and with x = 1e30 and
  // fc2 = 1e15 timm's SEModule with BatchNorm gave a gate of 0.968 where PyTorch gives 0.5118.
  test('a folded weight that rounds into float32\'s subnormal range (off by more than float32\'s rounding) is refused', () => {
    const c = messageOf(() => attentionWeightsFromStateDict(cbam(1e-40) as never, 'm', { kind: 'timm.CbamModule' }));
    expect(c).toMatchObject({ name: 'StateDictError', code: 'ERR_SQEX_STATE_DICT' });
    expect(c.message).toContain('"m.spatial.conv.bn" cannot be folded into the spatial conv exactly: the folded weight 0.05');
    expect(c.message).toMatch(/is subnormal in float32 \(.*\) in channel 0, where every folded weight is below float32's normal range/);
    const tiny = se(0);
    tiny['m.bn.weight'] = t([2], [1, 1e-44]);
    const s = messageOf(() => SEBlock.fromStateDict(tiny as never, 'm', { kind: 'timm.SEModule' }));
    expect(s).toMatchObject({ name: 'StateDictError', code: 'ERR_SQEX_STATE_DICT' });
    expect(s.message).toContain('in channel 1');
    // A review: a checkpoint's own subnormal weights beside normal ones (weight decay leaves them)
    // fold as before: their rounding is within float32's for the channel.
    const decayed = se(0);
    decayed['m.fc1.weight'] = t([2, 4, 1, 1], [0.1, 1e-40, -3e-39, 1e-45, 0.2, 0.3, 0.4, 0.5]);
    expect(SEBlock.fromStateDict(decayed as never, 'm', { kind: 'timm.SEModule' }).channels).toBe(4);
  });
  test('finite BatchNorms, and NaN statistics (NaN in PyTorch too), still load', () => {
    expect(attentionWeightsFromStateDict(cbam(2) as never, 'm', { kind: 'timm.CbamModule' }).op).toBe('cbam');
    expect(SEBlock.fromStateDict(se(1e4) as never, 'm', { kind: 'timm.SEModule' }).channels).toBe(4);
    expect(SEBlock.fromStateDict(se(Number.NaN) as never, 'm', { kind: 'timm.SEModule' }).channels).toBe(4);
  });
});

// From a newcomer's check and a parity audit (2026-12-01, later): refusals that pointed elsewhere.
describe('refusals that named the wrong fix, second audit', () => {
  test("a file's bytes given to fromStateDict are told to go through readSafetensors", () => {
    const m = messageOf(() => SEBlock.fromStateDict(Buffer.alloc(100) as never, 'se', { kind: 'timm.SEModule' }));
    expect(m.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(m.argument).toBe('tensors');
    expect(m.message).toContain("For a .safetensors file's bytes, pass readSafetensors(bytes)");
    expect(m.message).not.toContain('new Float32Array(buf.buffer');
  });

  test.each(['layout', 'gate', 'activation', 'dtype', 'device'])('a block option given to forward (%s) says it is fixed when the block is made', (key) => {
    const block = new SEBlock(w);
    const m = messageOf(() => block.forward(new Float32Array(4), shape, { [key]: 'x' } as never));
    expect(m.name).toBe('RangeError');
    expect(m.code).toBe('ERR_OUT_OF_RANGE');
    expect(m.argument).toBe(`options.${key}`);
    expect(m.message).toContain(`${key} is fixed when the block is made: new SEBlock(weights, { ${key} })`);
  });

  // StateDictTensor.dtype's doc said a label that does not fit the data is refused; a Float32Array
  // labelled 'F16' or 'I32' was read as float32 (a parity audit).
  test.each([
    ['I32', new Float32Array(8)],
    ['torch.int64', new Float32Array(8)],
    ['C64', new Float32Array(16)],
    ['F16', new Float64Array(8)],
    ['F32', new Float64Array(8)],
  ] as const)('a state-dict tensor labelled %s over a %o is refused with check dtype', (dtype, data) => {
    const tensors = { 'fc1.weight': { shape: [2, 4, 1, 1], data, dtype }, 'fc1.bias': { shape: [2], data: new Float32Array(2) }, 'fc2.weight': { shape: [4, 2, 1, 1], data: new Float32Array(8) }, 'fc2.bias': { shape: [4], data: new Float32Array(4) } };
    type Refusal = Error & { code?: string; check?: string; tensor?: string };
    const err = ((): Refusal => {
      try {
        attentionWeightsFromStateDict(tensors as never, '', { kind: 'timm.SEModule' });
      } catch (e) {
        return e as Refusal;
      }
      throw new Error('expected a refusal');
    })();
    expect(err.code).toBe('ERR_SQEX_STATE_DICT');
    expect(err.check).toBe('dtype');
    expect(err.tensor).toBe('fc1.weight');
    expect(err.message).toContain(`has dtype "${dtype}", which does not fit its data`);
  });

  // readSafetensors(source, { toFloat32: true }) keeps the file's dtype beside the converted data;
  // fromStateDict refused its own reader's result (an attack, 2026-12-02).
  test.each(['F32', 'float32', 'torch.float32', undefined, 'anything else', 'F16', 'BF16', 'F64', 'torch.float16', 'half', 'torch.bfloat16', '<f8'])('a Float32Array labelled %s is read', (dtype) => {
    const tensors = { 'fc.weight': { shape: [4, 4], data: new Float32Array(16).fill(0.5), dtype }, 'fc.bias': { shape: [4], data: new Float32Array(4) } };
    const m = attentionWeightsFromStateDict(tensors as never, '', { kind: 'timm.EffectiveSEModule' });
    expect(m.op === 'se' && m.weights.w1[0]).toBe(0.5);
  });
});

// A refusal built its message with the live JSON.stringify: replaced by code that throws, the
// caller got that code's uncoded error instead of the refusal (a review, 2026-12-01).
test('refusals stay coded with JSON.stringify replaced by code that throws', () => {
  const real = JSON.stringify;
  JSON.stringify = () => {
    throw new Error('replaced JSON.stringify');
  };
  try {
    const unknownKey = messageOf(() => seForward(new Float32Array(4), shape, w, { layot: 'NHWC' } as never));
    expect(unknownKey.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(unknownKey.message).toContain('unknown key "layot"');
    const label = messageOf(() =>
      attentionWeightsFromStateDict({ 'se.conv.weight': { shape: [3], data: new Float32Array(3), dtype: 'I32' } } as never, 'se', { kind: 'timm.EcaModule' }),
    );
    expect(label.code).toBe('ERR_SQEX_STATE_DICT');
    expect(label.message).toContain('has dtype "I32"');
  } finally {
    JSON.stringify = real;
  }
});

test.each([
  ['torch.float16', 0x3c00, 1],
  ['half', 0x3c00, 1],
  ['bf16', 0x3f80, 1],
  ['torch.bfloat16', 0xc000, -2],
] as const)('half bits in a Uint16Array labelled %s are converted; unlabelled ones are told which labels to give', (dtype, bits, value) => {
  const t = (data: Uint16Array, label?: string) => ({ 'se.conv.weight': { shape: [3], data, dtype: label } });
  const m = attentionWeightsFromStateDict(t(new Uint16Array(3).fill(bits), dtype) as never, 'se', { kind: 'timm.EcaModule' });
  expect(m.op === 'eca' && Array.from(m.weights.weight)).toEqual([value, value, value]);
  const refused = messageOf(() => attentionWeightsFromStateDict(t(new Uint16Array(3)) as never, 'se', { kind: 'timm.EcaModule' }));
  expect(refused.message).toContain("need dtype 'F16' or 'BF16'");
});

test.each(['torch.int32', 'int32', 'int', 'bool', 'torch.int64'])('a Float32Array labelled %s is refused (an integer label never fits float data)', (dtype) => {
  const refused = messageOf(() => attentionWeightsFromStateDict({ 'se.conv.weight': { shape: [3], data: new Float32Array(3), dtype } } as never, 'se', { kind: 'timm.EcaModule' }));
  expect(refused.code).toBe('ERR_SQEX_STATE_DICT');
  expect(refused.message).toContain('which does not fit its data');
});

// numpy's own dtype codes (dtype.str, dtype.char) were not read: '<i4' on float32 data was taken
// as float32, '<f2' half bits were refused (a second attack).
test.each([
  ['<f4', 'F32', true], ['f4', 'F32', true], ['f', 'F32', true], ['<i4', 'F32', false], ['|u1', 'F32', false], ['?', 'F32', false], ['>f4', 'F32', false],
  ['<f8', 'F64', true], ['d', 'F64', true], ['<f4', 'F64', false],
  ['<f2', 'U16', true], ['e', 'U16', true], ['<i2', 'U16', false],
] as const)('numpy code %s on %s data: read %s', (dtype, kind, read) => {
  const data = kind === 'F32' ? new Float32Array(3).fill(1) : kind === 'F64' ? new Float64Array(3).fill(1) : new Uint16Array(3).fill(0x3c00);
  const call = () => attentionWeightsFromStateDict({ 'se.conv.weight': { shape: [3], data, dtype } } as never, 'se', { kind: 'timm.EcaModule' });
  if (read) {
    const m = call();
    expect(m.op === 'eca' && Array.from(m.weights.weight)).toEqual([1, 1, 1]);
  } else {
    const refused = messageOf(call);
    expect(refused.code).toBe('ERR_SQEX_STATE_DICT');
  }
});

describe('an option value by another of its names points to the right one (a newcomer)', () => {
  // 'gpu' is within edit distance 1 of 'cpu', so the spelling hint sent a user who meant the GPU to the CPU.
  test.each([
    ['device', 'gpu', "'cuda'"],
    ['device', 'GPU', "'cuda'"],
    ['device', 'nvidia', "'cuda'"],
    ['device', 'cuda:1', "'cuda' with options.deviceIndex 1"],
    ['layout', 'channels_last', "'NHWC'"],
    ['layout', 'channelsFirst', "'NCHW'"],
    ['activation', 'swish', "'silu'"],
    ['gate', 'hard_sigmoid', "'hardsigmoid'"],
    ['device', 'cpux', "'cpu'"],
  ])('options.%s %j: did you mean %s?', (key, value, hint) => {
    const m = messageOf(() => seForward(new Float32Array(4), shape, w, { [key]: value } as never));
    expect(m).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: `options.${key}` });
    expect(m.message).toMatch(new RegExp(`received the string ${JSON.stringify(value)} \\(did you mean ${hint.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\?\\)$`));
  });

  test.each(['toString', '__proto__', 'constructor'])('a value named like an Object.prototype key (%s) gets no synonym', (value) => {
    const m = messageOf(() => seForward(new Float32Array(4), shape, w, { device: value } as never));
    expect(m.message).toMatch(new RegExp(`received the string "${value}"$`));
  });
});

describe('hints a newcomer missed (fresh-clone check, 2026-12-02)', () => {
  test('a shape in an Int32Array is told Array.from(shape)', () => {
    const m = messageOf(() => seForward(new Float32Array(4), new Int32Array(shape) as never, w));
    expect(m).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'shape' });
    expect(m.message).toMatch(/received an Int32Array of length 4\. To pass a shape held in a typed array: Array\.from\(shape\)$/);
  });

  test("a two-FC SE's w1 with w2 left out is told to pass w2; a w1 of no such length is not", () => {
    const m = messageOf(() => seForward(new Float32Array(64), [1, 16, 2, 2], { w1: new Float32Array(128) }));
    expect(m.argument).toBe('weights.w1');
    expect(m.message).toContain('single-FC SE, w2 omitted; if this is fc1.weight [hidden, C] = [8, 16] of a two-FC SE, pass fc2.weight [C, hidden] as weights.w2');
    const n = messageOf(() => seForward(new Float32Array(64), [1, 16, 2, 2], { w1: new Float32Array(100) }));
    expect(n.message).toContain('(C × C = 16 × 16: single-FC SE, w2 omitted); received');
  });

  test('a text file read as safetensors says it is probably not one (its first 8 bytes read as a length past the file)', () => {
    const bytes = new TextEncoder().encode('{"name":"x","version":"1.0.0","description":"hello world"}');
    let e: (Error & { code?: string; check?: string }) | undefined;
    try {
      readSafetensorsHeader(bytes);
    } catch (err) {
      e = err as Error & { code?: string; check?: string };
    }
    expect(e?.code).toBe('ERR_SQEX_SAFETENSORS');
    expect(e?.check).toBe('header-too-large');
    expect(e?.message).toContain(`It is longer than the file (${bytes.length} bytes): this is probably not a safetensors file`);
  });
});

// From a newcomer trial (helper, 2026-12-03): hints that pointed the wrong way or were missing.
describe('a newcomer\'s usual mistakes get the hint that fits them', () => {
  const x = new Float32Array(4);
  test("the field's other spellings of a value, and two swapped letters, are suggested", () => {
    expect(messageOf(() => seForward(x, shape, w, { gate: 'hsigmoid' as never })).message).toContain("(did you mean 'hardsigmoid'?)");
    // A swap counts one edit (optimal string alignment): NWHC is NHWC with H and W swapped, two substitutions from NCHW.
    expect(messageOf(() => seForward(x, shape, w, { layout: 'NWHC' as never })).message).toContain("(did you mean 'NHWC'?)");
  });

  test("a call's option given to a block's constructor is refused with where it goes", () => {
    for (const key of ['residual', 'out', 'scaleOut', 'stream', 'offload']) {
      const m = messageOf(() => new SEBlock(w, { [key]: x } as never));
      expect(m).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: `options.${key}` });
      expect(m.message).toContain(`${key} is an option of each call: block.forward(x, shape, { ${key} })`);
    }
  });

  test('a PyTorch state-dict name as a weights key is told which key it is', () => {
    const t = new Float32Array(8);
    expect(messageOf(() => seForward(x, shape, { 'fc1.weight': t } as never)).message).toContain(`PyTorch's "fc1.weight" is 'w1' here`);
    expect(messageOf(() => seForward(x, shape, { 'layer1.0.se.conv_expand.bias': t } as never)).message).toContain(`is 'b2' here`);
    // Not a name of these weights (ECA's conv): no mapping to an SE key, only the pointer to the loaders.
    const eca = messageOf(() => seForward(x, shape, { 'conv.weight': t } as never)).message;
    expect(eca).not.toContain(' here;');
    expect(eca).toContain('(a PyTorch state-dict name: a whole state dict maps with SEBlock/ECABlock/CBAMBlock.fromStateDict');
  });

  test('channels-last data whose shape was written in memory order, without options.layout', () => {
    const big = new Float32Array(2 * 14 * 14 * 256);
    const ws = { w1: new Float32Array(16 * 256), w2: new Float32Array(256 * 16) };
    const m = messageOf(() => seForward(big, [2, 14, 14, 256], ws));
    expect(m).toMatchObject({ argument: 'weights.w1', code: 'ERR_OUT_OF_RANGE' });
    expect(m.message).toContain("for channels-last data of C = 256, pass [2, 256, 14, 14] with options.layout 'NHWC'");
    // A real NCHW shape (C ≠ H) with wrong weights gets no layout advice.
    expect(messageOf(() => seForward(new Float32Array(2 * 256 * 14 * 12), [2, 256, 14, 12], { w1: new Float32Array(4095), w2: ws.w2 })).message).not.toContain('channels-last');
  });

  test.skipIf(cuda.status().available)("device 'cuda' without a GPU names options.device (skipped where CUDA is available)", () => {
    for (const call of [() => seForward(x, shape, w, { device: 'cuda' }), () => new SEBlock(w, { device: 'cuda' })]) {
      expect(messageOf(call)).toMatchObject({ code: 'ERR_SQEX_CUDA_UNAVAILABLE', argument: 'options.device' });
    }
  });

  test('the CLI suggests the command a typo meant', () => {
    const cli = path.resolve(__dirname, '../bin/squeeze-excite.js');
    let stderr = '';
    try {
      execFileSync(process.execPath, [cli, 'inpsect', 'x.safetensors'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      stderr = (err as { stderr: string }).stderr;
    }
    expect(stderr).toContain(`unknown command "inpsect" (did you mean 'inspect'?)`);
  });
});

// A newcomer's trial of a fresh clone (2026-12-03): each refusal below gave advice that did not fit
// what was passed, or none.
describe('refusals a newcomer met, with the fix that fits', () => {
  test("a nested Array (PyTorch's .tolist()) gets .flat(Infinity): Float32Array.from of it is all NaN", () => {
    const x = new Float32Array(2 * 8 * 9);
    const nested = messageOf(() => ecaForward(x, [2, 8, 3, 3], { weight: [[[0.1, -0.2, 0.3]]] as never }));
    expect(nested).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', argument: 'weights.weight' });
    expect(nested.message).toContain('Float32Array.from(value.flat(Infinity))');
    const flat = messageOf(() => ecaForward(x, [2, 8, 3, 3], { weight: [0.1, -0.2, 0.3] as never }));
    expect(flat.message).toContain('To convert an Array of numbers: Float32Array.from(value)');
  });

  test('a number for the spatial conv\'s one bias gets Float32Array.of (and nowhere else)', () => {
    const w98 = new Float32Array(98);
    const m = messageOf(() => cbamForward(new Float32Array(16), [1, 4, 2, 2], { w1: new Float32Array(8), w2: new Float32Array(8), spatialWeight: w98, spatialBias: 0.1 as never }));
    expect(m).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', argument: 'weights.spatialBias' });
    expect(m.message).toContain('To pass the one bias value: Float32Array.of(0.1)');
    // Not where more than one value goes: a one-element w1 or out would only meet the next refusal.
    for (const call of [() => seForward(new Float32Array(4), shape, { ...w, w1: 0.1 as never }), () => seForward(new Float32Array(4), shape, w, { out: 0.1 as never })]) {
      expect(messageOf(call).message).not.toContain('Float32Array.of');
    }
  });

  test('a readSafetensors file, or its tensors, passed as the weights points to fromStateDict', () => {
    const file = readSafetensors(path.join(FIXTURE_DIR, 'attention_model.safetensors'), { toFloat32: true });
    const x = new Float32Array(2 * 8 * 9);
    const whole = messageOf(() => seForward(x, [2, 8, 3, 3], file as never));
    expect(whole).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', argument: 'weights' });
    expect(whole.message).toContain('received a SafetensorsFile instance. A SafetensorsFile holds a whole state dict: build the block with SEBlock/ECABlock/CBAMBlock.fromStateDict(file, prefix, { kind })');
    const tensors = messageOf(() => seForward(x, [2, 8, 3, 3], file.tensors as never));
    expect(tensors.message).toMatch(/unknown key "[^"]+\.(weight|bias|running_mean|running_var|num_batches_tracked)" \(a PyTorch state-dict name: a whole state dict maps with SEBlock\/ECABlock\/CBAMBlock\.fromStateDict/);
    // A key that is no state-dict name keeps the did-you-mean.
    expect(messageOf(() => seForward(x, [2, 8, 3, 3], { w1: new Float32Array(16), w3: new Float32Array(16) } as never)).message).toContain("unknown key \"w3\" (did you mean 'w1'?)");
  });

  test("fromStateDict's entry given as an Array gets the { shape, data } form (with .flat(Infinity) for a nested one)", () => {
    for (const value of [[[0.1, 0.2], [0.3, 0.4]], [0.1, 0.2, 0.3, 0.4]]) {
      const sd = { 'fc1.weight': value, 'fc2.weight': { shape: [2, 2], data: new Float32Array(4) } };
      let message = '';
      try {
        SEBlock.fromStateDict(sd as never, '', { kind: 'timm.SEModule' });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toContain("an Array of numbers is { shape: [...dims], data: Float32Array.from(value) }, a nested one (PyTorch's .tolist()) { shape: [...dims], data: Float32Array.from(value.flat(Infinity)) }");
    }
  });

  test('a file named where the CLI command goes gets the inspect command for it', () => {
    const cli = path.resolve(__dirname, '../bin/squeeze-excite.js');
    let stderr = '';
    let status: unknown;
    try {
      execFileSync(process.execPath, [cli, 'model.safetensors'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      stderr = (err as { stderr: string }).stderr;
      status = (err as { status: unknown }).status;
    }
    expect(status).toBe(2);
    expect(stderr).toContain('unknown command "model.safetensors" (to list a file\'s attention modules: squeeze-excite inspect model.safetensors)');
    // A name the shell would split is quoted.
    try {
      execFileSync(process.execPath, [cli, "my model's.safetensors"], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      stderr = (err as { stderr: string }).stderr;
    }
    expect(stderr).toContain("squeeze-excite inspect 'my model'\\''s.safetensors')");
  });

  test('a shape whose element getter or Proxy trap throws is a coded TypeError naming shape (as options and weights are)', () => {
    const ws = { w1: Float32Array.of(1), w2: Float32Array.of(1) };
    const getter = [1, 1, 2];
    Object.defineProperty(getter, 3, { enumerable: true, get() { throw new Error('getter'); } });
    const trap = new Proxy([1, 1, 2, 2], { get(t, k) { if (k === '0') throw new Error('trap'); return Reflect.get(t, k); } });
    for (const shp of [getter, trap]) {
      for (const call of [() => seForward(new Float32Array(4), shp as never, ws), () => new SEBlock(ws, { channels: 1 }).forward(new Float32Array(4), shp as never)]) {
        const m = messageOf(call);
        expect(m).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'shape' });
        expect(m.message).toContain('whose properties could not be read');
      }
    }
  });

  test('findAttentionModules lists no module under an empty path component (it could not be loaded by that prefix)', () => {
    const t = (shape: number[]) => ({ dtype: 'F32', shape, bytes: f32Bytes(new Array(shape.reduce((a, b) => a * b, 1)).fill(0.5)) });
    const se = (p: string) => ({ [`${p}fc1.weight`]: t([2, 4, 1, 1]), [`${p}fc1.bias`]: t([2]), [`${p}fc2.weight`]: t([4, 2, 1, 1]), [`${p}fc2.bias`]: t([4]) });
    const bytes = writeSafetensors({ ...se(''), ...se('.'), ...se('a..'), ...se('b.') });
    const found = findAttentionModules(readSafetensorsHeader(bytes));
    expect(found.map((m) => m.prefix).sort()).toEqual(['', 'b']);
    expect([...found.find((m) => m.prefix === '')!.tensors].sort()).toEqual(['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']);
  });
});

describe('hints from a newcomer\'s check of 2026-12-03', () => {
  test('a forgotten await: the Promise an …Async call returned, passed on as x, a weight or out, says await it', async () => {
    const x = new Float32Array(16).fill(1);
    const pending = ecaForwardAsyncOf(x);
    const hint = 'This is a Promise: await it first (as in const y = await seForwardAsync(…)) and pass what it resolves to';
    const calls: [string, () => unknown][] = [
      ['x', () => ecaForward(pending as never, shape, { weight: new Float32Array(3) })],
      ['weights.w1', () => seForward(x.subarray(0, 4), shape, { ...w, w1: pending as never })],
      ['options.out', () => seForward(x.subarray(0, 4), shape, w, { out: pending as never })],
    ];
    for (const [argument, call] of calls) {
      const m = messageOf(call);
      expect(m, argument).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument });
      expect(m.message).toContain(`received a Promise instance. ${hint}`);
    }
    await pending;
    // Not for other objects.
    expect(messageOf(() => ecaForward({} as never, shape, { weight: new Float32Array(3) })).message).not.toContain('Promise');
  });

  test("a block's forward(x, { out }) with a Float32Array x (the GPU examples' form) says a host x needs its shape", () => {
    const block = new SEBlock(w);
    const x = new Float32Array(4);
    for (const call of [() => block.forward(x, { out: new Float32Array(4) } as never), () => seForward(x, w as never, w as never)]) {
      const m = messageOf(call);
      expect(m).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', argument: 'shape' });
      expect(m.message).toContain('received an object. An object came where the shape goes: a Float32Array x always needs its shape [N, C, H, W] after it; only a DeviceTensor x, which carries its shape, may leave it out');
    }
  });

  test("a block given the memory order [N, H, W, C] as its shape gets the layout hint the ops give", () => {
    const c = 64;
    const weights = { w1: new Float32Array(4 * c), w2: new Float32Array(c * 4), b2: new Float32Array(c) };
    const x = new Float32Array(2 * 8 * 8 * c);
    const nhwc = messageOf(() => new SEBlock(weights, { layout: 'NHWC' }).forward(x, [2, 8, 8, c]));
    expect(nhwc).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: 'shape[1] (C)' });
    expect(nhwc.message).toContain(`shape is [N, C, H, W] in every layout: for channels-last data of C = ${c}, pass [2, ${c}, 8, 8], not the memory order [N, H, W, C]`);
    const nchw = messageOf(() => new SEBlock(weights).forward(x, [2, 8, 8, c]));
    expect(nchw.message).toContain(`pass [2, ${c}, 8, 8] to a block built with { layout: 'NHWC' }, not the memory order`);
    // A C that is simply wrong gets no such hint. An NCHW shape whose W is the block's C but whose
    // map is not square may be a plain [N, C, H, W] whose W happens to be C, or channels-last
    // data of a 16×8 map (a newcomer's 7×9 one got no word on the layout, 2026-12-05): it gets the
    // advice as a condition, not the assertion of the square case.
    expect(messageOf(() => new SEBlock(weights).forward(x.subarray(0, 2 * 8 * 8 * 32), [2, 8, 8, 32])).message).not.toContain('memory order');
    const nonSquare = messageOf(() => new SEBlock(weights).forward(x.subarray(0, 2 * 16 * 8 * c), [2, 16, 8, c])).message;
    expect(nonSquare).toContain(`received the number 16 (shape [2, 16, 8, ${c}]). If x is channels-last data of C = ${c} (the memory order [N, H, W, C]), pass the shape [2, ${c}, 16, 8] to a block built with { layout: 'NHWC' }: shape is [N, C, H, W] in every layout`);
    expect(nonSquare).not.toContain('not the memory order');
  });

  test('seForward / cbamForward given the memory order [N, H, W, C] get the layout hint with both biases too (a newcomer: without them only)', () => {
    const [n, c, h, w, hid] = [2, 64, 7, 9, 16];
    const x = new Float32Array(n * c * h * w);
    const se = { w1: new Float32Array(hid * c), b1: new Float32Array(hid), w2: new Float32Array(c * hid), b2: new Float32Array(c) };
    const cbam = { ...se, spatialWeight: new Float32Array(2 * 7 * 7) };
    for (const call of [(o: object) => seForward(x, [n, h, w, c], se, o), (o: object) => cbamForward(x, [n, h, w, c], cbam, o)]) {
      const nhwc = messageOf(() => call({ layout: 'NHWC' }));
      expect(nhwc).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: 'shape[1] (C)' });
      expect(nhwc.message).toContain(`received 7. Either the shape is wrong or these are another block's weights. shape is [N, C, H, W] in every layout: for channels-last data of C = ${c}, pass [${n}, ${c}, ${h}, ${w}], not the memory order [N, H, W, C]`);
      const nchw = messageOf(() => call({}));
      expect(nchw.message).toContain(`If x is channels-last data of C = ${c} (the memory order [N, H, W, C]), pass the shape [${n}, ${c}, ${h}, ${w}] with options.layout 'NHWC': shape is [N, C, H, W] in every layout`);
    }
    // A shape whose C is simply another (not the memory order): the refusal as before, no layout hint.
    const other = messageOf(() => seForward(x.subarray(0, n * 32 * h * w), [n, 32, h, w], se));
    expect(other.message).toContain('Either the shape is wrong (it is [N, C, H, W] in every layout) or these are');
    expect(other.message).not.toContain('memory order');
  });

  test('new LoadError() without a load report is a coded TypeError, not a crash in its message', () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    for (const report of [undefined, {}, null, { attempts: [] }, revoked.proxy, { attempts: [null], cudaBuilds: [] }]) {
      const m = messageOf(() => new LoadError(report as never));
      expect(m).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'report' });
    }
    expect(new LoadError(loadReport()).code).toBe('ERR_SQEX_LOAD');
  });
});

function ecaForwardAsyncOf(x: Float32Array): Promise<Float32Array> {
  return ecaForwardAsync(x, [1, 4, 2, 2], { weight: new Float32Array(3) });
}
