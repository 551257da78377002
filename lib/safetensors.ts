// A reader for the safetensors format: files and bytes to tensors by name, views or copies, and
// the conversions to float32. The header's format and validation (after the reference
// implementation) are lib/safetensors-header.ts.
//
// No npm package fits this job (checked 2026-11: `safetensors` 0.0.1, one release, no
// repository; `@huggingface/hub`'s parseSafetensorsMetadata reads headers of files on the Hub
// over HTTP, not local files or tensor data, and does not check offsets), so it is written here.

import { editDistance, parseObject } from './args.js';
import { nodeBuffer, nodeFs, nodeUrl } from './node-builtins.js';
import { bfloat16BitsToFloat32, float16BitsToFloat32 } from './half.js';
import {
  Float32ArrayCtor,
  JSONStringify,
  MathFloor,
  MathAbs,
  MathMax,
  MathMin,
  ObjectCreate,
  ObjectHasOwn,
  ReflectGetPrototypeOf,
  SetPrototypeAdd,
  SetPrototypeHas,
  StringPrototypeEndsWith,
  StringPrototypeIncludes,
  TypedArrayPrototypeSet,
  Uint16ArrayCtor,
  Uint8ArrayCtor,
  joinList,
  listAppend,
  listMap,
  withProps,
} from './primordials.js';
import { allocateArray } from './alloc.js';
import { rangeError, readGuarded, typeError, typeErrorText } from './arg-errors.js';
import { fileKind, registerOwnClass } from './describe.js';
import { isArrayValue, isPlainObject } from './is.js';
import { bufferOf, byteOffsetOf, isUnusableView, lengthOf, typedArrayName, USABLE_VIEW } from './typed-arrays.js';

import {
  headerFromBytes,
  headerLengthOf,
  parseHeader,
  type SafetensorsDType,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
  SafetensorsError,
} from './safetensors-header.js';

export {
  SAFETENSORS_MAX_HEADER_BYTES,
  SafetensorsError,
  type SafetensorsCheck,
  type SafetensorsDType,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
} from './safetensors-header.js';

/** Element arrays by dtype. F16/BF16 come as raw bit patterns unless converted (toFloat32). */
export type SafetensorsData =
  | Float32Array
  | Float64Array
  | Uint16Array
  | Int16Array
  | Uint8Array
  | Int8Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/**
 * A tensor read from a file. `data` holds its elements, row-major:
 * F32 → Float32Array; F64 → Float64Array; F16, BF16 → Uint16Array of bit patterns; I8 → Int8Array;
 * U8, BOOL, F8_*, F4, F6_* → Uint8Array of the raw bytes; I16 → Int16Array; U16 → Uint16Array;
 * I32 → Int32Array; U32 → Uint32Array; I64 → BigInt64Array; U64 → BigUint64Array; C64 →
 * Float32Array of interleaved (real, imaginary) pairs. With `toFloat32`, F16, BF16 and F64 come
 * as a Float32Array instead (F64 rounded to nearest); `dtype` still names the file's type.
 */
export interface SafetensorsTensor {
  /** The file's element type (also after a toFloat32 conversion). */
  dtype: SafetensorsDType;
  /** Row-major dims; [] is a scalar. */
  shape: number[];
  /** The elements, row-major (see above for the array type of each dtype). */
  data: SafetensorsData;
  /** True when `data` is a view of the input bytes (no copy): the alignment allowed it. */
  zeroCopy: boolean;
}

/** Options of readSafetensors (another key is a TypeError, code 'ERR_INVALID_ARG_TYPE'). */
export interface ReadSafetensorsOptions {
  /** Return F16, BF16 and F64 tensors as Float32Array (default false); a non-boolean is a TypeError. */
  toFloat32?: boolean | undefined;
  /**
   * Only these tensors (names, or a predicate on the name). From a path, only their bytes are
   * read from disk. A name that is not in the file is a RangeError (code 'ERR_SQEX_SAFETENSORS_NAME',
   * `argument` 'options.names').
   */
  names?: (readonly string[] | ((name: string) => boolean)) | undefined;
}

