// Whether a native binary's own headers fit inside the file, checked before dlopen. A .node file
// cut short (an interrupted download or copy, a full disk) is mapped by the OS loader as if it were
// whole, and the first touch of a page past the end of the file kills the process with SIGBUS:
// no exception, no message (a newcomer's check, 2026-12-01: `head -c 200000` of the prebuild, then
// require, exit 135). Formats: ELF (Linux, the BSDs), Mach-O (macOS, fat or thin), PE (Windows).
// Only the headers are read: the first 64 KiB, then each header table where the file says it is
// (an attack put the ELF program headers at the end of the file, past a fixed prefix).
//
// What this cannot prevent: a file replaced or cut while dlopen maps it (dlopen opens it again by
// path). The size is the open descriptor's, taken after the headers are read.

import type * as FsModule from 'node:fs';

// No imports but types: scripts/install.js requires this file alone (a prebuild is checked before
// anything else of the package runs). The constructors it uses are captured here, as
// lib/primordials.ts captures them for the rest of the package.
const Uint8ArrayCtor = Uint8Array;
const DataViewCtor = DataView;

/** The first read: every format's fixed header, and most files' header tables. */
const HEADER_BYTES = 64 * 1024;
/** A header table larger than this (ELF program headers, Mach-O load commands, PE sections) is damage. */
const MAX_TABLE_BYTES = 16 * 1024 * 1024;
/** Extents past this (256 TiB) are no file's: the headers are damaged, not the file cut short. */
const PLAUSIBLE_BYTES = 2 ** 48;

