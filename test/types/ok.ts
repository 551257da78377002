// Calls that must type-check (tsc -p test/types). The wrong ones are in errors.ts.
import { CBAMBlock, DeviceTensor, SEBlock, cbamForward, ecaForward, ecaForwardAsync, seForward, seForwardAsync } from '../../dist/index.js';

declare const x: Float32Array;
declare const xd: DeviceTensor;
const shape = [1, 8, 4, 4] as const;
const w1 = new Float32Array(16);
const w2 = new Float32Array(16);

export const a: Float32Array = seForward(x, [1, 8, 4, 4], { w1, w2 }, { layout: 'NHWC', device: 'cpu', activation: 'silu' });
export const b: Promise<Float32Array> = seForwardAsync(x, [1, 8, 4, 4], { w1 }, { gate: 'hardsigmoid', out: x });
export const c: DeviceTensor = seForward(xd, [1, 8, 4, 4], { w1, w2 }, { stream: 0n });
export const d: Float32Array = ecaForward(x, [...shape], { weight: new Float32Array(3) });
export const e: Promise<Float32Array> = ecaForwardAsync(x, [1, 8, 4, 4], { weight: new Float32Array(3) }, { scaleOut: new Float32Array(8) });
export const f: Float32Array = cbamForward(x, [1, 8, 4, 4], { w1, w2, spatialWeight: new Float32Array(98) });
export const g: Float32Array = new SEBlock({ w1, w2 }, { channels: 8 }).forward(x, [1, 8, 4, 4]);
export const h: DeviceTensor = new CBAMBlock({ w1, w2, spatialWeight: new Float32Array(18) }, { channels: 8 }).forward(xd);
export const i: Promise<Float32Array> = seForwardAsync(x, [1, 8, 4, 4], { w1, w2 }, { offload: 'always', out: x });
export const j: Promise<Float32Array> = new SEBlock({ w1, w2 }, { channels: 8 }).forwardAsync(x, [1, 8, 4, 4], { offload: 'auto' });

// ---- Tightened types (published types as strict as the run-time checks): the correct forms. ----
import { ATTENTION_KINDS, ECABlock, cbamForwardAsync, findAttentionModules, float16BitsToFloat32, float32ToFloat16Bits } from '../../dist/index.js';
import type { DType, DeviceSelection, SEBlockOptions, SEOptions, SEWeights } from '../../dist/index.js';

declare const wd: DeviceTensor;
// SE weights: two FCs with or without biases, or the single FC (w1 [C, C], b1) without w2 and b2.
export const se1: Float32Array = seForward(x, [1, 4, 4, 4], { w1: new Float32Array(16) });
export const se2: Float32Array = seForward(x, [1, 4, 4, 4], { w1: new Float32Array(16), b1: new Float32Array(4) });
export const se3: Float32Array = seForward(x, [1, 8, 4, 4], { w1, b1: new Float32Array(2), w2, b2: new Float32Array(8) });
export const se4: DeviceTensor = seForward(xd, [1, 8, 4, 4], { w1: wd, b1: wd, w2: wd, b2: wd });
export const se5: DeviceTensor = seForward(xd, [1, 4, 4, 4], { w1: wd, b1: wd });
const single: SEWeights = { w1: new Float32Array(16) };
export const se6: SEBlock = new SEBlock(single);
// Built up: the declared type narrows to the two-FC form once w2 is there.
const built: SEWeights = { w1, w2 };
built.b2 = new Float32Array(8);
export const se7: Float32Array = seForward(x, [1, 8, 4, 4], built);