// `readonly` binds TypeScript only: the header and tensors of a SafetensorsFile can be replaced or
// emptied at run time, so each method checks what it reads (a coded TypeError, not a raw one).
function checkHeader(fn: string, arg: string, header: unknown): SafetensorsHeader {
  headerTensors(fn, arg, header);
  return header as SafetensorsHeader;
}

// The header's tensors array, read once (a getter cannot pass the check with one value and be used
// with another).
function headerTensors(fn: string, arg: string, header: unknown): unknown[] {
  const expected = 'a safetensors header (readSafetensorsHeader)';
  if (typeof header !== 'object' || header === null || isArrayValue(header)) throw typeError(fn, arg, expected, header);
  const list = readGuarded(fn, arg, expected, header, () => (header as { tensors?: unknown }).tensors);
  if (!isArrayValue(list)) throw typeError(fn, `${arg}.tensors`, 'an Array of tensor infos', list);
  return list;
}

function checkTensors(fn: string, arg: string, tensors: unknown): Readonly<Record<string, SafetensorsTensor>> {
  const expected = 'an object of tensors by name';
  if (typeof tensors !== 'object' || tensors === null || isArrayValue(tensors)) throw typeError(fn, arg, expected, tensors);
  // a revoked Proxy passes the checks above (isArrayValue says false for it) and throws on any read
  readGuarded(fn, arg, expected, tensors, () => ReflectGetPrototypeOf(tensors));
  return tensors as Readonly<Record<string, SafetensorsTensor>>;
}

// `this` of a method called on something else (SafetensorsFile.prototype.get.call(null, ...)).
function fileFields(fn: string, self: unknown): { header: unknown; tensors: unknown } {
  if (typeof self !== 'object' || self === null) throw typeError(fn, 'this', 'a SafetensorsFile (readSafetensors)', self);
  return readGuarded(fn, 'this', 'a SafetensorsFile (readSafetensors)', self, () => ({
    header: (self as { header?: unknown }).header,
    tensors: (self as { tensors?: unknown }).tensors,
  }));
}

/** What readSafetensors returns: the validated header and the tensors, by name. */
export class SafetensorsFile {
  /** The validated header: every tensor's info, including those not read (options.names). */
  readonly header: SafetensorsHeader;
  /** Tensors by name (a null-prototype record: any name is safe as a key). */
  readonly tensors: Readonly<Record<string, SafetensorsTensor>>;
  /**
   * Made by readSafetensors; the arguments are taken as they are (TypeError, code
   * 'ERR_INVALID_ARG_TYPE', only for a header without a tensors array or non-object tensors).
   */
  constructor(header: SafetensorsHeader, tensors: Record<string, SafetensorsTensor>) {
    this.header = checkHeader('SafetensorsFile', 'header', header);
    this.tensors = checkTensors('SafetensorsFile', 'tensors', tensors);
  }
  /** The "__metadata__" map, or null. */
  get metadata(): Record<string, string> | null {
    const fn = 'SafetensorsFile.metadata';
    const expected = 'a safetensors header (readSafetensorsHeader)';
    const { header } = fileFields(fn, this);
    if (typeof header !== 'object' || header === null) throw typeError(fn, 'this.header', expected, header);
    return readGuarded(fn, 'this.header', expected, header, () => (header as SafetensorsHeader).metadata);
  }
  /** Names of the tensors read, in file order. */
  names(): string[] {
    const fn = 'SafetensorsFile.names';
    const self = fileFields(fn, this);
    const infos = headerTensors(fn, 'this.header', self.header);
    const tensors = checkTensors(fn, 'this.tensors', self.tensors);
    const out: string[] = [];
    for (let i = 0; i < infos.length; i++) {
      const arg = `this.header.tensors[${i}]`;
      const info = readGuarded(fn, 'this.header.tensors', 'an Array of tensor infos', infos, () => infos[i]);
      const name = typeof info === 'object' && info !== null ? readGuarded(fn, arg, 'a tensor info { name, ... }', info, () => (info as { name?: unknown }).name) : undefined;
      if (typeof name !== 'string') throw typeError(fn, `${arg}.name`, 'a string', name);
      if (readGuarded(fn, 'this.tensors', 'an object of tensors by name', tensors, () => ObjectHasOwn(tensors, name))) listAppend(out, name);
    }
    return out;
  }
  /**
   * The tensor `name`, or undefined when it was not read (absent, or left out by options.names).
   * A non-string name is a TypeError (code 'ERR_INVALID_ARG_TYPE').
   */
  get(name: string): SafetensorsTensor | undefined {
    const fn = 'SafetensorsFile.get';
    if (typeof name !== 'string') throw typeError(fn, 'name', "a string: a tensor's full name", name);
    const tensors = checkTensors(fn, 'this.tensors', fileFields(fn, this).tensors);
    return readGuarded(fn, 'this.tensors', 'an object of tensors by name', tensors, () => (ObjectHasOwn(tensors, name) ? tensors[name] : undefined));
  }
}

