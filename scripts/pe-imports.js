#!/usr/bin/env node
// What a Windows binary (PE32+) needs at load time, read from the file itself: the DLLs and
// functions of its import table and its delay-import table, its exports, the OS version in its
// header, and whether it is stripped. The win32 counterpart of scripts/elf-floor.js:
//   node scripts/pe-imports.js <file.node>
// win32Problems() holds the win32-x64 addon that mingw-w64 builds (CMakeLists.txt, MINGW) to what
// it promises: Node-API from node.exe only (delay-loaded), otherwise system DLLs only, so no
// libstdc++-6.dll, libgcc_s_seh-1.dll or libwinpthread-1.dll next to it.
//
// Why not `objdump -p` alone: binutils 2.40's ld leaves the delay-import entry of the data
// directory empty, so objdump does not list the delay-loaded node.exe at all. The descriptor is
// still in the file (the delay-load helper is handed its address); it is found by its shape.
'use strict';
const fs = require('node:fs');

const IMAGE_FILE_MACHINE_AMD64 = 0x8664;
const DIR_IMPORT = 1;
const DIR_DELAY_IMPORT = 13;

/** Parses a PE32+ file: sections, data directories, and an RVA reader. */
function readPe(buf) {
  if (buf.length < 0x40 || buf.toString('latin1', 0, 2) !== 'MZ') throw new Error('not a PE file (no MZ header)');
  const pe = buf.readUInt32LE(0x3c);
  if (buf.toString('latin1', pe, pe + 4) !== 'PE\0\0') throw new Error('not a PE file (no PE signature)');
  const coff = pe + 4;
  const machine = buf.readUInt16LE(coff);
  const nSections = buf.readUInt16LE(coff + 2);
  const symbolTable = buf.readUInt32LE(coff + 8);
  const nSymbols = buf.readUInt32LE(coff + 12);
  const optSize = buf.readUInt16LE(coff + 16);
  const characteristics = buf.readUInt16LE(coff + 18);
  const opt = coff + 20;
  if (buf.readUInt16LE(opt) !== 0x20b) throw new Error('not PE32+ (a 64-bit image)');
  const header = {
    osVersion: `${buf.readUInt16LE(opt + 40)}.${buf.readUInt16LE(opt + 42)}`,
    subsystemVersion: `${buf.readUInt16LE(opt + 48)}.${buf.readUInt16LE(opt + 50)}`,
  };
  const nDirs = buf.readUInt32LE(opt + 108);
  const dirs = [];
  for (let i = 0; i < nDirs; i++) dirs.push({ rva: buf.readUInt32LE(opt + 112 + 8 * i), size: buf.readUInt32LE(opt + 116 + 8 * i) });
  // Names longer than 8 characters ("/4": .debug_info) index the COFF string table after the symbols.
  const strtab = symbolTable ? symbolTable + 18 * nSymbols : 0;
  const sections = [];
  for (let i = 0, s = opt + optSize; i < nSections; i++, s += 40) {
    let name = buf.toString('latin1', s, s + 8).replace(/\0.*$/s, '');
    if (name.startsWith('/') && strtab) {
      const at = strtab + Number(name.slice(1));
      name = buf.toString('latin1', at, buf.indexOf(0, at));
    }
    sections.push({
      name,
      vaddr: buf.readUInt32LE(s + 12),
      vsize: buf.readUInt32LE(s + 8),
      rawSize: buf.readUInt32LE(s + 16),
      rawPtr: buf.readUInt32LE(s + 20),
    });
  }
  /** The file offset of an RVA, or -1 outside every section's file data. */
  const offset = (rva) => {
    for (const s of sections) {
      if (rva >= s.vaddr && rva < s.vaddr + Math.min(s.vsize || s.rawSize, s.rawSize)) return s.rawPtr + (rva - s.vaddr);
    }
    return -1;
  };
  const cstring = (rva) => {
    const at = offset(rva);
    if (at < 0) return null;
    const end = buf.indexOf(0, at);
    return end < 0 || end - at > 512 ? null : buf.toString('latin1', at, end);
  };
  return { machine, characteristics, symbolTable, nSymbols, header, dirs, sections, offset, cstring };
}

