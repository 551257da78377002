// The safetensors header: its format and the validation of the reference implementation
// (huggingface/safetensors, safetensors/src/tensor.rs: read_metadata and Metadata::validate). The
// reading of files and tensors that uses it is lib/safetensors.ts.
//
// Format (https://huggingface.co/docs/safetensors, "Format"):
//   8 bytes    N, the header length: unsigned 64-bit little-endian
//   N bytes    UTF-8 JSON object { name: { dtype, shape: [dims], data_offsets: [begin, end] }, ...,
//              "__metadata__"?: { string: string } }, often padded with spaces to a multiple of 8
//   the rest   the data section; offsets are relative to its first byte, row-major ("C") order,
//              little-endian elements. The tensors must cover it exactly: sorted by offset, each
//              begins where the previous ended, the first at 0, the last ends at the file's end.

import { allocateArray } from './alloc.js';
import { heapBudgetBytes } from './heap-budget.js';
import { describe } from './describe.js';
import { isPlainObject } from './is.js';
import { bufferOf, byteOffsetOf, isSharedView, lengthOf, MAX_U64 } from './typed-arrays.js';
import {
  ArrayIsArray,
  BigIntCtor,
  Float64ArrayCtor,
  JSONParse,
  JSONStringify,
  MathMin,
  MathRound,
  NumberIsInteger,
  NumberIsSafeInteger,
  NumberIsFinite,
  NumberPrototypeToString,
  ObjectCreate,
  ObjectHasOwn,
  ObjectKeys,
  ReflectApply,
  RegExpPrototypeExec,
  SetPrototypeAdd,
  SetPrototypeHas,
  StringPrototypeCharCodeAt,
  StringPrototypeSlice,
  StringPrototypeTrim,
  TypedArrayPrototypeSet,
  Uint8ArrayCtor,
  defineOwn,
  StringCtor,
  joinList,
  listAppend,
  ownValue,
} from './primordials.js';


/** Element types of the format, as spelled in the header. */
export type SafetensorsDType =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'F8_E4M3FNUZ'
  | 'F8_E5M2FNUZ'
  | 'F8_E8M0'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'F64'
  | 'C64'
  | 'I64'
  | 'U64'
  | 'F4'
  | 'F6_E2M3'
  | 'F6_E3M2';

/** Bits per element (the reference's Dtype::bitsize). */
const DTYPE_BITS: Readonly<Record<SafetensorsDType, number>> = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  F8_E8M0: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  F64: 64,
  C64: 64,
  I64: 64,
  U64: 64,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
};

/** The reference implementation's MAX_HEADER_SIZE, in bytes (100 MB): a longer header is refused (check 'header-too-large') before it is read. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/** @internal Whether `name` is one of the format's dtypes (as spelled in a header). */
export function isSafetensorsDType(name: unknown): name is SafetensorsDType {
  return typeof name === 'string' && ObjectHasOwn(DTYPE_BITS, name);
}

/**
 * Which check a file failed (SafetensorsError.check):
 * - 'file-too-small': fewer than the 8 bytes of N;
 * - 'header-too-large': N > SAFETENSORS_MAX_HEADER_BYTES, or more values than the JS heap can
 *   parse safely;
 * - 'header-length': 8 + N > the file's length (a truncated file, or a wrong N);
 * - 'header-utf8': the header is not valid UTF-8;
 * - 'header-json': not JSON, or JSON the reference's serde_json refuses (a leading BOM, a lone
 *   surrogate escape in a name);
 * - 'header-structure': JSON, but not { name: { dtype, shape, data_offsets } } and a string map
 *   "__metadata__" (numbers not written as plain integers, nesting past 127 levels included);
 * - 'duplicate-name': a name (or a key of one entry) appears twice;
 * - 'dtype': a dtype the format does not define;
 * - 'overflow': the shape's element count or byte count is not representable (u64);
 * - 'shape-size': end - begin differs from the bytes the shape and dtype need;
 * - 'offsets': begin > end, overlaps, gaps, or not starting at 0;
 * - 'data-length': offsets run past the data section, or leave bytes of it unclaimed.
 */
export type SafetensorsCheck =
  | 'file-too-small'
  | 'header-too-large'
  | 'header-length'
  | 'header-utf8'
  | 'header-json'
  | 'header-structure'
  | 'duplicate-name'
  | 'dtype'
  | 'overflow'
  | 'shape-size'
  | 'offsets'
  | 'data-length';

/**
 * A file that is not valid safetensors. `code` is 'ERR_SQEX_SAFETENSORS'; `check` says which rule
 * it broke; `tensor` names the tensor when one is at fault; `source` is the path or
 * '<Uint8Array>'.
 */
export class SafetensorsError extends Error {
  /** Always 'ERR_SQEX_SAFETENSORS'. */
  readonly code = 'ERR_SQEX_SAFETENSORS';
  /** The rule broken: see {@link SafetensorsCheck}. */
  readonly check: SafetensorsCheck;
  /** The tensor at fault, when one is. */
  readonly tensor: string | undefined;
  /** The path read, or '<Uint8Array>'. */
  readonly source: string;
  /**
   * Made by the readers of this package (a caller has no need to make one).
   * @param source - the path read, or '<Uint8Array>'.
   * @param check - the rule broken ({@link SafetensorsCheck}), as given (not checked).
   * @param message - what is wrong, after "<source>: not a valid safetensors file (<check>): ".
   * @param tensor - the tensor at fault, when one is.
   */
  constructor(source: string, check: SafetensorsCheck, message: string, tensor?: string) {
    super(`${source}: not a valid safetensors file (${check}): ${message}`);
    defineOwn(this, 'name', 'SafetensorsError'); // an accessor on Error.prototype.name must not swallow it
    this.check = check;
    this.tensor = tensor;
    this.source = source;
  }
}