registerOwnClass('SafetensorsFile', SafetensorsFile.prototype, (v) => v instanceof SafetensorsFile);

/**
 * A `file:` URL, as Node's and the WHATWG `URL` are (only that much of its type is named here, so
 * that the declarations need neither @types/node nor the DOM library: without them `URL` read as
 * `any`, and readSafetensors(42) compiled). The call checks that it is a real URL.
 */
export interface FileUrl {
  /** The whole URL, e.g. 'file:///models/se.safetensors'. */
  readonly href: string;
  /** Must be 'file:' (another protocol is a TypeError, code 'ERR_INVALID_ARG_TYPE'). */
  readonly protocol: string;
  /** The path part, percent-encoded; read through url.fileURLToPath. */
  readonly pathname: string;
}

type Source = string | Uint8Array;

function sourceName(source: Source): string {
  return typeof source !== 'string' ? '<Uint8Array>' : source;
}

/** The path, refused where it holds a NUL character (no file system can name it; fs would throw its own error about 'path'). */
function pathWithoutNul(fn: string, path: string, source: unknown): string {
  if (StringPrototypeIncludes(path, '\0')) {
    throw rangeError(fn, 'source', 'a file path without NUL characters (\\0)', source, 'A NUL in a path usually comes from a string read from a binary file or a C buffer: trim it at the first \\0');
  }
  return path;
}

/**
 * The source, checked once: a path string, a URL, or the file's bytes as a plain Uint8Array view
 * made with the intrinsic accessors (a subclass's buffer/byteOffset/length getters, or a Proxy,
 * are never asked again; a Node Buffer is a Uint8Array).
 */
function sourceOf(fn: string, source: unknown): Source {
  if (typeof source === 'string') return pathWithoutNul(fn, source, source);
  if (typedArrayName(source) === 'Uint8Array') {
    const view = source as Uint8Array;
    if (isUnusableView(view)) throw typeError(fn, 'source', 'a Uint8Array that is not detached (transferred) or out of bounds', source);
    return new Uint8ArrayCtor(bufferOf(view), byteOffsetOf(view), lengthOf(view));
  }
  let url = false;
  let path: string | null = null;
  try {
    url = source instanceof URL;
  } catch {
    // a revoked Proxy: instanceof throws
  }
  if (url) {
    // Converted once here, so every later use sees the same path; fs would refuse another scheme
    // with its own uncoded wording.
    try {
      path = fileURLToPath(source as URL);
    } catch (err) {
      const why = (err as { message?: unknown } | null)?.message;
      throw typeError(fn, 'source', 'a file path (string or file: URL) or a Uint8Array holding the file', source,
        `Only a file: URL names a file here${typeof why === 'string' ? ` (${why})` : ''}; for a remote file, fetch its bytes and pass them as a Uint8Array`);
    }
    return pathWithoutNul(fn, path, source);
  }
  throw typeError(fn, 'source', 'a file path (string or file: URL) or a Uint8Array holding the file', source);
}


const { closeSync, constants: fsConstants, fstatSync, openSync, readSync } = nodeFs;
const { fileURLToPath } = nodeUrl;
const bufferConstants = nodeBuffer.constants;