/** The functions a name table (an array of 64-bit thunks ending with 0) lists, or null if it is not one. */
function nameTable(buf, img, rva) {
  const names = [];
  let at = img.offset(rva);
  if (at < 0) return null;
  for (;;) {
    if (at + 8 > buf.length) return null;
    const lo = buf.readUInt32LE(at);
    const hi = buf.readUInt32LE(at + 4);
    if (lo === 0 && hi === 0) return names;
    if (hi & 0x80000000) names.push(`#${lo & 0xffff}`); // by ordinal
    else {
      if (hi !== 0) return null;
      const name = img.cstring(lo + 2); // IMAGE_IMPORT_BY_NAME: a 2-byte hint, then the name
      if (!name || !/^[\x21-\x7e]+$/.test(name)) return null;
      names.push(name);
    }
    at += 8;
    if (names.length > 100000) return null;
  }
}

const isDllName = (s) => s !== null && /^[\x21-\x7e]+\.(dll|exe|drv|sys)$/i.test(s);

/** The import directory: 20-byte descriptors up to an all-zero one. */
function importTable(buf, img) {
  const out = [];
  const dir = img.dirs[DIR_IMPORT];
  if (!dir || !dir.rva) return out;
  for (let at = img.offset(dir.rva); at >= 0 && at + 20 <= buf.length; at += 20) {
    const int = buf.readUInt32LE(at);
    const name = buf.readUInt32LE(at + 12);
    const iat = buf.readUInt32LE(at + 16);
    if (int === 0 && name === 0 && iat === 0) break;
    out.push({ dll: img.cstring(name), functions: nameTable(buf, img, int || iat) ?? [] });
  }
  return out;
}

/**
 * The delay-import descriptors (ImgDelayDescr, 32 bytes: attributes = 1 for RVAs, then the RVAs
 * of the DLL name, module handle, IAT and name table). From the data directory when the linker
 * filled it in (MSVC's link does); otherwise every 4-byte-aligned spot in the image's sections
 * where such a descriptor fits, with a valid DLL name and a name table of valid function names.
 */
function delayImportTable(buf, img) {
  const parse = (at) => {
    if (at < 0 || at + 32 > buf.length || buf.readUInt32LE(at) !== 1) return null;
    const dll = img.cstring(buf.readUInt32LE(at + 4));
    if (!isDllName(dll)) return null;
    const hmod = buf.readUInt32LE(at + 8);
    const iat = buf.readUInt32LE(at + 12);
    if (img.offset(hmod) < 0 && !img.sections.some((s) => hmod >= s.vaddr && hmod < s.vaddr + s.vsize)) return null;
    if (img.offset(iat) < 0) return null;
    const functions = nameTable(buf, img, buf.readUInt32LE(at + 16));
    return functions && functions.length ? { dll, functions } : null;
  };
  const dir = img.dirs[DIR_DELAY_IMPORT];
  const out = [];
  if (dir && dir.rva) {
    for (let at = img.offset(dir.rva); ; at += 32) {
      const d = parse(at);
      if (!d) break;
      out.push(d);
    }
    return { found: 'data directory', descriptors: out };
  }
  for (const s of img.sections) {
    if (s.name.startsWith('.debug')) continue;
    for (let at = s.rawPtr; at + 32 <= s.rawPtr + s.rawSize; at += 4) {
      const d = parse(at);
      if (d) out.push(d);
    }
  }
  return { found: 'descriptor scan (the data directory entry is empty)', descriptors: out };
}

function exportNames(buf, img) {
  const dir = img.dirs[0];
  if (!dir || !dir.rva) return [];
  const at = img.offset(dir.rva);
  const n = buf.readUInt32LE(at + 24);
  const names = img.offset(buf.readUInt32LE(at + 32));
  const out = [];
  for (let i = 0; i < n; i++) out.push(img.cstring(buf.readUInt32LE(names + 4 * i)));
  return out;
}

/**
 * @returns {{ machine: string, osVersion: string, subsystemVersion: string,
 *   imports: { dll: string, functions: string[] }[], delayImports: { dll: string, functions: string[] }[],
 *   delayFoundBy: string, exports: string[], stripped: boolean, crt: string }}
 */