/** A little-/big-endian reader over some bytes of the file that answers null past their end. */
class HeaderView {
  private readonly view: DataView;
  constructor(
    bytes: Uint8Array,
    private readonly little: boolean,
  ) {
    this.view = new DataViewCtor(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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

/** A parser's answer: the extent, or a string saying how the headers are damaged. */
type Verdict = Extent | string;

/** The file's bytes [offset, offset + length), or a string saying why they cannot be had. */
type Reader = (offset: number, length: number, what: string) => Uint8Array | Extent | string;

function furthest(regions: readonly Extent[]): Extent {
  let best: Extent = { need: 0, what: '' };
  for (const r of regions) if (r.need > best.need) best = r;
  return best;
}

/** ELF: the loadable segments (PT_LOAD) and the section header table. */
function elfExtent(head: Uint8Array, read: Reader): Verdict {
  const cls = head[4];
  const data = head[5];
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) return 'an ELF file with an unknown class or byte order';
  const little = data === 1;
  const h = new HeaderView(head, little);
  const is64 = cls === 2;
  const phoff = is64 ? h.u64(32) : h.u32(28);
  const shoff = is64 ? h.u64(40) : h.u32(32);
  const phentsize = h.u16(is64 ? 54 : 42);
  let phnum = h.u16(is64 ? 56 : 44);
  const shentsize = h.u16(is64 ? 58 : 46);
  const shnum = h.u16(is64 ? 60 : 48);
  if (phoff === null || shoff === null || phentsize === null || phnum === null || shentsize === null || shnum === null) return 'an ELF header cut short';
  const regions: Extent[] = [];
  if (shoff !== 0) regions.push({ need: shoff + Math.max(shnum, 1) * shentsize, what: 'its section headers' });
  if (phnum === 0xffff) {
    // PN_XNUM: the count is section header 0's sh_info.
    if (shoff === 0) return 'an ELF file whose program header count is in a section table it does not have';
    const sh0 = read(shoff, shentsize, 'its section headers');
    if (!(sh0 instanceof Uint8ArrayCtor)) return sh0;
    const info = new HeaderView(sh0, little).u32(is64 ? 44 : 28);
    if (info === null) return 'an ELF section header cut short';
    phnum = info;
  }
  if (phnum > 0 && phentsize < (is64 ? 56 : 32)) return 'ELF program headers shorter than the format defines';
  const table = read(phoff, phnum * phentsize, 'its program headers');
  if (!(table instanceof Uint8ArrayCtor)) return table;
  const t = new HeaderView(table, little);
  for (let i = 0; i < phnum; i++) {
    const at = i * phentsize;
    if (t.u32(at) !== 1) continue; // PT_LOAD only: what the loader maps
    const offset = is64 ? t.u64(at + 8) : t.u32(at + 4);
    const filesz = is64 ? t.u64(at + 32) : t.u32(at + 16);
    if (offset === null || filesz === null) return 'an ELF program header cut short';
    regions.push({ need: offset + filesz, what: 'a loadable segment', mapped: true });
  }
  return furthest(regions);
}

/** Mach-O fat: each architecture's slice (the fat header is big-endian; 0xcafebabf has 64-bit offsets). */
function fatExtent(head: Uint8Array, wide: boolean, read: Reader): Verdict {
  const n = new HeaderView(head, false).u32(4);
  if (n === null) return 'a Mach-O header cut short';
  const entry = wide ? 32 : 20;
  const table = read(8, n * entry, 'its architecture table');
  if (!(table instanceof Uint8ArrayCtor)) return table;
  const t = new HeaderView(table, false);
  const regions: Extent[] = [];
  for (let i = 0; i < n; i++) {
    const at = i * entry;
    const offset = wide ? t.u64(at + 8) : t.u32(at + 8);
    const size = wide ? t.u64(at + 16) : t.u32(at + 12);
    if (offset === null || size === null) return 'a Mach-O architecture entry cut short';
    regions.push({ need: offset + size, what: 'an architecture slice', mapped: true });
  }
  return furthest(regions);
}

/** Mach-O thin: its segments (LC_SEGMENT_64 / LC_SEGMENT). */
function machoExtent(head: Uint8Array, little: boolean, is64: boolean, read: Reader): Verdict {
  const h = new HeaderView(head, little);
  const ncmds = h.u32(16);
  const sizeofcmds = h.u32(20);
  if (ncmds === null || sizeofcmds === null) return 'a Mach-O header cut short';
  const cmds = read(is64 ? 32 : 28, sizeofcmds, 'its load commands');
  if (!(cmds instanceof Uint8ArrayCtor)) return cmds;
  const t = new HeaderView(cmds, little);
  const regions: Extent[] = [];
  let at = 0;
  for (let i = 0; i < ncmds; i++) {
    const cmd = t.u32(at);
    const size = t.u32(at + 4);
    if (cmd === null || size === null) return 'Mach-O load commands past their stated size';
    if (size < 8) return 'a Mach-O load command shorter than its own header';
    if (cmd === 0x19 || cmd === 0x1) {
      // LC_SEGMENT_64: fileoff at +40, filesize at +48; LC_SEGMENT: +32, +36.
      const fileoff = cmd === 0x19 ? t.u64(at + 40) : t.u32(at + 32);
      const filesize = cmd === 0x19 ? t.u64(at + 48) : t.u32(at + 36);
      if (fileoff === null || filesize === null) return 'a Mach-O segment command cut short';
      regions.push({ need: fileoff + filesize, what: 'a segment', mapped: true });
    }
    at += size;
  }
  return furthest(regions);
}

/** PE: the section table's raw data (Windows refuses a cut PE with an error; nothing is mapped past the end). */
function peExtent(head: Uint8Array, read: Reader): Verdict {
  const pe = new HeaderView(head, true).u32(0x3c);
  if (pe === null) return 'a DOS header cut short';
  const coff = read(pe, 24, 'its PE header');
  if (!(coff instanceof Uint8ArrayCtor)) return coff;
  const c = new HeaderView(coff, true);
  if (c.u32(0) !== 0x00004550) return 'an MZ file with no PE header';
  const nsect = c.u16(6)!;
  const optSize = c.u16(20)!;
  const tableAt = pe + 24 + optSize;
  const table = read(tableAt, nsect * 40, 'its section table');
  if (!(table instanceof Uint8ArrayCtor)) return table;
  const t = new HeaderView(table, true);
  const regions: Extent[] = [];
  for (let i = 0; i < nsect; i++) {
    const rawSize = t.u32(i * 40 + 16)!;
    const rawPtr = t.u32(i * 40 + 20)!;
    if (rawSize > 0) regions.push({ need: rawPtr + rawSize, what: 'a section' });
  }
  return furthest(regions);
}

/**
 * Why the binary at `file` must not be loaded, or null: its headers name bytes past the end of
 * the file (cut short) or are damaged, or it is no binary format this checks (a text file, an
 * empty file: left to dlopen). The size is the open file's, after the reads. An open or read
 * error is left to dlopen, which reports it.
 */
export function truncatedBinary(fs: Pick<typeof FsModule, 'openSync' | 'readSync' | 'closeSync' | 'fstatSync'>, file: string): string | null {
  // A read that fails leaves it to dlopen, which says what is wrong with the file.
  return withOpenFile(fs, file, (fd) => checkOpen(fs, fd));
}

/** read(fd) on `file` opened for reading, then closed; null when it cannot be opened or read throws. */
function withOpenFile<T>(fs: Pick<typeof FsModule, 'openSync' | 'closeSync'>, file: string, read: (fd: number) => T | null): T | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    return read(fd);
  } catch {
    return null;
  } finally {
    try {
      fs.closeSync(fd);
    } catch {
      // nothing to do: the descriptor is gone either way
    }
  }
}

