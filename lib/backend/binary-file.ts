// Whether a native binary's own headers fit inside the file, checked before dlopen. A .node file
// cut short (an interrupted download or copy, a full disk) is mapped by the OS loader as if it were
// whole, and the first touch of a page past the end of the file kills the process with SIGBUS:
// no exception, no message (a newcomer's check, 2026-12-01: `head -c 200000` of the prebuild, then
// require, exit 135). Formats: ELF (Linux, the BSDs), Mach-O (macOS, fat or thin), PE (Windows).
// Only the headers are read (at most 64 KiB), not the whole file.

import type * as FsModule from 'node:fs';

/** How much of the file is read for its headers. */
const HEADER_BYTES = 64 * 1024;

/** A little-/big-endian reader over the header bytes that answers null past their end. */
class HeaderView {
  private readonly view: DataView;
  constructor(
    bytes: Uint8Array,
    private readonly little: boolean,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get length(): number {
    return this.view.byteLength;
  }
  u16(at: number): number | null {
    return at >= 0 && at + 2 <= this.view.byteLength ? this.view.getUint16(at, this.little) : null;
  }
  u32(at: number): number | null {
    return at >= 0 && at + 4 <= this.view.byteLength ? this.view.getUint32(at, this.little) : null;
  }
  u64(at: number): number | null {
    if (!(at >= 0 && at + 8 <= this.view.byteLength)) return null;
    const v = this.view.getBigUint64(at, this.little);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
}

/** The bytes the file must have: the end of the furthest region its headers name (0: none named). */
interface Extent {
  need: number;
  /** What lies there, for the message (e.g. 'a loadable segment'). */
  what: string;
  /** The OS loader maps it (ELF PT_LOAD, Mach-O segments): touching it past the end is SIGBUS. */
  mapped?: boolean;
}

/**
 * A parser's answer: the extent, a string saying how the headers are damaged, or null when it
 * cannot tell (a field past the bytes read, in a file longer than them).
 */
type Verdict = Extent | string | null;

function furthest(regions: readonly Extent[]): Extent {
  let best: Extent = { need: 0, what: '' };
  for (const r of regions) if (r.need > best.need) best = r;
  return best;
}

/** ELF: the loadable segments (PT_LOAD) and the section header table. */
function elfExtent(b: Uint8Array, whole: boolean): Verdict {
  const cls = b[4];
  const data = b[5];
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) return 'an ELF file with an unknown class or byte order';
  const h = new HeaderView(b, data === 1);
  const is64 = cls === 2;
  const phoff = is64 ? h.u64(32) : h.u32(28);
  const shoff = is64 ? h.u64(40) : h.u32(32);
  const phentsize = h.u16(is64 ? 54 : 42);
  const phnum = h.u16(is64 ? 56 : 44);
  const shentsize = h.u16(is64 ? 58 : 46);
  const shnum = h.u16(is64 ? 60 : 48);
  if (phoff === null || shoff === null || phentsize === null || phnum === null || shentsize === null || shnum === null) return 'an ELF header cut short';
  // PN_XNUM: the count lives in section 0 (not read here).
  if (phnum === 0xffff) return null;
  const regions: Extent[] = [{ need: phoff + phnum * phentsize, what: 'its program headers' }];
  if (shoff !== 0) regions.push({ need: shoff + shnum * shentsize, what: 'its section headers' });
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const type = h.u32(at);
    if (type === null) {
      if (!whole) return null; // past the bytes read: cannot tell where the segments end
      break; // past the end of the file: the program-header region above says so
    }
    if (type !== 1) continue; // PT_LOAD only: what the loader maps
    const offset = is64 ? h.u64(at + 8) : h.u32(at + 4);
    const filesz = is64 ? h.u64(at + 32) : h.u32(at + 16);
    if (offset === null || filesz === null) {
      if (!whole) return null;
      break;
    }
    regions.push({ need: offset + filesz, what: 'a loadable segment', mapped: true });
  }
  return furthest(regions);
}

/** Mach-O fat: each architecture's slice (the fat header is big-endian; 0xcafebabf has 64-bit offsets). */
function fatExtent(b: Uint8Array, wide: boolean, whole: boolean): Verdict {
  const h = new HeaderView(b, false);
  const n = h.u32(4);
  if (n === null) return 'a Mach-O header cut short';
  const entry = wide ? 32 : 20;
  const regions: Extent[] = [{ need: 8 + n * entry, what: 'its architecture table' }];
  for (let i = 0; i < n; i++) {
    const at = 8 + i * entry;
    const offset = wide ? h.u64(at + 8) : h.u32(at + 8);
    const size = wide ? h.u64(at + 16) : h.u32(at + 12);
    if (offset === null || size === null) {
      if (!whole) return null;
      break;
    }
    regions.push({ need: offset + size, what: 'an architecture slice', mapped: true });
  }
  return furthest(regions);
}