// O_NONBLOCK: opening a FIFO for reading otherwise blocks until a writer comes (forever, for a
// stray `mkfifo`). Windows has no such flag (and no FIFOs on paths).
const OPEN_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);

/**
 * Opens a path that must be a regular file, refusing anything else before a byte is read: a
 * FIFO or device has no length to check the header against, and its reads can block forever.
 */
function openRegularFile(fn: string, source: string, src: string): number {
  const fd = openSync(source, OPEN_FLAGS);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      throw withProps(new Error(`${fn}: ${src} is ${fileKind(st)}, not a regular file: a safetensors file must be read from a regular file (or pass its bytes)`), {
        code: 'ERR_SQEX_SAFETENSORS_IO',
      });
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Reads and validates the header of an open file (reads 8 + N bytes, nothing of the data). */
function headerFromFd(fn: string, src: string, fd: number): SafetensorsHeader {
  const size = fstatSync(fd).size;
  const first8 = new Uint8ArrayCtor(8);
  if (size >= 8) readFully(fn, src, fd, first8, 0);
  const n = headerLengthOf(src, first8, size);
  const bytes = allocateArray(Uint8ArrayCtor, n, `the header of ${src}`);
  readFully(fn, src, fd, bytes, 8);
  return parseHeader(src, bytes, n, size);
}

// fs.readSync takes its length as a 32-bit integer (Node 22-26: 4 GiB + 24 reads 24 bytes, 2 GiB is
// a RangeError), and Linux reads at most 0x7ffff000 bytes a call anyway: read in 1 GiB pieces.
const READ_CHUNK = 1 << 30;

function readFully(fn: string, src: string, fd: number, into: Uint8Array, position: number): void {
  let done = 0;
  const want = lengthOf(into);
  while (done < want) {
    const got = readSync(fd, into, done, MathMin(want - done, READ_CHUNK), position + done);
    if (got === 0) break; // the file shrank under us: what is left stays zero-filled and caught below
    done += got;
  }
  if (done < want) {
    throw withProps(new Error(`${fn}: could not read ${want} bytes of ${src} at offset ${position}: the file ended after ${done} of them (it changed while being read?)`), { code: 'ERR_SQEX_SAFETENSORS_IO' });
  }
}

/**
 * Reads the header only: the 8-byte length and the N-byte JSON, nothing of the data, so listing
 * a multi-gigabyte checkpoint costs a few kilobytes of I/O. The header is fully validated
 * against the file's length (see SafetensorsCheck).
 *
 * @param source - a file path (string or file: URL), or the whole file's bytes.
 * @throws SafetensorsError (code 'ERR_SQEX_SAFETENSORS', `check` naming the rule) for an invalid
 *   file; the fs Error (ENOENT, EACCES...) when the file cannot be opened; an Error with code
 *   'ERR_SQEX_SAFETENSORS_IO' for a path that is not a regular file (FIFO, directory, device); TypeError
 *   (code 'ERR_INVALID_ARG_TYPE') for a source that is neither, or for an options object (it takes
 *   none: options.names is readSafetensors'); RangeError (code 'ERR_OUT_OF_RANGE', `argument`
 *   'source') for a path holding a NUL character.
 */
export function readSafetensorsHeader(source: string | FileUrl | Uint8Array): SafetensorsHeader {
  const fn = 'readSafetensorsHeader';
  // It takes no options: an object as a second argument is most likely readSafetensors' options
  // passed here (a number is not refused: files.map(readSafetensorsHeader) passes the index).
  if (arguments.length > 1 && typeof arguments[1] === 'object' && arguments[1] !== null) {
    throw typeError(fn, 'options', 'absent: readSafetensorsHeader takes only the source (it reads no tensor data)', arguments[1], 'options.names and options.toFloat32 are readSafetensors\' options');
  }
  const input = sourceOf(fn, source);
  const src = sourceName(input);
  return namedBy(fn, () => {
    if (typeof input !== 'string') return headerFromBytes(src, input);
    const fd = openRegularFile(fn, input, src);
    try {
      return headerFromFd(fn, src, fd);
    } finally {
      closeSync(fd);
    }
  });
}

/** Runs `read`, prefixing a SafetensorsError's message with the function called, as every refusal starts. */
function namedBy<T>(fn: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof SafetensorsError) err.message = `${fn}: ${err.message}`;
    throw err;
  }
}

