#!/usr/bin/env node
// The oldest glibc / libstdc++ a Linux binary can load on, read from its dynamic symbol versions
// (`objdump -T`) and its DT_NEEDED entries (`objdump -p`): for each version namespace (GLIBC_,
// GLIBCXX_, CXXABI_, GCC_) the highest version it references and the symbols that need it.
//   node scripts/elf-floor.js <file.node> [objdump]      (objdump defaults to `objdump`; for an
//   arm64 binary on an x86-64 host pass aarch64-linux-gnu-objdump)
// portabilityProblems() holds a cmake-built Linux addon to the floor CMakeLists.txt promises
// (SQEX_PORTABLE_GLIBC, native/compat/glibc_compat.S): glibc 2.28, no libstdc++ versions.
'use strict';
const { execFileSync } = require('node:child_process');

function cmpVersion(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * @returns {{ needed: string[], floor: Record<string, { version: string, symbols: string[] }>, stripped: boolean }}
 */
function elfFloor(file, objdump = 'objdump') {
  const dynsyms = execFileSync(objdump, ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const floor = {};
  // A shared object may leave symbols undefined: it links, and fails only when one is called
  // ("symbol lookup error"). Only the addon itself can define a --wrap=NAME's __wrap_NAME or a
  // function of its own namespace (one declared in a header and defined inside an anonymous
  // namespace links like this): list them.
  const undefinedOwn = [...dynsyms.matchAll(/\*UND\*.*\s((?:__wrap_|_ZNK?4sqex)\S+)$/gm)].map((m) => m[1]);
  for (const line of dynsyms.split('\n')) {
    // 0000000000000000      DF *UND*  0000000000000000 (GLIBC_2.17) pthread_create
    const m = /\*UND\*\s+\S+\s+(?:\()?(GLIBC|GLIBCXX|CXXABI|GCC)_([0-9.]+)\)?\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, ns, version, symbol] = m;
    const cur = floor[ns];
    if (!cur || cmpVersion(version, cur.version) > 0) floor[ns] = { version, symbols: [symbol] };
    else if (cmpVersion(version, cur.version) === 0 && !cur.symbols.includes(symbol)) cur.symbols.push(symbol);
  }
  const headers = execFileSync(objdump, ['-p', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const needed = [...headers.matchAll(/^\s*NEEDED\s+(\S+)/gm)].map((m) => m[1]);
  // A stripped file has no static symbol table: `objdump -t` prints "no symbols".
  const stripped = /no symbols/.test(execFileSync(objdump, ['-t', file], { encoding: 'utf8', maxBuffer: 256 << 20 }));
  return { needed, floor, stripped, undefinedOwn };
}

/** What the portable link (CMakeLists.txt, SQEX_PORTABLE_GLIBC) promises for a Linux addon. */
const PORTABLE = {
  maxVersion: { GLIBC: '2.28', GCC: '4.2.0' }, // Node 20's own official binaries need glibc 2.28
  forbidden: ['GLIBCXX', 'CXXABI'], // libstdc++ is linked in
  // Where glibc < 2.34 the pre-2.34 symbol versions live here (stubs from 2.34 on).
  needed: ['libpthread.so.0', 'libdl.so.2', 'librt.so.1'],
};

/** The ways `r` (from elfFloor) breaks the portable floor; [] when it holds. */
function portabilityProblems(r) {
  const problems = [];
  for (const [ns, max] of Object.entries(PORTABLE.maxVersion)) {
    const f = r.floor[ns];
    if (f && cmpVersion(f.version, max) > 0) {
      problems.push(`needs ${ns}_${f.version} (${f.symbols.join(', ')}), above ${ns}_${max}: add the symbol to native/compat/glibc_compat.S`);
    }
  }
  for (const ns of PORTABLE.forbidden) {
    if (r.floor[ns]) problems.push(`needs ${ns}_${r.floor[ns].version} (${r.floor[ns].symbols.join(', ')}): libstdc++ is not linked in`);
  }
  for (const lib of PORTABLE.needed) if (!r.needed.includes(lib)) problems.push(`does not list ${lib} as DT_NEEDED`);
  if (r.undefinedOwn.length) problems.push(`leaves ${r.undefinedOwn.join(', ')} undefined (a --wrap without its stub, or an sqex function declared but not defined)`);
  return problems;
}

/**
 * For the prebuild scripts: on Linux/glibc, the portability problems of a release binary as
 * lines to print (empty when it holds or the host is not Linux/glibc). A prebuild without the
 * portable link would load only on glibc and libstdc++ as new as the build machine's.
 */
function releaseProblems(file, objdump = 'objdump') {
  const glibc = process.platform === 'linux' && process.report?.getReport()?.header?.glibcVersionRuntime;
  if (!glibc) return [];
  const problems = portabilityProblems(elfFloor(file, objdump));
  if (problems.length === 0) return [];
  return [
    `squeeze-excite: ${file} would not load on glibc 2.28 or an older libstdc++: ${problems.join('; ')}.`,
    'The portable link needs a static libstdc++ on the build machine (RHEL/Fedora/Amazon Linux: dnf install libstdc++-static;',
    'CMake warned "no static libstdc++" when it configured). A prebuild is not made without it.',
  ];
}

module.exports = { elfFloor, portabilityProblems, releaseProblems, PORTABLE };

if (require.main === module) {
  const [file, objdump] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node scripts/elf-floor.js <file> [objdump]');
    process.exit(2);
  }
  const r = elfFloor(file, objdump);
  console.log(`${file}: ${r.stripped ? 'stripped' : 'NOT stripped (has .symtab)'}; needs ${r.needed.join(', ')}`);
  for (const [ns, { version, symbols }] of Object.entries(r.floor)) {
    console.log(`  ${ns}_${version}: ${symbols.slice(0, 6).join(', ')}${symbols.length > 6 ? `, … (${symbols.length})` : ''}`);
  }
  const problems = portabilityProblems(r);
  console.log(problems.length ? `  not portable (SQEX_PORTABLE_GLIBC): ${problems.join('; ')}` : `  portable: glibc >= ${PORTABLE.maxVersion.GLIBC}, any libstdc++`);
}
