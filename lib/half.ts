// IEEE binary16 and bfloat16 conversions on the host, round-to-nearest-even. Used to fill
// half-precision DeviceTensors from Float32Arrays and to read them back.

import { allocateArray } from './alloc.js';
import { rangeError, typeError } from './arg-errors.js';
import { isArrayValue } from './is.js';
import { bufferOf, byteOffsetOf, isFloat32Array, isUint16Array, isUnusableView, lengthOf, typedArrayName, USABLE_VIEW } from './typed-arrays.js';
import { Float32ArrayCtor, Uint16ArrayCtor, Uint32ArrayCtor } from './primordials.js';

const scratchF32 = new Float32ArrayCtor(1);
const scratchU32 = new Uint32ArrayCtor(scratchF32.buffer);

/** float32 bit pattern -> binary16 bit pattern, round to nearest even. */
function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  // Inf, or NaN as PyTorch writes it (c10's fp16_ieee_from_fp32_value): its sign and 0x7e00, the payload dropped.
  if (exp === 0xff) return sign | (mant !== 0 ? 0x7e00 : 0x7c00);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    // Subnormal half (or zero): the 24-bit significand shifted so that one unit is 2^-24.
    if (e < -10) return sign; // below half the smallest subnormal -> signed zero
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) !== 0)) half += 1; // may carry into the exponent: correct
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) !== 0)) half += 1; // carry may reach 0x7c00 = Inf: correct
  return sign | half;
}

/**
 * binary16 bit pattern -> float32 bit pattern, exact. A NaN keeps its sign and its 10-bit payload
 * (shifted left by 13) and gets the quiet bit, as PyTorch (c10's fp16_ieee_to_fp32_bits).
 */
function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant !== 0 ? 0x400000 | (mant << 13) : 0)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal half: normalize (value mant · 2^-24).
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

function f16BitsToNumber(h: number): number {
  scratchU32[0] = f16BitsToF32Bits(h);
  return scratchF32[0] as number;
}

/** float32 bit pattern -> bfloat16 bit pattern, round to nearest even; NaN stays NaN. */
function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

function bf16BitsToNumber(h: number): number {
  scratchU32[0] = h << 16;
  return scratchF32[0] as number;
}

function float32Bits(v: number): number {
  scratchF32[0] = v;
  return scratchU32[0] as number;
}

function u32View(src: Float32Array): Uint32Array {
  return new Uint32ArrayCtor(bufferOf(src), byteOffsetOf(src), lengthOf(src));
}

function checkBits(fn: string, value: unknown): number {
  if (typeof value !== 'number') {
    // Node 24+'s Float16Array: float16 values, which need no decoding (a newcomer's check).
    // An Array of bit patterns (a newcomer's check, 2026-12-05: the one Array refusal without a fix).
    const fix = isArrayValue(value)
      ? 'To convert an Array of bit patterns: Uint16Array.from(value)'
      : typedArrayName(value) !== 'Float16Array'
      ? undefined
      : fn === 'float16BitsToFloat32'
        ? 'A Float16Array holds float16 values already: Float32Array.from(value) converts them (its bytes are the raw bits, if those are wanted: new Uint16Array(value.buffer, value.byteOffset, value.length))'
        : 'A Float16Array holds float16 values, not bfloat16 bits: Float32Array.from(value) converts them';
    throw typeError(fn, 'bits', 'a number or a Uint16Array', value, fix);
  }
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw rangeError(fn, 'bits', 'an integer bit pattern from 0 to 65535 (0xffff)', value);
  }
  return value;
}

function checkUsable(fn: string, arg: string, kind: string, view: Float32Array | Uint16Array): void {
  if (isUnusableView(view)) throw typeError(fn, arg, `a ${kind} ${USABLE_VIEW}`, view);
}

/**
 * Converts to IEEE binary16 bit patterns, rounding to nearest even (|v| < 65520 rounds to at most
 * ±65504, the largest finite half; from 65520 on to ±Infinity; a NaN becomes its sign | 0x7e00, its payload dropped, as PyTorch's
 * `.half()` writes it). A number gives one pattern; a Float32Array gives a
 * Uint16Array of the same length. A number is first rounded to float32 (as a Float32Array
 * element would be), then to binary16, as PyTorch converts a float32 value (and a float64 tensor:
 * `.half()`): 1 + 2**-11 + 2**-40 gives 0x3c00, not the 0x3c01 of rounding the double directly.
 * Anything else, or a detached or out-of-bounds Float32Array, is a TypeError (code
 * 'ERR_INVALID_ARG_TYPE'); a result that cannot be allocated an Error with code
 * 'ERR_SQEX_OUT_OF_MEMORY'.
 */
export function float32ToFloat16Bits(value: number): number;
export function float32ToFloat16Bits(values: Float32Array): Uint16Array;
/** For a value typed `number | Float32Array`: the result is the matching kind. */
export function float32ToFloat16Bits(value: number | Float32Array): number | Uint16Array;
export function float32ToFloat16Bits(value: number | Float32Array): number | Uint16Array {
  if (typeof value === 'number') return f32BitsToF16Bits(float32Bits(value));
  if (!isFloat32Array(value)) throw typeError('float32ToFloat16Bits', 'value', 'a number or a Float32Array', value);
  checkUsable('float32ToFloat16Bits', 'value', 'Float32Array', value);
  const src = u32View(value);
  const n = lengthOf(src);
  const out = allocateArray(Uint16ArrayCtor, n, 'the float16 bits');
  for (let i = 0; i < n; i++) out[i] = f32BitsToF16Bits(src[i] as number);
  return out;
}

