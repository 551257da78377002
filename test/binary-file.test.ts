// The loader's check that a native binary's headers fit inside the file (lib/backend/binary-file.ts):
// ELF from the addon this suite built, PE and Mach-O from headers made here (no such binaries on
// this machine), each whole and cut short. A text file is left to dlopen.
import { closeSync, mkdtempSync, openSync, readSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadReport } from '../dist/index.js';
import { truncatedBinary } from '../dist/backend/binary-file.js';

const fs = { openSync, readSync, closeSync };
const dir = mkdtempSync(path.join(tmpdir(), 'sqex-binfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function check(bytes: Uint8Array): string | null {
  const file = path.join(dir, `f${n++}.node`);
  writeFileSync(file, bytes);
  return truncatedBinary(fs, file, bytes.length);
}

/** A PE image: DOS header, PE header, an optional header of 240 bytes, two sections. */
function pe(): Uint8Array {
  const b = new Uint8Array(0x2000);
  const v = new DataView(b.buffer);
  b[0] = 0x4d; b[1] = 0x5a; // MZ
  v.setUint32(0x3c, 0x80, true);
  v.setUint32(0x80, 0x00004550, true); // PE\0\0
  v.setUint16(0x80 + 6, 2, true); // sections
  v.setUint16(0x80 + 20, 240, true); // optional header size
  const table = 0x80 + 24 + 240;
  v.setUint32(table + 16, 0x800, true); v.setUint32(table + 20, 0x400, true); // .text: 0x400..0xc00
  v.setUint32(table + 40 + 16, 0x1000, true); v.setUint32(table + 40 + 20, 0x1000, true); // .data: ..0x2000
  return b;
}

/** A 64-bit little-endian Mach-O with one LC_SEGMENT_64 of file bytes 0..0x3000. */
function macho(): Uint8Array {
  const b = new Uint8Array(0x3000);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0xfeedfacf, true);
  v.setUint32(16, 1, true); // ncmds
  v.setUint32(20, 72, true); // sizeofcmds
  v.setUint32(32, 0x19, true); // LC_SEGMENT_64
  v.setUint32(36, 72, true);
  v.setBigUint64(32 + 40, 0n, true); // fileoff
  v.setBigUint64(32 + 48, 0x3000n, true); // filesize
  return b;
}

/** A fat Mach-O (big-endian header) with two slices, the second ending at 0x4000. */
function fat(): Uint8Array {
  const b = new Uint8Array(0x4000);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0xcafebabe, false);
  v.setUint32(4, 2, false);
  v.setUint32(8 + 8, 0x1000, false); v.setUint32(8 + 12, 0x1000, false);
  v.setUint32(28 + 8, 0x2000, false); v.setUint32(28 + 12, 0x2000, false);
  return b;
}

describe('truncatedBinary', () => {
  const built = loadReport().binary;
  test.skipIf(built === null || process.platform !== 'linux')('the ELF addon this suite loaded passes whole and is refused cut anywhere', () => {
    const whole = readFileSync(built!);
    expect(check(whole)).toBeNull();
    for (const cut of [64, 4096, whole.length >> 1, whole.length - 1]) {
      expect(check(whole.subarray(0, cut)), `cut at ${cut}`).toMatch(/^truncated: its headers place .* up to byte \d+, but the file has \d+ bytes/);
    }
    expect(check(whole.subarray(0, 20))).toBe('damaged: an ELF header cut short');
  });
  test.each([['PE', pe], ['Mach-O', macho], ['fat Mach-O', fat]] as const)('%s: whole passes, cut short is refused', (_, make) => {
    const whole = make();
    expect(check(whole)).toBeNull();
    expect(check(whole.subarray(0, whole.length - 1))).toMatch(new RegExp(`^truncated: .* up to byte ${whole.length}, but the file has ${whole.length - 1} bytes`));
  });
  test('files that are no binary format are left to dlopen; three bytes are too short', () => {
    expect(check(new TextEncoder().encode('stands in for a prebuild'))).toBeNull();
    expect(check(new Uint8Array([0x7f, 0x45, 0x4c]))).toMatch(/^file too short \(3 bytes\)/);
  });
});