// deviceIndex with device 'auto' (the default) or 'cuda'; device 'cpu' without one.
export const dv1: Float32Array = seForward(x, [1, 8, 4, 4], { w1, w2 }, { device: 'cuda', deviceIndex: 1 });
export const dv2: Float32Array = seForward(x, [1, 8, 4, 4], { w1, w2 }, { deviceIndex: 0 });
export const dv3: Float32Array = ecaForward(x, [1, 8, 4, 4], { weight: new Float32Array(3) }, { device: 'cpu' });
declare const someIndex: number;
export const dv4: Float32Array = cbamForward(x, [1, 8, 4, 4], { w1, w2, spatialWeight: new Float32Array(98) }, { device: 'cuda', deviceIndex: someIndex });
const seOpts: SEOptions = { device: 'auto', deviceIndex: 0, layout: 'NHWC' };
export const dv5: Float32Array = seForward(x, [1, 8, 4, 4], { w1, w2 }, seOpts);
const blockOpts: SEBlockOptions = { device: 'cpu', channels: 8 };
export const dv6: SEBlock = new SEBlock({ w1, w2 }, blockOpts);
export const dv7: ECABlock = new ECABlock({ weight: new Float32Array(3) }, { device: 'cuda', deviceIndex: 1, dtype: 'float16' });
const sel: DeviceSelection = { device: 'cuda', deviceIndex: 2 };
export const dv8: CBAMBlock = new CBAMBlock({ w1, w2, spatialWeight: new Float32Array(18) }, { ...sel, channels: 8 });
export const dv9: SEBlock = SEBlock.fromStateDict({}, 'se', { kind: 'timm.SEModule', device: 'cuda', deviceIndex: 1, gate: 'hardsigmoid' });
export const dv10: ECABlock = ECABlock.fromStateDict({}, 'eca', { kind: 'timm.EcaModule', device: 'cpu', bnEps: 1e-3 });

// An x typed Float32Array | DeviceTensor: the union overloads, whose result is the union; the
// precise overloads keep their precise results.
declare const xu: Float32Array | DeviceTensor;
export const u1: Float32Array | DeviceTensor = seForward(xu, [1, 8, 4, 4], { w1, w2 }, { gate: 'hardsigmoid', stream: 0n, device: 'cuda', deviceIndex: 0 });
export const u2: Promise<Float32Array | DeviceTensor> = seForwardAsync(xu, [1, 8, 4, 4], { w1, w2 }, { offload: 'always' });
export const u3: Float32Array | DeviceTensor = ecaForward(xu, [1, 8, 4, 4], { weight: new Float32Array(3) });
export const u4: Promise<Float32Array | DeviceTensor> = ecaForwardAsync(xu, [1, 8, 4, 4], { weight: new Float32Array(3) }, { layout: 'NHWC' });
export const u5: Float32Array | DeviceTensor = cbamForward(xu, [1, 8, 4, 4], { w1, w2, spatialWeight: new Float32Array(98) }, { activation: 'silu' });
export const u6: Promise<Float32Array | DeviceTensor> = cbamForwardAsync(xu, [1, 8, 4, 4], { w1, w2, spatialWeight: new Float32Array(98) });
export const u7: Float32Array | DeviceTensor = new SEBlock({ w1, w2 }, { channels: 8 }).forward(xu, [1, 8, 4, 4], { stream: 0n });
export const u8: Promise<Float32Array | DeviceTensor> = new ECABlock({ weight: new Float32Array(3) }).forwardAsync(xu, [1, 8, 4, 4], { offload: 'always' });
export const u9: Float32Array | DeviceTensor = new CBAMBlock({ w1, w2, spatialWeight: new Float32Array(18) }, { channels: 8 }).forward(xu, [1, 8, 4, 4]);
declare const xab: Float32Array & { readonly tag?: 'mine' };
export const u10: Float32Array = seForward(xab, [1, 8, 4, 4], { w1, w2 });
export const u11: DeviceTensor = new SEBlock({ w1, w2 }, { channels: 8 }).forward(xd, { out: xd });

// DeviceTensor.from: raw half bits with their dtype; data typed as the union with any options
// (the Uint16Array rule then checked at run time).
export const t1: DeviceTensor = DeviceTensor.from(new Uint16Array(128), [1, 8, 4, 4], { dtype: 'bfloat16', layout: 'NHWC' });
declare const hostData: Float32Array | Uint16Array;
declare const anyDtype: DType;
export const t2: DeviceTensor = DeviceTensor.from(hostData, [1, 8, 4, 4], { dtype: anyDtype });
export const t3: DeviceTensor = DeviceTensor.from(x, [1, 8, 4, 4], { dtype: 'float16' });

// The half conversions over a value typed as the union.
declare const numOrArray: number | Float32Array;
export const h1: number | Uint16Array = float32ToFloat16Bits(numOrArray);
declare const bitsOrArray: number | Uint16Array;
export const h2: number | Float32Array = float16BitsToFloat32(bitsOrArray);