/** One tensor's header entry, validated: its name, dtype, shape and byte range in the file's data section. */
export interface SafetensorsTensorInfo {
  /** The tensor's name, e.g. 'layer1.0.se.fc1.weight'. */
  name: string;
  /** Its element type. */
  dtype: SafetensorsDType;
  /** Row-major dims; [] is a scalar. */
  shape: number[];
  /** [begin, end) in bytes, relative to the data section (as in the header). */
  dataOffsets: [number, number];
  /** Byte offset of the tensor in the file: 8 + N + begin. */
  fileOffset: number;
  /** Its bytes in the file: end - begin (elements × the dtype's bytes). */
  byteLength: number;
}

/**
 * A validated safetensors header (readSafetensorsHeader): the tensors in data order, the
 * `__metadata__` strings, and the byte lengths of the header and data sections. Every range is
 * checked against the file's length and against the others (no overlap, no gap).
 */
export interface SafetensorsHeader {
  /** N, the JSON header's length in bytes. */
  headerLength: number;
  /** 8 + N: where the data section starts in the file. */
  dataStart: number;
  /** Length of the whole file in bytes (= dataStart + the data section). */
  fileLength: number;
  /** The "__metadata__" string map, or null when absent. */
  metadata: Record<string, string> | null;
  /** Every tensor, in data-offset order. */
  tensors: SafetensorsTensorInfo[];
}

// ignoreBOM: a leading U+FEFF stays in the text, so JSON.parse refuses it as the reference
// implementation (serde_json over the UTF-8 bytes) does; the default would strip it silently.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Decode = TextDecoder.prototype.decode;

/**
 * What a file that fails the header-length checks is likely to be instead, from its first bytes:
 * a PyTorch checkpoint (torch.save writes a ZIP archive since PyTorch 1.6, a pickle before) is the
 * usual mistake. '' when the bytes say nothing.
 */
function otherFormatHint(first8: Uint8Array): string {
  const b = first8;
  const fix = ' Convert it: safetensors.torch.save_file(state_dict, "model.safetensors"), or without the safetensors package the plain-PyTorch save_safetensors of the README ("Loading PyTorch checkpoints").';
  if (b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04) {
    return ` The file is a ZIP archive, as PyTorch's torch.save writes (.pt, .pth, .bin), not safetensors.${fix}`;
  }
  if (b[0] === 0x80 && b[1]! >= 2 && b[1]! <= 5) {
    return ` The file is a Python pickle, as older PyTorch's torch.save writes (.pt, .pth, .bin), not safetensors.${fix}`;
  }
  return '';
}

/** N from the first 8 bytes; checks it against the limit and the file's length. @internal */
export function headerLengthOf(src: string, first8: Uint8Array, fileLength: number): number {
  if (fileLength < 8) {
    throw new SafetensorsError(src, 'file-too-small', `the file has ${fileLength} bytes; it must start with an 8-byte header length`);
  }
  // Little-endian u64 by index (a caller's bytes: DataView's methods and the view's buffer getter
  // are replaceable).
  let n = 0n;
  for (let i = 7; i >= 0; i--) n = (n << 8n) | BigIntCtor(first8[i]!);
  if (n > BigIntCtor(SAFETENSORS_MAX_HEADER_BYTES)) {
    // A length past the file's own size is not a big header but another kind of file (its first
    // bytes read as a number: text, JSON, an image).
    const other = otherFormatHint(first8) || (n > BigIntCtor(fileLength) ? ` It is longer than the file (${fileLength} bytes): this is probably not a safetensors file, whose first 8 bytes are its JSON header's length.` : '');
    throw new SafetensorsError(src, 'header-too-large', `the header length is ${n} bytes; at most ${SAFETENSORS_MAX_HEADER_BYTES} are accepted (the reference implementation's limit).${other}`);
  }
  const len = Number(n);
  if (8 + len > fileLength) {
    const hint = otherFormatHint(first8);
    throw new SafetensorsError(src, 'header-length', `the header length is ${len} bytes, but the file has only ${fileLength - 8} after the length field (${hint ? StringPrototypeTrim(hint) : 'truncated file?'})`);
  }
  return len;
}

// The characters a JSON number is made of: digits, '.', 'e', 'E', '+', '-'.
function isNumberChar(ch: number): boolean {
  return (ch >= 0x30 && ch <= 0x39) || ch === 0x2e || ch === 0x65 || ch === 0x45 || ch === 0x2b || ch === 0x2d;
}

/** The index of the first UTF-16 surrogate in `s` that is not half of a pair; -1 where none is. */
function loneSurrogateAt(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const ch = StringPrototypeCharCodeAt(s, i);
    if (ch < 0xd800 || ch > 0xdfff) continue;
    const next = i + 1 < s.length ? StringPrototypeCharCodeAt(s, i + 1) : 0;
    if (ch <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++;
    else return i;
  }
  return -1;
}