function checkOpen(fs: Pick<typeof FsModule, 'readSync' | 'fstatSync'>, fd: number): string | null {
  const readAt = (offset: number, length: number): Uint8Array => {
    const b = new Uint8ArrayCtor(length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(fd, b, got, length - got, offset + got);
      if (n <= 0) break;
      got += n;
    }
    return got === length ? b : b.subarray(0, got);
  };
  const first = fs.fstatSync(fd).size;
  const head = readAt(0, Math.min(first, HEADER_BYTES));
  if (head.length < 4) return head.length === first ? `file too short (${first} bytes) to be a native addon` : null;
  // A header table where the file says it is: from the first read when it lies there, past the
  // file's end an extent (the file was cut), too large for a table damage.
  const read: Reader = (offset, length, what) => {
    if (length > MAX_TABLE_BYTES) return `${what} of ${length} bytes, more than any binary has`;
    if (offset + length > first) return { need: offset + length, what };
    if (offset + length <= head.length) return head.subarray(offset, offset + length);
    const b = readAt(offset, length);
    return b.length === length ? b : { need: offset + length, what };
  };
  const le32 = new HeaderView(head, true).u32(0);
  const be32 = new HeaderView(head, false).u32(0);
  let extent: Verdict;
  if (head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46) extent = elfExtent(head, read);
  else if (le32 === 0xfeedfacf || le32 === 0xfeedface) extent = machoExtent(head, true, le32 === 0xfeedfacf, read);
  else if (be32 === 0xfeedfacf || be32 === 0xfeedface) extent = machoExtent(head, false, be32 === 0xfeedfacf, read);
  else if (be32 === 0xcafebabe || be32 === 0xcafebabf) extent = fatExtent(head, be32 === 0xcafebabf, read);
  else if (head[0] === 0x4d && head[1] === 0x5a) extent = peExtent(head, read);
  else return null; // not a format checked here: dlopen says what it is
  // The size now, on the open file: a file that shrank since the first look is judged by what it has.
  const size = Math.min(first, fs.fstatSync(fd).size);
  if (typeof extent === 'string') return `damaged: ${extent}`;
  if (extent.need <= size) return null;
  if (extent.need >= PLAUSIBLE_BYTES) return `damaged: its headers place ${extent.what} past any plausible file size`;
  const crash = extent.mapped === true ? '; loading it would end the process with SIGBUS' : '';
  return `truncated: its headers place ${extent.what} up to byte ${extent.need}, but the file has ${size} bytes (an interrupted download or copy, or a full disk${crash})`;
}

/** ELF e_machine values of the architectures Node runs on, by process.arch. */
const ELF_MACHINES: Readonly<Record<number, string>> = { 0x03: 'ia32', 0x28: 'arm', 0x3e: 'x64', 0xb7: 'arm64', 0xf3: 'riscv64', 0x15: 'ppc64', 0x16: 's390x', 0x102: 'loong64' };

/**
 * The architecture an ELF file is built for, in process.arch's words, or null where that cannot be
 * told (not an ELF file, an unknown machine, a read error). For the loader's message: dlopen calls
 * another architecture's file "cannot open shared object file: No such file or directory".
 */
export function elfArch(fs: Pick<typeof FsModule, 'openSync' | 'readSync' | 'closeSync'>, file: string): string | null {
  return withOpenFile(fs, file, (fd) => {
    const b = new Uint8ArrayCtor(20);
    if (fs.readSync(fd, b, 0, 20, 0) < 20) return null;
    if (!(b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46)) return null;
    const machine = b[5] === 2 ? (b[18]! << 8) | b[19]! : b[18]! | (b[19]! << 8);
    return ELF_MACHINES[machine] ?? null;
  });
}
