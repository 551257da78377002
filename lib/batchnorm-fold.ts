// Eval-mode BatchNorm folded into the conv before it (timm SEModule's optional `bn` after fc1,
// CbamModule's spatial ConvNormAct): scale and shift in float64, the folded conv rounded to
// float32 once, and the folds PyTorch does not compute that way refused.

import { allocateArray } from './alloc.js';
import { Float32ArrayCtor, Float64ArrayCtor, MathAbs, MathFround, MathMax, MathSqrt } from './primordials.js';
import { StateDictError, type Dim, type ModuleReader } from './state-dict-reader.js';
import { lengthOf } from './typed-arrays.js';

/** torch.nn.BatchNorm2d's default eps (1e-5), added to running_var when a BatchNorm is folded; a state dict does not store it. */
export const BATCHNORM_EPS = 1e-5;

const REFUSED = 'so this module is refused rather than computed differently';

/** eval-mode BatchNorm as scale and shift: y = x·scale + shift, in float64; `refuse` names it for foldInto. */
export function batchNormAffine(
  r: ModuleReader,
  bn: string,
  width: Dim,
  eps: number,
  what: string,
): { scale: Float64Array; shift: Float64Array; refuse: (detail: string, why?: string) => never } {
  if (!r.has(`${bn}.running_mean`) || !r.has(`${bn}.running_var`)) {
    throw new StateDictError(
      `${r.fn}: "${r.full(bn)}" has no running_mean / running_var, so it is not an eval-mode BatchNorm2d that can be folded into ${what} (a different norm layer, or track_running_stats=False); this module cannot be loaded`,
      'unsupported',
      r.full(`${bn}.running_mean`),
    );
  }
  const mean = r.get(`${bn}.running_mean`, [[width]]);
  const variance = r.get(`${bn}.running_var`, [[width]]);
  const gamma = r.optional(`${bn}.weight`, [[width]]); // affine=False stores neither weight nor bias
  const beta = r.optional(`${bn}.bias`, [[width]]);
  r.skip(`${bn}.num_batches_tracked`);
  const n = lengthOf(mean);
  const scale = allocateArray(Float64ArrayCtor, n, 'the BatchNorm scales');
  const shift = allocateArray(Float64ArrayCtor, n, 'the BatchNorm shifts');
  for (let j = 0; j < n; j++) {
    // PyTorch adds eps in float32 (invstd = 1 / sqrt(running_var + eps), opmath float), so the
    // fold takes that float32 sum too. Where it rounds to 0 the scale is infinite (refused below)
    // though the float64 sum is not (running_var = float32(-1e-5), eps 1e-5: 2.5e-13 in float64, a
    // finite fold of 2e6 where PyTorch gives ±Inf; an attack); and near cancellation the float64
    // sum differs from PyTorch's by a large factor (running_var = -(float32(1e-5) - 1 ulp): 1.16e-12
    // against PyTorch's 9.09e-13, pre-activations 12% off; another attack, 2026-12-05).
    const sum = MathFround(variance[j]! + MathFround(eps));
    scale[j] = (gamma ? gamma[j]! : 1) / MathSqrt(sum);
    shift[j] = (beta ? beta[j]! : 0) - mean[j]! * scale[j]!;
  }
  const refuse = (detail: string, why = `PyTorch applies it after the conv and gets finite values where the folded weights would give ±Inf or NaN (Inf − Inf), ${REFUSED}`): never => {
    throw new StateDictError(
      `${r.fn}: the eval-mode BatchNorm "${r.full(bn)}" cannot be folded into ${what} exactly: ${detail}. ${why}`,
      'unsupported',
      r.full(`${bn}.weight`),
    );
  };
  return { scale, shift, refuse };
}

/** The least normal float32, 2^-126: below it a float32 keeps fewer than 24 bits. */
const FLT_MIN_NORMAL = 2 ** -126;