/**
 * Refuses a lone surrogate escape (e.g. "\ud800" with no low half after it) in the strings the
 * reference implementation reads as Rust Strings: a tensor name, the keys of its entry, the
 * "__metadata__" keys and values. JSON.parse accepts them; serde_json refuses them there
 * ("lone leading surrogate in hex escape"), and a Rust String cannot hold one. (It refuses them in
 * values nothing reads too: headerTextIssues finds those, and this gives the message for these.)
 */
function refuseLoneSurrogates(src: string, name: string, entry: unknown): void {
  const strings: string[] = [name];
  if (isPlainObject(entry)) {
    const keys = ObjectKeys(entry);
    for (let k = 0; k < keys.length; k++) {
      listAppend(strings, keys[k]!);
      if (name === '__metadata__') {
        const v = (entry as Record<string, unknown>)[keys[k]!];
        if (typeof v === 'string') listAppend(strings, v);
      }
    }
  }
  for (let i = 0; i < strings.length; i++) {
    const at = loneSurrogateAt(strings[i]!);
    if (at < 0) continue;
    const unit = StringPrototypeCharCodeAt(strings[i]!, at);
    const where = i === 0
      ? `the tensor name ${JSONStringify(name)}`
      : name === '__metadata__'
        ? `the "__metadata__" key or value ${JSONStringify(strings[i])}`
        : `the key ${JSONStringify(strings[i])} of tensor ${JSONStringify(name)}`;
    throw new SafetensorsError(
      src,
      'header-json',
      `${where} holds a lone surrogate (\\u${NumberPrototypeToString(unit, 16)} without its other half), which the reference implementation's JSON reader (serde_json) refuses (a Rust String holds only valid Unicode)`,
      name === '__metadata__' ? undefined : name,
    );
  }
}

// A plain unsigned integer as the reference's usize fields take it.
const PLAIN_UNSIGNED = /^(0|[1-9][0-9]*)$/;

/**
 * One pass over header text that is known to be valid JSON, for what JSON.parse hides:
 * - `duplicate`: a key that appears twice in one object (JSON.parse silently keeps the last), as
 *   [key, depth] (depth 1 = a tensor name);
 * - `notInteger`: a number in a tensor's "shape" or "data_offsets" written other than as a plain
 *   unsigned integer (0.0, 4e0, -0, 1E2), as [tensor name, key, token]: JSON.parse reads them as
 *   integers, but the reference implementation's serde_json refuses them for its usize fields (a
 *   fraction, an exponent and -0 read as floats). Other keys may hold any JSON (the reference
 *   ignores them);
 * - `rounded`: the first "shape" or "data_offsets" that holds an integer past 2^53, which
 *   JSON.parse reads rounded, as [tensor name, key, the field's text].
 * Stops at the first duplicate; null where there is none.
 */
interface HeaderTextIssues {
  duplicate: [string, number] | null;
  notInteger: [string, string, string] | null;
  rounded: [string, string, string] | null;
  /** The first number past float64's range ([tensor or '', its text]): JSON.parse reads it as ±Infinity. */
  outOfRange: [string, string] | null;
  /** The first string, anywhere, holding a lone surrogate ([tensor or '', the string]). */
  loneSurrogate: [string, string] | null;
}

function headerTextIssues(text: string): HeaderTextIssues {
  // Per open container: the keys seen (null for an array) and its own key in the parent object.
  const seen: (Set<string> | null)[] = [];
  const keyInParent: string[] = [];
  let lastKey = '';
  let tensor = '';
  let expectKey = false;
  let notInteger: [string, string, string] | null = null;
  let rounded: [string, string, string] | null = null;
  // Where the open shape / data_offsets array began, and whether it holds an integer past 2^53.
  let fieldStart = -1;
  let fieldRounded = false;
  let outOfRange: [string, string] | null = null;
  let loneSurrogate: [string, string] | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = StringPrototypeCharCodeAt(text, i);
    if (ch === 0x22 /* " */) {
      let j = i + 1;
      let escapes = false;
      while (StringPrototypeCharCodeAt(text, j) !== 0x22) {
        if (StringPrototypeCharCodeAt(text, j) === 0x5c /* \ */) {
          escapes = true;
          j += 2;
        } else {
          j += 1;
        }
      }
      const top = seen[seen.length - 1];
      const isKey = expectKey && top;
      // Only an escape can make a lone surrogate (the text was decoded from valid UTF-8).
      const value: string = isKey || (escapes && loneSurrogate === null) ? (JSONParse(StringPrototypeSlice(text, i, j + 1)) as string) : '';
      if (isKey) {
        if (SetPrototypeHas(top, value)) return { duplicate: [value, seen.length], notInteger, rounded, outOfRange, loneSurrogate };
        SetPrototypeAdd(top, value);
        lastKey = value;
        if (seen.length === 1) tensor = value;
      }
      if (escapes && loneSurrogate === null && loneSurrogateAt(value) >= 0) loneSurrogate = [isKey && seen.length === 1 ? '' : tensor, value];
      expectKey = false;
      i = j;
    } else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      listAppend(keyInParent, seen[seen.length - 1] ? lastKey : '');
      listAppend(seen, ch === 0x7b ? new Set<string>() : null);
      expectKey = ch === 0x7b;
      const key = keyInParent[keyInParent.length - 1];
      if (ch === 0x5b && seen.length === 3 && (key === 'shape' || key === 'data_offsets') && tensor !== '__metadata__') {
        fieldStart = i;
        fieldRounded = false;
      }
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      if (ch === 0x5d && seen.length === 3 && fieldStart >= 0) {
        if (fieldRounded && rounded === null) rounded = [tensor, keyInParent[keyInParent.length - 1]!, StringPrototypeSlice(text, fieldStart, i + 1)];
        fieldStart = -1;
      }
      // As pop, without a caller's Array.prototype.pop.
      seen.length -= 1;
      keyInParent.length -= 1;
    } else if (ch === 0x2c /* , */) {
      expectKey = seen[seen.length - 1] !== null;
    } else if (ch === 0x2d /* - */ || (ch >= 0x30 && ch <= 0x39)) {
      let j = i + 1;
      while (j < text.length && isNumberChar(StringPrototypeCharCodeAt(text, j))) j++;
      const token = StringPrototypeSlice(text, i, j);
      const key = keyInParent[keyInParent.length - 1];
      if (notInteger === null && seen.length === 3 && (key === 'shape' || key === 'data_offsets') && tensor !== '__metadata__' && RegExpPrototypeExec(PLAIN_UNSIGNED, token) === null) {
        notInteger = [tensor, key, token];
      }
      if (fieldStart >= 0 && seen.length === 3 && !NumberIsSafeInteger(+token)) fieldRounded = true;
      if (outOfRange === null && !NumberIsFinite(+token)) outOfRange = [seen.length > 1 ? tensor : '', token];
      i = j - 1;
    }
  }
  return { duplicate: null, notInteger, rounded, outOfRange, loneSurrogate };
}