const LITTLE_ENDIAN = new Uint8ArrayCtor(new Uint16ArrayCtor([1]).buffer)[0] === 1;

type ArrayCtor = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): SafetensorsData;
  new (length: number): SafetensorsData;
  readonly BYTES_PER_ELEMENT: number;
};

// The constructors as they were at load: a global replaced later must not make the views.
const ARRAY_TYPES = {
  F32: Float32Array,
  C64: Float32Array,
  F64: Float64Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  U16: Uint16Array,
  I16: Int16Array,
  I8: Int8Array,
  I32: Int32Array,
  U32: Uint32Array,
  I64: BigInt64Array,
  U64: BigUint64Array,
} as unknown as Readonly<Record<string, ArrayCtor>>;

function arrayType(dtype: SafetensorsDType): ArrayCtor {
  return ObjectHasOwn(ARRAY_TYPES, dtype) ? ARRAY_TYPES[dtype]! : (Uint8ArrayCtor as unknown as ArrayCtor);
}

/**
 * A typed array over bytes[begin, begin + length): a view when the element alignment and the
 * host byte order allow it, else a copy (byte-swapped on a big-endian host).
 */
function elements(ctor: ArrayCtor, bytes: Uint8Array, begin: number, byteLength: number): { data: SafetensorsData; zeroCopy: boolean } {
  const size = ctor.BYTES_PER_ELEMENT;
  const count = byteLength / size;
  // Intrinsic accessors and views made by constructors (subarray asks Symbol.species).
  const buffer = bufferOf(bytes);
  const at = byteOffsetOf(bytes) + begin;
  if (size === 1 || (LITTLE_ENDIAN && at % size === 0)) return { data: new ctor(buffer, at, count), zeroCopy: true };
  const copy = allocateArray(Uint8ArrayCtor, byteLength, 'a copy of a tensor');
  TypedArrayPrototypeSet(copy, new Uint8ArrayCtor(buffer as ArrayBuffer, at, byteLength));
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < byteLength; i += size) {
      for (let a = i, b = i + size - 1; a < b; a++, b--) {
        const v = copy[a]!;
        copy[a] = copy[b]!;
        copy[b] = v;
      }
    }
  }
  return { data: new ctor(bufferOf(copy), 0, count), zeroCopy: false };
}

/**
 * F16/BF16 bits or F64 values as a Float32Array (F64 rounded to nearest); F32 as a plain
 * Float32Array view of the same memory. `data` must be the dtype's array (F32 → Float32Array,
 * F16/BF16 → Uint16Array, F64 → Float64Array), read through the intrinsic accessors; a mismatch,
 * or a detached or out-of-bounds array, is a TypeError (code 'ERR_INVALID_ARG_TYPE'); a dtype
 * other than these four a RangeError (code 'ERR_OUT_OF_RANGE'; a non-string a TypeError). Never
 * null. The result has as many elements as `data`; an allocation failure is an Error with code
 * 'ERR_SQEX_OUT_OF_MEMORY'. F16/BF16 decode as {@link float16BitsToFloat32} /
 * {@link bfloat16BitsToFloat32} (exact).
 */