// No internal type name in the public ones: these are plain structural types.
export const k1: 'SEBlock' | 'ECABlock' | 'CBAMBlock' = ATTENTION_KINDS['timm.SEModule'].block;
export const f1 = findAttentionModules([{ name: 'se.fc1.weight', shape: [2, 8, 1, 1] }]);

// Errors: isSqexError narrows a caught unknown to the package's codes and fields.
import { isSqexError } from '../../dist/index.js';
import type { SqexErrorCode } from '../../dist/index.js';
try {
  seForward(x, [1, 8, 4, 4], { w1, w2 });
} catch (err) {
  if (isSqexError(err)) {
    const code: SqexErrorCode = err.code;
    const arg: string | undefined = err.argument;
    const cudaName: string | undefined = err.cudaErrorName;
    void [code, arg, cudaName];
  }
}

// Every optional input property also takes an explicit undefined, as the run-time checks do
// (test/optional-undefined.test.ts): under exactOptionalPropertyTypes (this project's setting) an
// optional bias read from a state dict (`b1: sd.get('fc1.bias')`) would otherwise need a spread.
import { readSafetensors } from '../../dist/index.js';
declare const maybe: Float32Array | undefined;
declare const maybeD: DeviceTensor | undefined;
const U = undefined;
export const ou1: Float32Array = seForward(x, [1, 8, 4, 4], { w1, b1: maybe, w2, b2: maybe }, {
  layout: U, activation: U, gate: U, residual: maybe, outputActivation: U, out: maybe, scaleOut: maybe, device: U, deviceIndex: U, stream: U, offload: U,
});
export const ou2: Float32Array = seForward(x, [1, 8, 4, 4], { w1, b1: maybe, w2: U, b2: U });
export const ou3: DeviceTensor = seForward(xd, [1, 8, 4, 4], { w1: wd, b1: maybeD, w2: wd, b2: maybeD }, { residual: maybeD, out: maybeD, scaleOut: maybeD, stream: U, deviceIndex: U });
export const ou4: Promise<Float32Array> = ecaForwardAsync(x, [1, 8, 4, 4], { weight: new Float32Array(3) }, { layout: U, gate: U, out: maybe, scaleOut: maybe, offload: U, device: U });
export const ou5: Promise<Float32Array> = cbamForwardAsync(x, [1, 8, 4, 4], { w1, b1: maybe, w2, b2: maybe, spatialWeight: new Float32Array(98), spatialBias: maybe }, { layout: U, activation: U, gate: U, out: maybe });
export const ou6: Float32Array = new SEBlock({ w1, b1: maybe, w2, b2: maybe }, { layout: U, activation: U, gate: U, outputActivation: U, dtype: U, channels: 8, device: U, deviceIndex: U }).forward(x, [1, 8, 4, 4], { residual: maybe, out: maybe, scaleOut: maybe, offload: U });
export const ou7: Float32Array = new ECABlock({ weight: new Float32Array(3) }, { layout: U, gate: U, dtype: U, device: U }).forward(x, [1, 8, 4, 4], { out: maybe, scaleOut: maybe });
export const ou8: DeviceTensor = DeviceTensor.from(x, [1, 8, 4, 4], { layout: U, dtype: U, device: U });
export const ou9 = readSafetensors(new Uint8Array(8), { toFloat32: U, names: U });
export const ou10: SEBlock = SEBlock.fromStateDict({}, 'se', { kind: 'timm.SEModule', bnEps: U, strict: U, device: U, gate: U });
// A file's tensors record (integer and float8 tensors among them) is a state dict too (an attack, 2026-12-05).
export const ou11: SEBlock = SEBlock.fromStateDict(readSafetensors(new Uint8Array(8)).tensors, 'se', { kind: 'timm.SEModule' });

// An x typed `any` (an untyped library's value) takes the Float32Array form, declared first, as
// the common case; it took the DeviceTensor form while that came first (a result typed DeviceTensor
// that is a Float32Array at run time). The hover text of the name is the first form's too.
declare const xAny: any;
export const anyHost: Float32Array = seForward(xAny, [1, 8, 4, 4], { w1, w2 });
export const anyHostAsync: Promise<Float32Array> = ecaForwardAsync(xAny, [1, 8, 4, 4], { weight: new Float32Array(3) });
export const anyHostBlock: Float32Array = new SEBlock({ w1, w2 }, { channels: 8 }).forward(xAny, [1, 8, 4, 4]);