/**
 * How deep a header may nest. A valid one nests 3 deep ({ name: { shape: [...] } }); the reference
 * implementation parses with serde_json, whose recursion limit refuses 128 levels (safetensors
 * 0.8.0 reads 127). JSON.parse has no limit: a 100 MB header of `[` took 22 s and 5 GB before
 * failing, and 5M levels exhaust a 200 MB heap.
 */
const MAX_HEADER_DEPTH = 127;

/**
 * The most members one object of the header may hold. V8's JSON.parse slows without bound once one
 * object passes 2^23 (8,388,608) members (a helper's attack, 2026-12-01: 8.39M keys parsed in 9 s,
 * 8.6M took over 60 s, 9M had not finished after 7 minutes of CPU), and a header within the 100 MB
 * limit holds fewer than 2.1M tensors (each entry is 48 bytes or more), so 2^22 refuses no real one.
 */
const MAX_OBJECT_MEMBERS = 2 ** 22;

/** Members past which an object is a hash table in V8 (its members then cost ~160 bytes each). */
const SMALL_OBJECT_MEMBERS = 32;

/** What the one pass over the header bytes found (brackets, colons and commas inside strings aside). */
interface HeaderScan {
  /** Nesting went past the limit. */
  tooDeep: boolean;
  /** Arrays and objects opened. */
  opens: number;
  /** Commas: elements and members beyond the first of each. */
  commas: number;
  /** Members of the objects that hold more than SMALL_OBJECT_MEMBERS. */
  largeObjectMembers: number;
  /** Members of the other objects. */
  smallObjectMembers: number;
  /** The most members of any one object. */
  maxMembers: number;
  /** Strings (keys and values). */
  strings: number;
  /** Bytes inside strings, quotes excluded. */
  stringBytes: number;
  /** Bytes inside the strings that hold a \u escape. */
  escapedStringBytes: number;
  /** Numbers not certainly a Smi: -0, fractions, exponents, more than 9 digits. */
  heapNumbers: number;
  /** Whether any byte is not ASCII (V8 then holds the text, and strings with such characters, in two bytes a character). */
  nonAscii: boolean;
}

/**
 * Whether the number token bytes[from, to) is certainly a Smi, which V8 stores in its slot: an
 * integer of at most 9 digits (below 2^30, a Smi with or without pointer compression), not -0.
 */
function isSmallInteger(bytes: Uint8Array, from: number, to: number): boolean {
  const first = bytes[from] === 0x2d /* - */ ? from + 1 : from;
  if (to - first < 1 || to - first > 9 || (bytes[first] === 0x30 /* 0 */ && (to - first > 1 || first > from))) return false;
  for (let i = first; i < to; i++) if (bytes[i]! < 0x30 || bytes[i]! > 0x39) return false;
  return true;
}