export function safetensorsToFloat32(dtype: SafetensorsDType, data: SafetensorsData): Float32Array {
  const fn = 'safetensorsToFloat32';
  const expected = "'F32', 'F16', 'BF16' or 'F64'";
  if (typeof dtype !== 'string') throw typeError(fn, 'dtype', `a string: ${expected}`, dtype);
  const want = dtype === 'F32' ? 'Float32Array' : dtype === 'F16' || dtype === 'BF16' ? 'Uint16Array' : dtype === 'F64' ? 'Float64Array' : undefined;
  if (want === undefined) throw rangeError(fn, 'dtype', expected, dtype);
  const got = typedArrayName(data);
  if (got !== want) {
    // The data of another dtype: the fix is that dtype, not a conversion of the data.
    const its = got === 'Float32Array' ? "'F32'" : got === 'Uint16Array' ? "'F16' or 'BF16'" : got === 'Float64Array' ? "'F64'" : undefined;
    throw typeError(fn, 'data', `a ${want} (dtype ${dtype})`, data, its === undefined ? undefined : `A ${got} is the data of dtype ${its}: pass the dtype the tensor has`);
  }
  if (isUnusableView(data)) throw typeError(fn, 'data', `a ${want} ${USABLE_VIEW}`, data);
  const n = lengthOf(data);
  const buffer = bufferOf(data);
  const offset = byteOffsetOf(data);
  if (want === 'Float32Array') return new ARRAY_TYPES.F32!(buffer, offset, n) as Float32Array;
  if (want === 'Uint16Array') {
    const bits = new ARRAY_TYPES.U16!(buffer, offset, n) as Uint16Array;
    return dtype === 'F16' ? float16BitsToFloat32(bits) : bfloat16BitsToFloat32(bits);
  }
  const src = new ARRAY_TYPES.F64!(buffer, offset, n) as Float64Array;
  const out = allocateArray(Float32ArrayCtor, n, 'the float32 values');
  for (let i = 0; i < n; i++) out[i] = src[i] as number;
  return out;
}

function tensorFrom(info: SafetensorsTensorInfo, bytes: Uint8Array, begin: number, toFloat32: boolean): SafetensorsTensor {
  const { data, zeroCopy } = elements(arrayType(info.dtype), bytes, begin, info.byteLength);
  if (toFloat32 && (info.dtype === 'F16' || info.dtype === 'BF16' || info.dtype === 'F64')) {
    return { dtype: info.dtype, shape: info.shape, data: safetensorsToFloat32(info.dtype, data)!, zeroCopy: false };
  }
  return { dtype: info.dtype, shape: info.shape, data, zeroCopy };
}

function selector(fn: string, names: ReadSafetensorsOptions['names'], header: SafetensorsHeader, src: string): (name: string) => boolean {
  if (names === undefined) return () => true;
  if (typeof names === 'function') return names;
  // Copied once (length, then each element): the check and the selection see the same names.
  const list: string[] = [];
  let n = -1;
  if (isArrayValue(names)) {
    n = names.length;
    for (let i = 0; i < n; i++) {
      // The element that is not a name is said, by index ("an Array of length 2" did not say which; a
      // review, 2026-12-04); a hole is one whatever Array.prototype holds.
      const expected = 'a tensor name (a string): options.names is an array of tensor names, or a function (name) => boolean';
      const fix = 'Pass the full names of the tensors to read (readSafetensorsHeader(source).tensors lists them)';
      if (!ObjectHasOwn(names, i)) throw typeErrorText(fn, `options.names[${i}]`, expected, `nothing (a hole in the array). ${fix}`);
      const name: unknown = names[i];
      if (typeof name !== 'string') throw typeError(fn, `options.names[${i}]`, expected, name, fix);
      listAppend(list, name);
    }
  }
  if (list.length !== n) {
    throw typeError(fn, 'options.names', 'an array of tensor names or a function (name) => boolean', names);
  }
  names = list;
  // Captured built-ins: these decide which tensors are read.
  const known = new Set<string>();
  for (let i = 0; i < header.tensors.length; i++) SetPrototypeAdd(known, header.tensors[i]!.name);
  const missing: string[] = [];
  for (let i = 0; i < list.length; i++) if (!SetPrototypeHas(known, list[i]!)) listAppend(missing, list[i]!);
  if (missing.length > 0) {
    const first = missing[0]!;
    const near = nearestName(first, listMap(header.tensors, (t) => t.name));
    const err = rangeError(
      fn,
      'options.names',
      `names of tensors in ${src}`,
      names,
      `${src} has no tensor named ${joinList(listMap(missing, (m) => JSONStringify(m)), ', ')} (it has ${header.tensors.length} tensors${near === undefined ? '' : `; did you mean ${JSONStringify(near)}?`}); readSafetensorsHeader(source).tensors lists them`,
    );
    throw withProps(err, { code: 'ERR_SQEX_SAFETENSORS_NAME' });
  }
  const wanted = new Set<string>();
  for (let i = 0; i < list.length; i++) SetPrototypeAdd(wanted, list[i]!);
  return (name) => SetPrototypeHas(wanted, name);
}