/**
 * conv (weight [out, ...], bias [out] or none) followed by BatchNorm -> one conv, rounded to float32
 * once. Exact for finite BatchNorms; an infinite scale or shift (γ = ±Inf, running_var + eps = 0) or
 * a folded weight or bias that overflows float32 from finite values is refused (bn.refuse): the
 * folded conv would add ±Inf terms that cancel into NaN where PyTorch's conv-then-BatchNorm stays
 * finite (a parity audit: γ = +Inf gave 128 NaN outputs of 128, PyTorch 8). So is a folded weight
 * that underflows to 0 from non-zero factors (|w · scale| < 2^-150, e.g. a subnormal γ): an
 * infinite input then gives 0 × Inf = NaN where PyTorch gets ±Inf (an attack, 2026-12-02), and an
 * output channel whose folded weights all fall below float32's normal range, where rounding moves
 * one by more than 2^-24 of the channel's largest (an attack, 2026-12-05: 43% off, and a gate of
 * 0.968 where PyTorch gives 0.5118). A subnormal weight beside normal ones is not refused: its
 * rounding (at most 2^-150) is below that of the channel's largest weight, as in any float32 conv
 * (a checkpoint's own subnormal weights, which weight decay leaves, load as before). NaN
 * statistics are not refused: PyTorch's outputs are NaN there too, as the folded ones are.
 */
export function foldInto(
  weight: Float32Array,
  bias: Float32Array | null,
  bn: { scale: Float64Array; shift: Float64Array; refuse: (detail: string, why?: string) => never },
): { weight: Float32Array; bias: Float32Array } {
  // Intrinsic lengths (primordials.ts): a replaced length getter must not size the fold.
  const out = lengthOf(bn.scale);
  const total = lengthOf(weight);
  const per = total / out;
  const w = allocateArray(Float32ArrayCtor, total, 'the folded weight');
  const b = allocateArray(Float32ArrayCtor, out, 'the folded bias');
  const infinite = (v: number): boolean => v === Infinity || v === -Infinity;
  for (let o = 0; o < out; o++) {
    const s = bn.scale[o]!;
    if (infinite(s)) bn.refuse(`its scale γ / √(running_var + eps) is ${s} in channel ${o}`);
    if (infinite(bn.shift[o]!)) bn.refuse(`its shift β − running_mean · scale is ${bn.shift[o]} in channel ${o}`);
    // The channel's largest folded weight, before rounding: the scale of its rounding errors.
    let rowMax = 0;
    for (let i = 0; i < per; i++) rowMax = MathMax(rowMax, MathAbs(weight[o * per + i]! * s));
    for (let i = 0; i < per; i++) {
      const v = weight[o * per + i]!;
      w[o * per + i] = v * s;
      const r = w[o * per + i]!; // rounded to float32
      if (infinite(r) && !infinite(v)) bn.refuse(`the folded weight ${v} × ${s} overflows float32 in channel ${o}`);
      if (r === 0 && v !== 0 && s !== 0 && s === s) {
        bn.refuse(
          `the folded weight ${v} × ${s} underflows float32 to 0 in channel ${o}`,
          `PyTorch applies it after the conv, where an infinite input gives ±Inf; the folded weight 0 would give NaN (0 × Inf), ${REFUSED}. If the channel is meant to be off, set its γ to exactly 0 (PyTorch gives NaN there too, as the fold does)`,
        );
      }
      // Subnormal: fewer than 24 bits kept. Beside a normal weight its error (<= 2^-150) is within
      // float32's rounding of the channel; in a channel of tiny weights it is not (an attack:
      // 9.8e-46 rounded to 1.4e-45, and a gate of 0.968 where PyTorch gives 0.5118).
      const exact = v * s;
      if (r !== 0 && rowMax < FLT_MIN_NORMAL && MathAbs(r - exact) > rowMax * 2 ** -24) {
        bn.refuse(
          `the folded weight ${v} × ${s} is subnormal in float32 (${r}) in channel ${o}, where every folded weight is below float32's normal range (the largest ${rowMax}): rounding moves it by ${MathAbs(r - exact) / rowMax} of the largest`,
          `PyTorch applies the BatchNorm after the conv, where no weight rounds that far, ${REFUSED}. If the channel is meant to be off, set its γ to exactly 0`,
        );
      }
    }
    const v = bias ? bias[o]! : 0;
    b[o] = v * s + bn.shift[o]!;
    if (infinite(b[o]!) && !infinite(v)) bn.refuse(`the folded bias ${v} × ${s} + ${bn.shift[o]} overflows float32 in channel ${o}`);
  }
  return { weight: w, bias: b };
}