/** Mach-O thin: its segments (LC_SEGMENT_64 / LC_SEGMENT). */
function machoExtent(b: Uint8Array, little: boolean, is64: boolean, whole: boolean): Verdict {
  const h = new HeaderView(b, little);
  const ncmds = h.u32(16);
  const sizeofcmds = h.u32(20);
  if (ncmds === null || sizeofcmds === null) return 'a Mach-O header cut short';
  const first = is64 ? 32 : 28;
  const regions: Extent[] = [{ need: first + sizeofcmds, what: 'its load commands' }];
  let at = first;
  for (let i = 0; i < ncmds; i++) {
    const cmd = h.u32(at);
    const size = h.u32(at + 4);
    if (cmd === null || size === null) {
      if (!whole) return null;
      break;
    }
    if (size < 8) return 'a Mach-O load command shorter than its own header';
    if (cmd === 0x19 || cmd === 0x1) {
      // LC_SEGMENT_64: fileoff at +40, filesize at +48; LC_SEGMENT: +32, +36.
      const fileoff = cmd === 0x19 ? h.u64(at + 40) : h.u32(at + 32);
      const filesize = cmd === 0x19 ? h.u64(at + 48) : h.u32(at + 36);
      if (fileoff === null || filesize === null) {
        if (!whole) return null;
        break;
      }
      regions.push({ need: fileoff + filesize, what: 'a segment', mapped: true });
    }
    at += size;
  }
  return furthest(regions);
}

/** PE: the section table's raw data (Windows refuses a cut PE with an error; nothing is mapped past the end). */
function peExtent(b: Uint8Array, whole: boolean): Verdict {
  const h = new HeaderView(b, true);
  const pe = h.u32(0x3c);
  if (pe === null) return 'a DOS header cut short';
  const sig = h.u32(pe);
  if (sig === null) return whole ? 'an MZ file whose PE header lies past its end' : null;
  if (sig !== 0x00004550) return 'an MZ file with no PE header';
  const nsect = h.u16(pe + 6);
  const optSize = h.u16(pe + 20);
  if (nsect === null || optSize === null) return whole ? 'a PE header cut short' : null;
  const table = pe + 24 + optSize;
  const regions: Extent[] = [{ need: table + nsect * 40, what: 'its section table' }];
  for (let i = 0; i < nsect; i++) {
    const at = table + i * 40;
    const rawSize = h.u32(at + 16);
    const rawPtr = h.u32(at + 20);
    if (rawSize === null || rawPtr === null) {
      if (!whole) return null;
      break;
    }
    if (rawSize > 0) regions.push({ need: rawPtr + rawSize, what: 'a section' });
  }
  return furthest(regions);
}

/** Extents past this (256 TiB) are no file's: the headers are damaged, not the file cut short. */
const PLAUSIBLE_BYTES = 2 ** 48;

/**
 * Why the binary at `file` (of `size` bytes) must not be loaded, or null: its headers name bytes
 * past the end of the file (cut short), or it is no binary format this checks (a text file, an
 * empty file). Read errors are left to dlopen, which reports them.
 */
export function truncatedBinary(fs: Pick<typeof FsModule, 'openSync' | 'readSync' | 'closeSync'>, file: string, size: number): string | null {
  const b = new Uint8Array(Math.min(size, HEADER_BYTES));
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    let got = 0;
    while (got < b.length) {
      const n = fs.readSync(fd, b, got, b.length - got, got);
      if (n <= 0) break;
      got += n;
    }
    // Shorter than stat said: it shrank meanwhile (a copy or download being replaced), and
    // mapping it now could fault past its end.
    if (got < b.length) return `truncated: the file shrank while it was read (${got} of ${size} bytes)`;
  } catch {
    return null;
  } finally {
    try {
      fs.closeSync(fd);
    } catch {
      // nothing to do: the descriptor is gone either way
    }
  }
  if (b.length < 4) return `file too short (${size} bytes) to be a native addon`;
  const le32 = new DataView(b.buffer).getUint32(0, true);
  const be32 = new DataView(b.buffer).getUint32(0, false);
  const whole = b.length === size;
  let extent: Verdict;
  if (b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46) extent = elfExtent(b, whole);
  else if (le32 === 0xfeedfacf || le32 === 0xfeedface) extent = machoExtent(b, true, le32 === 0xfeedfacf, whole);
  else if (be32 === 0xfeedfacf || be32 === 0xfeedface) extent = machoExtent(b, false, be32 === 0xfeedfacf, whole);
  else if (be32 === 0xcafebabe || be32 === 0xcafebabf) extent = fatExtent(b, be32 === 0xcafebabf, whole);
  else if (b[0] === 0x4d && b[1] === 0x5a) extent = peExtent(b, whole);
  else return null; // not a format checked here: dlopen says what it is
  if (extent === null) return null;
  if (typeof extent === 'string') return `damaged: ${extent}`;
  if (extent.need <= size) return null;
  if (extent.need >= PLAUSIBLE_BYTES) return `damaged: its headers place ${extent.what} past any plausible file size`;
  const crash = extent.mapped === true ? '; loading it would end the process with SIGBUS' : '';
  return `truncated: its headers place ${extent.what} up to byte ${extent.need}, but the file has ${size} bytes (an interrupted download or copy, or a full disk${crash})`;
}