/** One pass over the JSON bytes, no allocation past two stacks of `limit` levels: depth (stops at `limit`) and counts. */
function scanHeader(bytes: Uint8Array, limit: number): HeaderScan {
  let depth = 0;
  let opens = 0;
  let commas = 0;
  let largeObjectMembers = 0;
  let smallObjectMembers = 0;
  let maxMembers = 0;
  let strings = 0;
  let stringBytes = 0;
  let escapedStringBytes = 0;
  let heapNumbers = 0;
  let nonAscii = false;
  let inString = false;
  // stringBytes where the open string began, and whether it holds a \u escape
  let stringStart = 0;
  let escaped = false;
  // Per open container (index = depth): whether it is an object, and its members so far.
  const isObject = new Uint8ArrayCtor(limit + 2);
  const members = new Float64ArrayCtor(limit + 2);
  const count = lengthOf(bytes);
  for (let i = 0; i < count; i++) {
    const b = bytes[i]!;
    if (b >= 0x80) nonAscii = true;
    if (inString) {
      if (b === 0x5c /* \ */) {
        if (bytes[i + 1] === 0x75 /* u */) escaped = true;
        i++; // the escaped byte cannot end the string
        stringBytes += 2;
      } else if (b === 0x22 /* " */) {
        inString = false;
        if (escaped) escapedStringBytes += stringBytes - stringStart;
      } else stringBytes++;
    } else if (b === 0x22) {
      inString = true;
      strings++;
      stringStart = stringBytes;
      escaped = false;
    } else if (b === 0x2d /* - */ || (b >= 0x30 && b <= 0x39)) {
      // A number (digits occur outside strings in numbers only): read whole.
      let j = i + 1;
      while (j < count && isNumberChar(bytes[j]!)) j++;
      if (!isSmallInteger(bytes, i, j)) heapNumbers++;
      i = j - 1;
    } else if (b === 0x7b /* { */ || b === 0x5b /* [ */) {
      opens++;
      if (++depth > limit) return { tooDeep: true, opens, commas, largeObjectMembers, smallObjectMembers, maxMembers, strings, stringBytes, escapedStringBytes, heapNumbers, nonAscii };
      isObject[depth] = b === 0x7b ? 1 : 0;
      members[depth] = 0;
    } else if (b === 0x7d /* } */ || b === 0x5d /* ] */) {
      if (depth > 0 && isObject[depth] === 1) {
        const m = members[depth]!;
        if (m > SMALL_OBJECT_MEMBERS) largeObjectMembers += m;
        else smallObjectMembers += m;
        if (m > maxMembers) maxMembers = m;
      }
      depth--;
    } else if (b === 0x3a /* : */) {
      if (depth > 0) members[depth]!++;
    } else if (b === 0x2c /* , */) {
      commas++;
    }
  }
  // Unclosed objects (the JSON is then refused by JSON.parse) still count: they were read.
  for (let d = depth; d > 0; d--) {
    if (isObject[d] === 1 && members[d]! > maxMembers) maxMembers = members[d]!;
  }
  if (inString && escaped) escapedStringBytes += stringBytes - stringStart;
  return { tooDeep: false, opens, commas, largeObjectMembers, smallObjectMembers, maxMembers, strings, stringBytes, escapedStringBytes, heapNumbers, nonAscii };
}

/**
 * The JS heap JSON.parse needs for a header, with margin: 64 bytes an array or object (measured:
 * 3.5M empty arrays took 146 MB of heap with their 10 MB source string, ~40 bytes each), 8 a
 * further element, and 160 a member of an object with more than SMALL_OBJECT_MEMBERS (measured
 * 2026-12-01: 500K and 2M keys of one object took 167 bytes each, with the duplicate check's set
 * and the entries list; a helper's 48 MB header of 5M such keys under an ignored key ended a
 * 512 MB heap, V8's fatal out-of-memory, past the old estimate of 8 bytes a comma). A header of
 * valid shape may hold any amount of such values under a key the format ignores (the reference
 * skips them): 7M empty arrays (21 MB, far under the size limit) ended a 200 MB heap. So a header
 * whose estimate exceeds a quarter of this process's heap limit, half of its old space's limit,
 * or half of what the heap (or its old generation) has free, is refused
 * before parsing: with Node's default heap, ~16M arrays and objects (millions of tensors).
 * Strings count too: the decoded text, alive while JSON.parse runs (its length, twice that where
 * V8 needs two bytes a character), and each string JSON.parse makes, 24 bytes plus its characters
 * (an attack, 2026-12-02: 1M distinct 88-character strings under an ignored key, a 91 MB header
 * estimated at 8 MB, ended a 160 MB heap; JSON.parse took ~190 MB, this counts 203).
 * Numbers that may not be Smis count 24 more (a review, 2026-12-04: [{}, -0, -0, ...], 2.4M of
 * them in a 7.2 MB header under an ignored key, estimated at 26 MB, ended a 64 MB old space: V8
 * boxes each as a 16-byte HeapNumber besides its slot, measured 28 bytes a number in all). So do a
 * string holding a \u escape, its bytes again (the escape can make it two bytes a character in an
 * ASCII header: 8 MB for a 4 MB string), and a member of a smaller object, 128 (each new key
 * makes a Map with its descriptors and transition: distinct keys, one an object, took 185 bytes a
 * member, ~100 counted before).
 */
function parseCostBytes(scan: HeaderScan, textBytes: number): number {
  const perChar = scan.nonAscii ? 2 : 1;
  const strings = textBytes * perChar + scan.strings * 24 + scan.stringBytes * perChar + (perChar === 1 ? scan.escapedStringBytes : 0);
  return scan.opens * 64 + scan.commas * 8 + scan.heapNumbers * 24 + scan.smallObjectMembers * 128 + scan.largeObjectMembers * 160 + strings;
}

/** The JS heap parseHeader estimates JSON.parse needs for these header bytes (for tests). @internal */
export function headerParseCostBytes(bytes: Uint8Array): number {
  return parseCostBytes(scanHeader(bytes, MAX_HEADER_DEPTH), lengthOf(bytes));
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && NumberIsSafeInteger(v) && v >= 0;
}

