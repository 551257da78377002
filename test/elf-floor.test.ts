// The Linux addon that cmake-js builds (and `npm run prebuildify` ships) must load on every glibc
// from 2.28 on (Node 20's own floor: RHEL 8, Ubuntu 20.04, Debian 10) with whatever libstdc++ the
// system has, however new the machine that built it (CMakeLists.txt, SQEX_PORTABLE_GLIBC;
// native/compat/glibc_compat.S). Checked on the binary's dynamic symbol versions (objdump -T) and
// DT_NEEDED entries; scripts/ci-old-glibc.sh loads it under a real glibc 2.31 as well.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { noteSkip, onPath } from './helpers.js';

const requireCjs = createRequire(import.meta.url);
const root = path.resolve(__dirname, '..');

interface Floor {
  needed: string[];
  floor: Record<string, { version: string; symbols: string[] }>;
  stripped: boolean;
  undefinedOwn: string[];
}
const { elfFloor, portabilityProblems } = requireCjs('../scripts/elf-floor.js') as {
  elfFloor(file: string, objdump?: string): Floor;
  portabilityProblems(r: Floor): string[];
};
const { loadBinding, bindingPath } = requireCjs('../dist/backend/load.js') as {
  loadBinding(): { info(): { buildSystem: string; portableLink?: boolean } };
  bindingPath(): string | null;
};


/** The objdump that reads this ELF file (by e_machine), or null when none is installed. */
function objdumpFor(file: string): string | null {
  const machine = readFileSync(file).readUInt16LE(18);
  const tool = machine === 62 ? (process.arch === 'x64' ? 'objdump' : 'x86_64-linux-gnu-objdump')
    : machine === 183 ? (process.arch === 'arm64' ? 'objdump' : 'aarch64-linux-gnu-objdump')
      : null;
  return tool && onPath(tool) ? tool : null;
}

const glibc = process.platform === 'linux' &&
  Boolean((process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime);

function loadedAddon(): { file: string | null; why: string | null } {
  if (!glibc) return { file: null, why: `the portable link is for Linux/glibc; this is ${process.platform}` };
  const file = bindingPath();
  if (!file) return { file: null, why: 'no addon loads here' };
  const info = loadBinding().info();
  if (info.buildSystem !== 'cmake') return { file: null, why: `the addon in use was built by ${info.buildSystem} for this machine (the portable link is the cmake-js build's, which ships)` };
  // A checkout on a system without a static libstdc++ builds for itself (CMake warns); the
  // prebuild scripts refuse to do that, so the shipped binaries are checked there and below.
  if (info.portableLink === false) return { file: null, why: 'the addon in use was built without the portable link (no static libstdc++ on the build machine; CMake said so)' };
  if (!objdumpFor(file)) return { file: null, why: 'objdump (binutils) is not installed' };
  return { file, why: null };
}

function prebuilt(): string[] {
  const dir = path.join(root, 'prebuilds');
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.node') && /^linux-/.test(path.relative(dir, p))) found.push(p);
    }
  };
  walk(dir);
  return found;
}

describe('Linux binaries load on glibc >= 2.28 with any libstdc++', () => {
  const addon = loadedAddon();
  it.skipIf(addon.file === null)(`the addon in use (${addon.why ?? 'cmake-js build'})`, () => {
    const file = addon.file as string;
    const r = elfFloor(file, objdumpFor(file) as string);
    expect(portabilityProblems(r), `${file}: GLIBC floor ${r.floor.GLIBC?.version}`).toEqual([]);
    // The libstdc++ and pthread references are really there, bound to old versions.
    expect(r.floor.GLIBC).toBeDefined();
    expect(r.needed).toContain('libc.so.6');
  });

  const files = prebuilt();
  it.skipIf(noteSkip(files.length === 0 || !glibc, 'elf-floor: every linux prebuild', !glibc ? 'not a glibc system' : 'no prebuilds/linux-* here (npm run prebuildify makes them)'))(`every linux prebuild (${files.length ? files.map((f) => path.relative(root, f)).join(', ') : 'none here: npm run prebuildify makes them'})`, () => {
    const checked: string[] = [];
    for (const file of files) {
      const objdump = objdumpFor(file);
      if (!objdump) continue; // e.g. an arm64 prebuild where the cross binutils are not installed
      expect(portabilityProblems(elfFloor(file, objdump)), file).toEqual([]);
      checked.push(file);
    }
    expect(checked.length).toBeGreaterThan(0);
  });

  // The check is not vacuous: a library linked the ordinary way on this machine fails it.
  it.skipIf(!glibc || !onPath('g++') || !onPath('objdump'))('a plain g++ -shared build of std::thread code fails the check', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sqex-elf-'));
    try {
      const src = path.join(dir, 'plain.cpp');
      // ...and one of the addon's own functions declared but defined nowhere (it links, then fails
      // with "symbol lookup error" when called).
      writeFileSync(src, '#include <thread>\n#include <string>\nnamespace sqex { int declared_only(); struct A { int f() const; }; }\n' +
        'std::string f(const char* s) { std::thread t([] {}); t.join(); return std::string(s) + "x" + std::to_string(sqex::declared_only() + sqex::A().f()); }\n');
      const so = path.join(dir, 'plain.so');
      execFileSync('g++', ['-std=c++17', '-shared', '-fPIC', '-O2', src, '-o', so, '-pthread']);
      const problems = portabilityProblems(elfFloor(so));
      expect(problems.some((p) => /GLIBCXX/.test(p))).toBe(true);
      expect(problems.some((p) => /libpthread\.so\.0/.test(p))).toBe(true);
      const undefinedLine = problems.find((p) => / undefined \(/.test(p)) ?? '';
      expect(undefinedLine).toContain('_ZN4sqex13declared_onlyEv'); // a function
      expect(undefinedLine).toContain('_ZNK4sqex1A1fEv'); // a const member function
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