/** Names longer than this are not searched for near misses (nearestName). */
const MAX_TYPO_NAME = 1024;

/**
 * The tensor name closest to `name`: the one it ends with or that ends with it, else within an edit
 * distance of a fifth of its length (at least 2). The distance is at least the difference of the
 * lengths, so only names that close in length are compared, each only as far as the best so far
 * (editDistance's limit: a review's 500 names of 1,000 characters took 4 s), and none over MAX_TYPO_NAME characters
 * (an attack's 4M-character name in a 4 MB header took 3 s to compare with an 88-character request,
 * and a 99 MB one allocated 1.2 GB: an uncoded RangeError under a memory limit).
 */
function nearestName(name: string, known: readonly string[]): string | undefined {
  for (let i = 0; i < known.length; i++) {
    const k = known[i]!;
    if (StringPrototypeEndsWith(k, `.${name}`) || StringPrototypeEndsWith(name, `.${k}`)) return k;
  }
  if (name.length > MAX_TYPO_NAME) return undefined;
  let best: string | undefined;
  let bestDist = MathMax(2, MathFloor(name.length / 5)) + 1;
  for (let i = 0; i < known.length; i++) {
    const k = known[i]!;
    if (k.length > MAX_TYPO_NAME || MathAbs(k.length - name.length) >= bestDist) continue;
    const d = editDistance(name, k, bestDist - 1);
    if (d < bestDist) {
      bestDist = d;
      best = k;
    }
  }
  return best;
}

/** The tensors `pick` selects, in file order; pick (maybe the caller's function) runs once per name. */
function chosenTensors(header: SafetensorsHeader, pick: (name: string) => boolean): SafetensorsTensorInfo[] {
  const chosen: SafetensorsTensorInfo[] = [];
  for (let i = 0; i < header.tensors.length; i++) {
    const t = header.tensors[i]!;
    if (pick(t.name)) listAppend(chosen, t);
  }
  return chosen;
}

function parseOptions(fn: string, options: unknown): { toFloat32: boolean; names: ReadSafetensorsOptions['names'] } {
  // Own keys, each read once: a polluted Object.prototype.names must not select tensors.
  const own = parseObject(fn, 'options', options, READ_OPTION_KEYS, true);
  const toFloat32 = own.toFloat32;
  if (toFloat32 !== undefined && typeof toFloat32 !== 'boolean') throw typeError(fn, 'options.toFloat32', 'a boolean', toFloat32);
  return { toFloat32: toFloat32 === true, names: own.names as ReadSafetensorsOptions['names'] };
}

const READ_OPTION_KEYS = ['toFloat32', 'names'] as const;

/**
 * Reads a safetensors file: the header, validated as the reference implementation does (see
 * SafetensorsCheck), and the tensors by name. From a Uint8Array, each tensor's `data` is a view
 * of those bytes wherever its offset is aligned for its element type (zeroCopy: true) and a copy
 * otherwise. Writers pack tensors back to back, so a file of float32 tensors only (most
 * checkpoints) is all views, while a tensor after an odd-sized float16 or uint8 one is copied. From a path, the data section is read
 * into one new buffer and viewed the same way (one buffer per tensor when the section is larger
 * than one buffer can be), or, with `names`, only the selected tensors' bytes are read.
 *
 * @param source - a file path (string or file: URL), or the whole file's bytes (not copied: the
 *   views alias it).
 * @param options - `toFloat32` converts F16, BF16 and F64 to Float32Array; `names` selects
 *   tensors.
 * @returns a SafetensorsFile: `tensors[name]` = { dtype, shape, data, zeroCopy }, `metadata`,
 *   `header`.
 * @throws SafetensorsError (code 'ERR_SQEX_SAFETENSORS', with `check`) for an invalid file; a
 *   RangeError with code 'ERR_SQEX_SAFETENSORS_NAME' (`argument` 'options.names') for a requested
 *   name the file lacks, with the nearest name the file has; a RangeError
 *   with code 'ERR_SQEX_SAFETENSORS_TOO_LARGE' for a tensor larger than one ArrayBuffer; the fs
 *   Error when the path cannot be read; an Error with code 'ERR_SQEX_SAFETENSORS_IO' for a path
 *   that is not a regular file (FIFO, directory, device) or a file that shrank while being read;
 *   an Error with code 'ERR_SQEX_OUT_OF_MEMORY' (`bytes`) when a buffer for the data cannot be
 *   allocated; TypeError (code 'ERR_INVALID_ARG_TYPE') for bad arguments (a URL of another scheme
 *   than file: included); RangeError (code 'ERR_OUT_OF_RANGE', `argument` 'source') for a path
 *   holding a NUL character.
 */
