// A small safetensors writer for the tests, independent of lib/safetensors.ts: lays files out as
// the reference writer does (tensors sorted by decreasing dtype alignment then name, header
// padded with spaces to a multiple of 8), with knobs to break the rules on purpose.

export interface WriteTensor {
  dtype: string;
  shape: number[];
  /** The element bytes, little-endian. */
  bytes: Uint8Array;
}

const ORDER = ['BOOL', 'F4', 'F6_E2M3', 'F6_E3M2', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'C64', 'F64', 'I64', 'U64'];

export function f32Bytes(values: ArrayLike<number>): Uint8Array {
  const a = Float32Array.from(values);
  return new Uint8Array(a.buffer);
}

export function typedBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

export interface WriteOptions {
  metadata?: Record<string, string>;
  /** Header JSON text to use instead of the generated one (offsets are still computed). */
  rawHeader?: (generated: string) => string;
  /** Pad the header to a multiple of 8 (default true). */
  pad?: boolean;
  /** Overrides the 8-byte N. */
  headerLength?: bigint;
}

/** Writes the file into a Uint8Array. */
export function writeSafetensors(tensors: Record<string, WriteTensor>, opt: WriteOptions = {}): Uint8Array {
  const names = Object.keys(tensors).sort((a, b) => {
    const da = ORDER.indexOf(tensors[a]!.dtype);
    const db = ORDER.indexOf(tensors[b]!.dtype);
    return db - da || (a < b ? -1 : a > b ? 1 : 0);
  });
  const header: Record<string, unknown> = {};
  if (opt.metadata) header.__metadata__ = opt.metadata;
  let offset = 0;
  for (const n of names) {
    const t = tensors[n]!;
    header[n] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  let text = JSON.stringify(header);
  if (opt.rawHeader) text = opt.rawHeader(text);
  let hb = new TextEncoder().encode(text);
  if (opt.pad !== false && hb.length % 8 !== 0) {
    const padded = new Uint8Array(hb.length + (8 - (hb.length % 8))).fill(0x20);
    padded.set(hb);
    hb = padded;
  }
  const out = new Uint8Array(8 + hb.length + offset);
  new DataView(out.buffer).setBigUint64(0, opt.headerLength ?? BigInt(hb.length), true);
  out.set(hb, 8);
  let at = 8 + hb.length;
  for (const n of names) {
    out.set(tensors[n]!.bytes, at);
    at += tensors[n]!.bytes.length;
  }
  return out;
}