function peImports(file) {
  const buf = fs.readFileSync(file);
  const img = readPe(buf);
  const imports = importTable(buf, img);
  const delay = delayImportTable(buf, img);
  const dlls = [...imports, ...delay.descriptors].map((d) => d.dll.toLowerCase());
  // Which C runtime: msvcrt.dll (the system's, mingw-w64's default), the Universal CRT
  // (ucrtbase.dll / api-ms-win-crt-*, Windows 10's, an update on older ones), or MSVC's DLLs.
  const crt = dlls.includes('msvcrt.dll') ? 'msvcrt'
    : dlls.some((d) => d === 'ucrtbase.dll' || d.startsWith('api-ms-win-crt-')) ? 'ucrt'
      : dlls.some((d) => /^(vcruntime|msvcp)\d+/.test(d)) ? 'msvc' : 'none';
  return {
    machine: img.machine === IMAGE_FILE_MACHINE_AMD64 ? 'x64' : `0x${img.machine.toString(16)}`,
    osVersion: img.header.osVersion,
    subsystemVersion: img.header.subsystemVersion,
    imports,
    delayImports: delay.descriptors,
    delayFoundBy: delay.found,
    exports: exportNames(buf, img),
    // strip --strip-all drops the COFF symbol table and the .debug_* sections.
    stripped: img.symbolTable === 0 && img.nSymbols === 0 && !img.sections.some((s) => s.name.startsWith('.debug')),
    crt,
  };
}

/** System32 DLLs (present on every Windows from 7 on) the addon may import besides node.exe. */
const SYSTEM_DLLS = ['kernel32.dll', 'ntdll.dll', 'msvcrt.dll', 'advapi32.dll', 'user32.dll', 'ws2_32.dll', 'bcrypt.dll', 'shell32.dll', 'ole32.dll'];
/** The mingw-w64 runtime DLLs that a non-static link needs beside the addon (Windows has none of them). */
const MINGW_RUNTIME = /^(libstdc\+\+-\d+|libgcc_s_[a-z0-9_]+-\d+|libwinpthread-\d+|libgomp-\d+|libssp-\d+)\.dll$/i;

/** The ways `r` (from peImports) breaks what the win32-x64 addon promises; [] when it holds. */
function win32Problems(r) {
  const problems = [];
  if (r.machine !== 'x64') problems.push(`machine ${r.machine}, not x64`);
  for (const { dll, functions } of [...r.imports, ...r.delayImports]) {
    const lower = dll.toLowerCase();
    if (lower === 'node.exe') {
      const other = functions.filter((f) => !/^(napi|node_api)_/.test(f));
      if (other.length) problems.push(`imports ${other.join(', ')} from node.exe: only Node-API functions are exported by every Node`);
    } else if (MINGW_RUNTIME.test(dll)) {
      problems.push(`imports ${dll}: the mingw-w64 runtime is not linked in (-static)`);
    } else if (!SYSTEM_DLLS.includes(lower) && !lower.startsWith('api-ms-win-')) {
      problems.push(`imports ${dll}, not one of SYSTEM_DLLS (add it there if Windows itself ships it)`);
    }
  }
  if (![...r.imports, ...r.delayImports].some((d) => d.dll.toLowerCase() === 'node.exe')) problems.push('imports nothing from node.exe (no Node-API?)');
  if (!r.exports.includes('napi_register_module_v1')) problems.push('does not export napi_register_module_v1');
  return problems;
}

module.exports = { peImports, win32Problems, SYSTEM_DLLS };

if (require.main === module) {
  const [file] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node scripts/pe-imports.js <file>');
    process.exit(2);
  }
  const r = peImports(file);
  console.log(`${file}: PE32+ ${r.machine}, ${r.stripped ? 'stripped' : 'NOT stripped'}; C runtime ${r.crt}; header OS version ${r.osVersion}, subsystem ${r.subsystemVersion}`);
  for (const d of r.imports) console.log(`  imports ${d.dll}: ${d.functions.length} functions`);
  for (const d of r.delayImports) console.log(`  delay-loads ${d.dll}: ${d.functions.length} functions (${r.delayFoundBy})`);
  console.log(`  exports ${r.exports.slice(0, 4).join(', ')}${r.exports.length > 4 ? `, … (${r.exports.length})` : ''}`);
  const problems = win32Problems(r);
  console.log(problems.length ? `  problems: ${problems.join('; ')}` : '  imports node.exe (Node-API) and system DLLs only');
  process.exit(problems.length ? 1 : 0);
}