export function readSafetensors(source: string | FileUrl | Uint8Array, options?: ReadSafetensorsOptions): SafetensorsFile {
  const fn = 'readSafetensors';
  const input = sourceOf(fn, source);
  const { toFloat32, names } = parseOptions(fn, options);
  const src = sourceName(input);
  return namedBy(fn, () => readTensors(fn, input, src, toFloat32, names));
}

function readTensors(fn: string, input: Source, src: string, toFloat32: boolean, names: ReadSafetensorsOptions['names']): SafetensorsFile {
  const out = ObjectCreate(null) as Record<string, SafetensorsTensor>;
  if (typeof input !== 'string') {
    const header = headerFromBytes(src, input);
    // A names function is the caller's code: it runs over every name before any view is cut,
    // and whatever it did to the source's buffer (transfer, shrink) is checked once after.
    const chosen = chosenTensors(header, selector(fn, names, header, src));
    if (isUnusableView(input)) {
      throw typeError(fn, 'source', 'a Uint8Array that stays attached and in bounds while options.names runs (it was transferred or shrunk meanwhile)', input);
    }
    for (let i = 0; i < chosen.length; i++) out[chosen[i]!.name] = tensorFrom(chosen[i]!, input, chosen[i]!.fileOffset, toFloat32);
    return new SafetensorsFile(header, out);
  }
  const fd = openRegularFile(fn, input, src);
  try {
    const header = headerFromFd(fn, src, fd);
    const chosen = chosenTensors(header, selector(fn, names, header, src));
    const dataLength = header.fileLength - header.dataStart;
    if (names === undefined && dataLength <= bufferConstants.MAX_LENGTH) {
      // One read of the whole data section into a fresh buffer: offsets within it keep the
      // writer's alignment whatever the header's length.
      const data = allocateArray(Uint8ArrayCtor, dataLength, `the data section of ${src}`);
      readFully(fn, src, fd, data, header.dataStart);
      for (let i = 0; i < header.tensors.length; i++) {
        const t = header.tensors[i]!;
        out[t.name] = tensorFrom(t, data, t.dataOffsets[0], toFloat32);
      }
    } else {
      // Selected tensors, or a data section larger than one buffer: one buffer per tensor.
      for (let i = 0; i < chosen.length; i++) {
        const t = chosen[i]!;
        if (t.byteLength > bufferConstants.MAX_LENGTH) {
          throw withProps(
            new RangeError(`${fn}: tensor ${JSONStringify(t.name)} of ${src} has ${t.byteLength} bytes, more than one ArrayBuffer holds here (${bufferConstants.MAX_LENGTH}); leave it out with options.names`),
            { code: 'ERR_SQEX_SAFETENSORS_TOO_LARGE' },
          );
        }
        const bytes = allocateArray(Uint8ArrayCtor, t.byteLength, `tensor ${JSONStringify(t.name)} of ${src}`);
        readFully(fn, src, fd, bytes, t.fileOffset);
        out[t.name] = tensorFrom(t, bytes, 0, toFloat32);
      }
    }
    return new SafetensorsFile(header, out);
  } finally {
    closeSync(fd);
  }
}