/**
 * Reads IEEE binary16 bit patterns (a number, or a Uint16Array -> Float32Array); exact, NaN as
 * PyTorch: the sign and the 10-bit payload kept (shifted left by 13), the quiet bit set. A number
 * must be an integer 0..65535 (else RangeError, code 'ERR_OUT_OF_RANGE'); anything else, or a
 * detached or out-of-bounds Uint16Array, is a TypeError (code 'ERR_INVALID_ARG_TYPE'); a result
 * that cannot be allocated an Error with code 'ERR_SQEX_OUT_OF_MEMORY'.
 */
export function float16BitsToFloat32(bits: number): number;
export function float16BitsToFloat32(bits: Uint16Array): Float32Array;
/** For bits typed `number | Uint16Array`: the result is the matching kind. */
export function float16BitsToFloat32(bits: number | Uint16Array): number | Float32Array;
export function float16BitsToFloat32(bits: number | Uint16Array): number | Float32Array {
  if (!isUint16Array(bits)) return f16BitsToNumber(checkBits('float16BitsToFloat32', bits));
  checkUsable('float16BitsToFloat32', 'bits', 'Uint16Array', bits);
  const src = new Uint16ArrayCtor(bufferOf(bits), byteOffsetOf(bits), lengthOf(bits));
  const n = lengthOf(src);
  const out = allocateArray(Float32ArrayCtor, n, 'the float32 values');
  const outBits = u32View(out);
  for (let i = 0; i < n; i++) outBits[i] = f16BitsToF32Bits(src[i] as number);
  return out;
}

/**
 * Converts to bfloat16 bit patterns (the upper 16 bits of a float32), rounding to nearest
 * even. NaN stays NaN: its sign and upper payload kept, the quiet bit set (JS's NaN gives
 * 0x7fc0). PyTorch's own bfloat16 NaN bits differ by version and path (1.13 writes 0xffff for
 * every NaN, c10's scalar conversion 0x7fc0); none of them is read as anything but NaN. A number gives one pattern (rounded to float32 first, as float32ToFloat16Bits); a
 * Float32Array gives a Uint16Array of the same length. Anything else, or a detached or
 * out-of-bounds Float32Array, is a TypeError (code 'ERR_INVALID_ARG_TYPE'); a result that cannot
 * be allocated an Error with code 'ERR_SQEX_OUT_OF_MEMORY'.
 */
export function float32ToBfloat16Bits(value: number): number;
export function float32ToBfloat16Bits(values: Float32Array): Uint16Array;
/** For a value typed `number | Float32Array`: the result is the matching kind. */
export function float32ToBfloat16Bits(value: number | Float32Array): number | Uint16Array;
export function float32ToBfloat16Bits(value: number | Float32Array): number | Uint16Array {
  if (typeof value === 'number') return f32BitsToBf16Bits(float32Bits(value));
  if (!isFloat32Array(value)) throw typeError('float32ToBfloat16Bits', 'value', 'a number or a Float32Array', value);
  checkUsable('float32ToBfloat16Bits', 'value', 'Float32Array', value);
  const src = u32View(value);
  const n = lengthOf(src);
  const out = allocateArray(Uint16ArrayCtor, n, 'the bfloat16 bits');
  for (let i = 0; i < n; i++) out[i] = f32BitsToBf16Bits(src[i] as number);
  return out;
}

/**
 * Reads bfloat16 bit patterns (a number, or a Uint16Array -> Float32Array); exact: the bits
 * shifted left by 16, NaN sign and payload included, as PyTorch. (A number result of a signalling
 * NaN pattern is quieted, as any float32 NaN read into a JS number; the Float32Array keeps it.)
 * A number must be an integer 0..65535 (else RangeError, code 'ERR_OUT_OF_RANGE'); anything else,
 * or a detached or out-of-bounds Uint16Array, is a TypeError (code 'ERR_INVALID_ARG_TYPE'); a
 * result that cannot be allocated an Error with code 'ERR_SQEX_OUT_OF_MEMORY'.
 */
export function bfloat16BitsToFloat32(bits: number): number;
export function bfloat16BitsToFloat32(bits: Uint16Array): Float32Array;
/** For bits typed `number | Uint16Array`: the result is the matching kind. */
export function bfloat16BitsToFloat32(bits: number | Uint16Array): number | Float32Array;
export function bfloat16BitsToFloat32(bits: number | Uint16Array): number | Float32Array {
  if (!isUint16Array(bits)) return bf16BitsToNumber(checkBits('bfloat16BitsToFloat32', bits));
  checkUsable('bfloat16BitsToFloat32', 'bits', 'Uint16Array', bits);
  const src = new Uint16ArrayCtor(bufferOf(bits), byteOffsetOf(bits), lengthOf(bits));
  const n = lengthOf(src);
  const out = allocateArray(Float32ArrayCtor, n, 'the float32 values');
  const outBits = u32View(out);
  for (let i = 0; i < n; i++) outBits[i] = (src[i] as number) << 16;
  return out;
}