// An x typed by a type parameter constrained to the union resolves (to the union result): the
// conditional HostOrDevice<X> cannot be resolved for it, so a plain union overload follows.
export function generic<T extends Float32Array | DeviceTensor>(t: T): Array<Float32Array | DeviceTensor | Promise<Float32Array | DeviceTensor>> {
  return [
    seForward(t, [1, 8, 4, 4], { w1, w2 }),
    ecaForward(t, [1, 8, 4, 4], { weight: new Float32Array(3) }, { layout: 'NHWC' }),
    cbamForward(t, [1, 8, 4, 4], { w1, w2, spatialWeight: new Float32Array(98) }),
    seForwardAsync(t, [1, 8, 4, 4], { w1, w2 }),
    cbamForwardAsync(t, [1, 8, 4, 4], { w1, w2, spatialWeight: new Float32Array(98) }),
    new SEBlock({ w1, w2 }, { channels: 8 }).forward(t, [1, 8, 4, 4]),
    new ECABlock({ weight: new Float32Array(3) }).forwardAsync(t, [1, 8, 4, 4]),
    new CBAMBlock({ w1, w2, spatialWeight: new Float32Array(98) }, { channels: 8 }).forward(t, [1, 8, 4, 4]),
  ];
}

// The default import: the module itself, in a CommonJS project as in an ES module.
import squeezeExcite from '../../dist/index.js';
export const viaDefault: Float32Array = squeezeExcite.seForward(x, [1, 8, 4, 4], { w1, w2 });

// findAttentionModules' results are discriminated by block: after checking it, kind is that
// block's kind, so the found module loads without a cast.
import { type FoundAttention, type StateDict } from '../../dist/index.js';
export function loadFound(sd: StateDict, m: FoundAttention): SEBlock | ECABlock | CBAMBlock | null {
  if (m.block === 'SEBlock') return SEBlock.fromStateDict(sd, m.prefix, { kind: m.kind, ...m.options });
  if (m.block === 'ECABlock') return ECABlock.fromStateDict(sd, m.prefix, { kind: m.kind, ...m.options });
  if (m.block === 'CBAMBlock') return CBAMBlock.fromStateDict(sd, m.prefix, { kind: m.kind, ...m.options });
  const none: null = m.kind;
  return none;
}

// The CPU backend's status and settings.
import { cpu, type CpuStatus } from '../../dist/index.js';
export const cpuStatus: CpuStatus = cpu.status();
export const poolThreads: number = cpuStatus.threads + cpuStatus.defaultThreads + cpuStatus.workerSpinMicroseconds;
cpu.setThreads(1);
cpu.setWorkerSpin(2000);

// attentionWeightsFromStateDict is typed by its kind: a literal kind's result goes to its op
// without checking `op` (a newcomer's trial: the union needed a check before seForward).
import { attentionWeightsFromStateDict, type AttentionKind, type MappedAttention } from '../../dist/index.js';
declare const sdForMap: StateDict;
export const mappedSe: Float32Array = seForward(x, [1, 8, 4, 4], attentionWeightsFromStateDict(sdForMap, 'se', { kind: 'timm.SEModule' }).weights);
export const mappedEca: Float32Array = ecaForward(x, [1, 8, 4, 4], attentionWeightsFromStateDict(sdForMap, 'eca', { kind: 'timm.EcaModule' }).weights);
export const mappedCbam: Float32Array = cbamForward(x, [1, 8, 4, 4], attentionWeightsFromStateDict(sdForMap, 'cbam', { kind: 'timm.CbamModule', gate: 'sigmoid' }).weights);
export function mappedByOp(kind: AttentionKind): Float32Array {
  const m: MappedAttention = attentionWeightsFromStateDict(sdForMap, 'm', { kind });
  if (m.op === 'se') return seForward(x, [1, 8, 4, 4], m.weights, { activation: m.activation, gate: m.gate });
  if (m.op === 'eca') return ecaForward(x, [1, 8, 4, 4], m.weights);
  return cbamForward(x, [1, 8, 4, 4], m.weights);
}
