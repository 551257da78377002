// IEEE binary16 and bfloat16 conversions on the host, round-to-nearest-even. Used to fill
// half-precision DeviceTensors from Float32Arrays and to read them back.

import { allocateArray, bufferOf, byteOffsetOf, isFloat32Array, isUint16Array, lengthOf, typeError } from './is.js';

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** float32 bit pattern -> binary16 bit pattern, round to nearest even. */
function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0); // Inf / quiet NaN
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

function f16BitsToNumber(h: number): number {
  const sign = (h & 0x8000) !== 0 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** float32 bit pattern -> bfloat16 bit pattern, round to nearest even; NaN stays NaN. */
function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

function bf16BitsToNumber(h: number): number {
  scratchU32[0] = (h & 0xffff) << 16;
  return scratchF32[0] as number;
}

function float32Bits(v: number): number {
  scratchF32[0] = v;
  return scratchU32[0] as number;
}

function u32View(src: Float32Array): Uint32Array {
  return new Uint32Array(bufferOf(src), byteOffsetOf(src), lengthOf(src));
}

function checkBits(fn: string, value: unknown): number {
  if (typeof value !== 'number') throw typeError(fn, 'bits', 'a number or a Uint16Array', value);
  return value & 0xffff;
}

/**
 * Converts to IEEE binary16 bit patterns, rounding to nearest even (values beyond ±65504
 * round to ±Infinity; NaN stays NaN). A number gives one pattern; a Float32Array gives a
 * Uint16Array of the same length.
 */
export function float32ToFloat16Bits(value: number): number;
export function float32ToFloat16Bits(values: Float32Array): Uint16Array;
export function float32ToFloat16Bits(value: number | Float32Array): number | Uint16Array {
  if (typeof value === 'number') return f32BitsToF16Bits(float32Bits(value));
  if (!isFloat32Array(value)) throw typeError('float32ToFloat16Bits', 'value', 'a number or a Float32Array', value);
  const src = u32View(value);
  const n = lengthOf(src);
  const out = allocateArray(Uint16Array, n, 'the float16 bits');
  for (let i = 0; i < n; i++) out[i] = f32BitsToF16Bits(src[i] as number);
  return out;
}

/** Reads IEEE binary16 bit patterns (a number, or a Uint16Array -> Float32Array); exact. */
export function float16BitsToFloat32(bits: number): number;
export function float16BitsToFloat32(bits: Uint16Array): Float32Array;
export function float16BitsToFloat32(bits: number | Uint16Array): number | Float32Array {
  if (!isUint16Array(bits)) return f16BitsToNumber(checkBits('float16BitsToFloat32', bits));
  const n = lengthOf(bits);
  const out = allocateArray(Float32Array, n, 'the float32 values');
  for (let i = 0; i < n; i++) out[i] = f16BitsToNumber(bits[i] as number);
  return out;
}

/**
 * Converts to bfloat16 bit patterns (the upper 16 bits of a float32), rounding to nearest
 * even. A number gives one pattern; a Float32Array gives a Uint16Array of the same length.
 */
export function float32ToBfloat16Bits(value: number): number;
export function float32ToBfloat16Bits(values: Float32Array): Uint16Array;
export function float32ToBfloat16Bits(value: number | Float32Array): number | Uint16Array {
  if (typeof value === 'number') return f32BitsToBf16Bits(float32Bits(value));
  if (!isFloat32Array(value)) throw typeError('float32ToBfloat16Bits', 'value', 'a number or a Float32Array', value);
  const src = u32View(value);
  const n = lengthOf(src);
  const out = allocateArray(Uint16Array, n, 'the bfloat16 bits');
  for (let i = 0; i < n; i++) out[i] = f32BitsToBf16Bits(src[i] as number);
  return out;
}

/** Reads bfloat16 bit patterns (a number, or a Uint16Array -> Float32Array); exact. */
export function bfloat16BitsToFloat32(bits: number): number;
export function bfloat16BitsToFloat32(bits: Uint16Array): Float32Array;
export function bfloat16BitsToFloat32(bits: number | Uint16Array): number | Float32Array {
  if (!isUint16Array(bits)) return bf16BitsToNumber(checkBits('bfloat16BitsToFloat32', bits));
  const n = lengthOf(bits);
  const out = allocateArray(Float32Array, n, 'the float32 values');
  const outBits = u32View(out);
  for (let i = 0; i < n; i++) outBits[i] = (bits[i] as number) << 16;
  return out;
}