/** Parses and validates the header bytes (headerLength of them) against a file of fileLength bytes. @internal */
export function parseHeader(src: string, bytes: Uint8Array, headerLength: number, fileLength: number): SafetensorsHeader {
  // The decoded text alone takes a byte a character at least: a header larger than the budget is
  // refused before it is decoded (a 25 MB one ended an 8 MB old space in the decoder; a review).
  const early = heapBudgetBytes();
  if (lengthOf(bytes) > early) {
    throw new SafetensorsError(
      src,
      'header-too-large',
      `the header's ${lengthOf(bytes)} bytes alone, decoded, would take more than the ${MathRound(early / 2 ** 20)} MB of JS heap allowed (the least of a quarter of this process's heap limit, half of its old space's limit and half of what the heap, and its old generation, have free; node --max-old-space-size, or a Worker's resourceLimits.maxOldGenerationSizeMb, raises it)`,
    );
  }
  let text: string;
  try {
    text = ReflectApply(utf8Decode, utf8, [bytes]) as string;
  } catch {
    throw new SafetensorsError(src, 'header-utf8', 'the header is not valid UTF-8');
  }
  const scan = scanHeader(bytes, MAX_HEADER_DEPTH);
  if (scan.tooDeep) {
    throw new SafetensorsError(src, 'header-structure', `the header nests deeper than ${MAX_HEADER_DEPTH} levels (a valid one nests 3)`);
  }
  if (scan.maxMembers > MAX_OBJECT_MEMBERS) {
    throw new SafetensorsError(
      src,
      'header-too-large',
      `an object of the header holds ${scan.maxMembers} members, more than ${MAX_OBJECT_MEMBERS} (2^22): JSON.parse slows without bound past 2^23 members in one object, and a header of at most 100 MB holds fewer than 2.1M tensors`,
    );
  }
  const cost = parseCostBytes(scan, lengthOf(bytes));
  const budget = heapBudgetBytes();
  if (cost > budget) {
    throw new SafetensorsError(
      src,
      'header-too-large',
      `the header holds ${scan.opens} arrays and objects, ${scan.commas} commas, ${scan.heapNumbers} numbers that are not small integers, ${scan.strings} strings (${scan.stringBytes} bytes, ${scan.escapedStringBytes} of them in strings with a \\u escape), ${scan.smallObjectMembers} members of smaller objects and ${scan.largeObjectMembers} members of objects with more than ${SMALL_OBJECT_MEMBERS}: parsing it would take ~${MathRound(cost / 2 ** 20)} MB of JS heap, more than the ${MathRound(budget / 2 ** 20)} MB allowed (the least of a quarter of this process's heap limit, half of its old space's limit and half of what the heap, and its old generation, have free; node --max-old-space-size, or a Worker's resourceLimits.maxOldGenerationSizeMb, raises it)`,
    );
  }
  let json: unknown;
  try {
    json = JSONParse(text);
  } catch (err) {
    throw new SafetensorsError(src, 'header-json', `the header is not JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(json)) {
    throw new SafetensorsError(src, 'header-structure', `the header must be a JSON object; it is ${ArrayIsArray(json) ? 'an array' : json === null ? 'null' : `a ${typeof json}`}`);
  }
  const { duplicate: dup, notInteger: notInt, rounded, outOfRange, loneSurrogate } = headerTextIssues(text);
  // serde_json reads every value of the header, those nothing uses included (safetensors 0.8.0
  // refuses these two anywhere: "number out of range", "lone leading surrogate in hex escape").
  if (outOfRange) {
    throw new SafetensorsError(
      src,
      'header-json',
      `the number ${textExcerpt(outOfRange[1])} ${placeIn(outOfRange[0])} is out of float64's range, which the reference implementation's JSON reader (serde_json) refuses ("number out of range"; JSON.parse would read it as Infinity)`,
      tensorNamed(outOfRange[0]),
    );
  }
  if (loneSurrogate) {
    // The names, entry keys and metadata first, with the messages that say which they are.
    const all = ObjectKeys(json);
    for (let t = 0; t < all.length; t++) refuseLoneSurrogates(src, all[t]!, (json as Record<string, unknown>)[all[t]!]);
    const str = loneSurrogate[1];
    const unit = StringPrototypeCharCodeAt(str, loneSurrogateAt(str));
    throw new SafetensorsError(
      src,
      'header-json',
      `the string ${textExcerpt(JSONStringify(str))} ${placeIn(loneSurrogate[0])} holds a lone surrogate (\\u${NumberPrototypeToString(unit, 16)} without its other half), which the reference implementation's JSON reader (serde_json) refuses in any string of the header, values nothing reads included`,
      tensorNamed(loneSurrogate[0]),
    );
  }
  if (dup) {
    const key = dup[0];
    const depth = dup[1];
    throw new SafetensorsError(
      src,
      'duplicate-name',
      depth === 1 ? `the tensor name ${JSONStringify(key)} appears twice in the header` : `the key ${JSONStringify(key)} appears twice in one header entry`,
      depth === 1 ? key : undefined,
    );
  }
  if (notInt) {
    const name = notInt[0];
    const key = notInt[1];
    const token = notInt[2];
    throw new SafetensorsError(src, 'header-structure', `tensor ${JSONStringify(name)}: "${key}" holds ${textExcerpt(token)}, which is not written as a plain non-negative integer (the reference implementation refuses fractions, exponents and -0)`, name);
  }
  const dataStart = 8 + headerLength;
  const dataLength = fileLength - dataStart;
  let metadata: Record<string, string> | null = null;
  const tensors: SafetensorsTensorInfo[] = [];
  // Index loops and built-ins captured at load (JSON.parse's objects are plain, but a replaced
  // Object.entries, Array.prototype.every or array iterator would otherwise decide what passes:
  // an attack got overlapping data_offsets accepted that way).
  const names = ObjectKeys(json);
  for (let t = 0; t < names.length; t++) {
    const name = names[t]!;
    const entry = (json as Record<string, unknown>)[name];
    refuseLoneSurrogates(src, name, entry);
    if (name === '__metadata__') {
      // null is no metadata: the reference's field is an Option, which serde reads null into as None.
      if (entry === null) continue;
      const meta = ObjectCreate(null) as Record<string, string>;
      const keys = isPlainObject(entry) ? ObjectKeys(entry) : null;
      for (let k = 0; keys !== null && k < keys.length; k++) {
        const v = (entry as Record<string, unknown>)[keys[k]!];
        if (typeof v !== 'string') break;
        meta[keys[k]!] = v;
      }
      if (keys === null || ObjectKeys(meta).length !== keys.length) {
        throw new SafetensorsError(src, 'header-structure', '"__metadata__" must be an object of string values');
      }
      metadata = meta;
      continue;
    }
    const bad = (what: string): SafetensorsError => new SafetensorsError(src, 'header-structure', `tensor ${JSONStringify(name)}: ${what}`, name);
    if (!isPlainObject(entry)) throw bad('its entry must be an object { dtype, shape, data_offsets }');
    // Own keys only: destructuring reads through the prototype, and a polluted
    // Object.prototype.dtype / shape / data_offsets must not complete an entry that lacks them.
    const dtype = ownValue(entry, 'dtype');
    const shape = ownValue(entry, 'shape');
    const offsets = ownValue(entry, 'data_offsets');
    if (typeof dtype !== 'string') throw bad(`"dtype" must be a string; received ${describe(dtype)}`);
    if (!isSafetensorsDType(dtype)) {
      throw new SafetensorsError(src, 'dtype', `tensor ${JSONStringify(name)} has dtype ${JSONStringify(StringPrototypeSlice(dtype, 0, 40))}, which the format does not define (known: ${joinList(ObjectKeys(DTYPE_BITS), ', ')})`, name);
    }
    // The values received are said, and the 2^53 bound (JavaScript's numbers hold integers exactly
    // up to it; a u64 past it reads as a rounded float): 2^62 was refused as "not a non-negative
    // integer" without the value (a newcomer's attack, 2026-12-04).
    // A field with an integer past 2^53 is quoted from the file: JSON.parse's rounded values
    // (9007199254740992 for the file's 9007199254740993) are numbers the file does not hold (a review, 2026-12-04).
    const received = (key: string, value: unknown): string =>
      rounded !== null && rounded[0] === name && rounded[1] === key
        ? `${textExcerpt(rounded[2])} (past 2^53)`
        : `${jsonExcerpt(value)}${holdsUnsafeInteger(value) ? ' (as JSON.parse reads it: integers past 2^53 come out rounded)' : ''}`;
    const dims = countsOf(shape);
    if (dims === null) throw bad(`"shape" must be an array of non-negative integers below 2^53; received ${received('shape', shape)}`);
    const pair = countsOf(offsets);
    if (pair === null || pair.length !== 2) throw bad(`"data_offsets" must be [begin, end], two non-negative integers below 2^53; received ${received('data_offsets', offsets)}`);
    const begin = pair[0]!;
    const end = pair[1]!;
    if (end < begin) throw new SafetensorsError(src, 'offsets', `tensor ${JSONStringify(name)} has data_offsets [${begin}, ${end}]: end before begin`, name);
    if (end > dataLength) {
      throw new SafetensorsError(src, 'data-length', `tensor ${JSONStringify(name)} has data_offsets [${begin}, ${end}], past the end of the ${dataLength}-byte data section`, name);
    }
    // Element count and bit count as the reference computes them: u64 checked_mul from the left,
    // so [2^30, 2^30, 0] holds 0 elements while [2^40, 2^40, 0] overflows on the way.
    let count = 1n;
    for (let d = 0; d < dims.length; d++) {
      count *= BigIntCtor(dims[d]!);
      if (count > MAX_U64) throw new SafetensorsError(src, 'overflow', `tensor ${JSONStringify(name)}: the element count of its shape ${jsonExcerpt(dims)} overflows 64 bits`, name);
    }
    const bitsBig = count * BigIntCtor(DTYPE_BITS[dtype as SafetensorsDType]);
    if (bitsBig > MAX_U64) throw new SafetensorsError(src, 'overflow', `tensor ${JSONStringify(name)}: the byte count overflows`, name);
    // Past 2^53 it cannot equal end - begin (a safe integer): refused as shape-size, as there.
    const bits = Number(bitsBig);
    if (bitsBig % 8n !== 0n || bitsBig / 8n !== BigIntCtor(end - begin)) {
      throw new SafetensorsError(
        src,
        'shape-size',
        `tensor ${JSONStringify(name)}: shape ${shapeExcerpt(dims)} of ${dtype} needs ${bits / 8} bytes, but data_offsets [${begin}, ${end}] hold ${end - begin}`,
        name,
      );
    }
    listAppend(tensors, { name, dtype: dtype as SafetensorsDType, shape: dims, dataOffsets: [begin, end], fileOffset: dataStart + begin, byteLength: end - begin });
  }
  // In data order, as before (the offsets check below walks them in it).
  const byOffset = sortedByOffset(tensors);
  let next = 0;
  for (let i = 0; i < byOffset.length; i++) {
    const t = byOffset[i]!;
    const begin = t.dataOffsets[0];
    const end = t.dataOffsets[1];
    if (begin !== next) {
      const what = begin < next ? `overlaps the previous tensor (which ends at ${next})` : `leaves a gap of ${begin - next} bytes after offset ${next}`;
      throw new SafetensorsError(src, 'offsets', `tensor ${JSONStringify(t.name)} at data_offsets [${begin}, ${end}] ${what}; tensors must tile the data section`, t.name);
    }
    next = end;
  }
  if (next !== dataLength) {
    throw new SafetensorsError(src, 'data-length', `the tensors cover ${next} bytes, but the data section has ${dataLength} (extra bytes after the last tensor)`);
  }
  return { headerLength, dataStart, fileLength, metadata, tensors: byOffset };
}

