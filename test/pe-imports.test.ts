// The win32-x64 addon cross-compiled with mingw-w64 (npm run prebuildify:win32) must load on a
// Windows machine that has nothing but Node: it may import Node-API from node.exe and system DLLs,
// never the mingw runtime DLLs (libstdc++-6.dll, libgcc_s_seh-1.dll, libwinpthread-1.dll), which
// no Windows ships (CMakeLists.txt, MINGW: -static). Checked on the file's import and delay-import
// tables with scripts/pe-imports.js, the win32 counterpart of scripts/elf-floor.js;
// scripts/ci-win32.sh loads it with Node's Windows binary under wine as well.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { noteSkip, onPath } from './helpers.js';

const requireCjs = createRequire(import.meta.url);
const root = path.resolve(__dirname, '..');

interface Imports { dll: string; functions: string[] }
interface PeReport {
  machine: string;
  imports: Imports[];
  delayImports: Imports[];
  exports: string[];
  stripped: boolean;
  crt: string;
}
const { peImports, win32Problems } = requireCjs('../scripts/pe-imports.js') as {
  peImports(file: string): PeReport;
  win32Problems(r: PeReport): string[];
};

const MINGW = 'x86_64-w64-mingw32-';
const haveMingw = ['g++-posix', 'dlltool', 'objdump'].every((t) => onPath(MINGW + t));

/** The DLL names `objdump -p` lists in the import table. */
function objdumpDlls(file: string): string[] {
  const out = execFileSync(`${MINGW}objdump`, ['-p', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return [...out.matchAll(/^\tDLL Name: (\S+)$/gm)].map((m) => m[1]!).sort();
}

const nodeApiDef = (requireCjs('node-api-headers') as { def_paths: { node_api_def: string } }).def_paths.node_api_def;
const nodeApiFunctions = new Set(readFileSync(nodeApiDef, 'utf8').split(/\r?\n/).slice(2).map((l) => l.trim()).filter(Boolean));

const prebuildDir = path.join(root, 'prebuilds', 'win32-x64');
const prebuilds = existsSync(prebuildDir) ? readdirSync(prebuildDir).filter((f) => f.endsWith('.node')).map((f) => path.join(prebuildDir, f)) : [];

describe('the win32-x64 addon imports Node-API and system DLLs only', () => {
  it.skipIf(noteSkip(prebuilds.length === 0, 'pe-imports: every win32 prebuild', 'none here (npm run prebuildify:win32 makes it)'))(`every win32 prebuild (${prebuilds.length ? prebuilds.map((f) => path.relative(root, f)).join(', ') : 'none here: npm run prebuildify:win32 makes it'})`, () => {
    for (const file of prebuilds) {
      const r = peImports(file);
      expect(win32Problems(r), file).toEqual([]);
      expect(r.stripped).toBe(true);
      expect(r.crt).toBe('msvcrt');
      // Every Node-API function it delay-loads is one node.exe exports (node-api-headers' list).
      const fromNode = r.delayImports.filter((d) => d.dll.toLowerCase() === 'node.exe').flatMap((d) => d.functions);
      expect(fromNode.length).toBeGreaterThan(20);
      expect(fromNode.filter((f) => !nodeApiFunctions.has(f))).toEqual([]);
      if (haveMingw) expect(r.imports.map((d) => d.dll).sort()).toEqual(objdumpDlls(file));
    }
  });

  // The check is not vacuous, and the link recipe holds: the same std::thread code linked as the
  // addon is (-static, Node-API delay-loaded from node.exe) passes; linked the default way it fails.
  it.skipIf(!haveMingw)('a mingw-w64 DLL of std::thread code: -static passes, the default link needs the mingw runtime DLLs', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sqex-pe-'));
    try {
      const src = path.join(dir, 'mod.cpp');
      writeFileSync(src, [
        '#include <thread>',
        '#include <string>',
        '#include <node_api.h>',
        'static napi_value Init(napi_env env, napi_value exports) {',
        '  std::string s = "x"; std::thread t([&] { s += "y"; }); t.join();',
        '  napi_value v; napi_create_string_utf8(env, s.c_str(), s.size(), &v); return v;',
        '}',
        'NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)',
        '',
      ].join('\n'));
      const delaylib = path.join(dir, 'libnode_api_delay.a');
      execFileSync(`${MINGW}dlltool`, ['--input-def', nodeApiDef, '--dllname', 'node.exe', '--output-delaylib', delaylib]);
      const include = (requireCjs('node-api-headers') as { include_dir: string }).include_dir;
      const link = (out: string, extra: string[]): PeReport => {
        const file = path.join(dir, out);
        execFileSync(`${MINGW}g++-posix`, ['-std=c++17', '-O2', '-shared', `-I${include}`, src, '-o', file, delaylib, ...extra]);
        return peImports(file);
      };
      const statik = link('static.node', ['-static', '-s']);
      expect(win32Problems(statik)).toEqual([]);
      expect(statik.delayImports.map((d) => d.dll)).toEqual(['node.exe']);
      expect(statik.stripped).toBe(true);
      const dynamic = link('dynamic.node', []);
      const problems = win32Problems(dynamic);
      expect(problems.some((p) => /libstdc\+\+-6\.dll/.test(p))).toBe(true);
      expect(dynamic.stripped).toBe(false);
      expect(dynamic.imports.map((d) => d.dll).sort()).toEqual(objdumpDlls(path.join(dir, 'dynamic.node')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