/** The header of a whole file held in memory. @internal */
export function headerFromBytes(src: string, bytes: Uint8Array): SafetensorsHeader {
  const length = lengthOf(bytes);
  const n = headerLengthOf(src, bytes, length);
  // A view made by the constructor captured at load (subarray asks Symbol.species, which a caller
  // can replace: an attack validated other bytes than it read). Over a SharedArrayBuffer the
  // header is copied first: another thread rewriting it between the checks and JSON.parse got a
  // header the checks had refused parsed, and V8's fatal out-of-memory.
  const view = new Uint8ArrayCtor(bufferOf(bytes) as ArrayBuffer, byteOffsetOf(bytes) + 8, n);
  let header = view;
  if (isSharedView(bytes)) {
    header = allocateArray(Uint8ArrayCtor, n, 'a copy of the header');
    TypedArrayPrototypeSet(header, view);
  }
  return parseHeader(src, header, n, length);
}

/** A parsed JSON value as JSON, cut at 80 characters (a refusal's "received"). */
function jsonExcerpt(value: unknown): string {
  let text: string;
  try {
    text = value === undefined ? 'nothing (the key is missing)' : JSONStringify(value);
  } catch {
    return 'a value that cannot be shown';
  }
  return textExcerpt(text);
}

/**
 * A shape for a message: its dims as "[a, b, c]", the first 16 and a count when there are more (an
 * attack's 4 MB header of 2M zero dims, refused as shape-size, had its message built from every
 * dim: V8's fatal out-of-memory under a 64 MB heap, 28 s and 4 GB under the default one).
 */
function shapeExcerpt(dims: readonly number[]): string {
  let shown = '';
  const n = dims.length > 16 ? 16 : dims.length;
  for (let i = 0; i < n; i++) shown += (i === 0 ? '' : ', ') + StringCtor(dims[i]);
  if (dims.length > n) shown += `, … (${dims.length} dims in all)`;
  return `[${shown}]`;
}

/** Where in the header a value is, by its top-level key ('' for the top level itself). */
function placeIn(top: string): string {
  return top === '' ? 'in the header' : top === '__metadata__' ? 'under "__metadata__"' : `under tensor ${JSONStringify(top)}`;
}

/** The tensor a refusal names, by the value's top-level key (none for the top level or metadata). */
function tensorNamed(top: string): string | undefined {
  return top === '' || top === '__metadata__' ? undefined : top;
}

/** Text cut at 80 characters. */
function textExcerpt(text: string): string {
  return text.length > 80 ? `${StringPrototypeSlice(text, 0, 80)}…` : text;
}

/** Whether an Array holds an integer that is not safe (JSON.parse rounded it). */
function holdsUnsafeInteger(value: unknown): boolean {
  if (!ArrayIsArray(value)) return false;
  const list = value as unknown[];
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v === 'number' && NumberIsInteger(v) && !NumberIsSafeInteger(v)) return true;
  }
  return false;
}

/** An Array of safe non-negative integers, copied (length, then each element), or null. */
function countsOf(value: unknown): number[] | null {
  if (!ArrayIsArray(value)) return null;
  const list = value as unknown[];
  const out: number[] = [];
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (!isCount(v)) return null;
    listAppend(out, v as number);
  }
  return out;
}

/** The tensors by data_offsets (begin, then end): a merge sort, not the replaceable Array.prototype.sort. */
function sortedByOffset(list: readonly SafetensorsTensorInfo[]): SafetensorsTensorInfo[] {
  const before = (a: SafetensorsTensorInfo, b: SafetensorsTensorInfo): boolean =>
    a.dataOffsets[0] < b.dataOffsets[0] || (a.dataOffsets[0] === b.dataOffsets[0] && a.dataOffsets[1] <= b.dataOffsets[1]);
  // Two copies made of own properties first: the merge's index stores then never reach a setter on
  // Array.prototype.
  let src: SafetensorsTensorInfo[] = [];
  let dst: SafetensorsTensorInfo[] = [];
  for (let i = 0; i < list.length; i++) {
    listAppend(src, list[i]!);
    listAppend(dst, list[i]!);
  }
  for (let width = 1; width < src.length; width *= 2) {
    for (let lo = 0; lo < src.length; lo += 2 * width) {
      const mid = MathMin(lo + width, src.length);
      const hi = MathMin(lo + 2 * width, src.length);
      let i = lo;
      let j = mid;
      for (let k = lo; k < hi; k++) dst[k] = i < mid && (j >= hi || before(src[i]!, src[j]!)) ? src[i++]! : src[j++]!;
    }
    const swap = src;
    src = dst;
    dst = swap;
  }
  return src;
}
