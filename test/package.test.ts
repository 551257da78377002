// Issue 4 proof: pack the project with its prebuild, install the tarball into a new project with
// no compiler on PATH, and check that require and import both work and that every op runs.
// The pack happens in a scratch copy of the repo so the build/ used by the other suites is never
// rebuilt under them. Slow (one cmake-js build); .ci/run runs it once, for the cmake build.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const skipReason = process.env.SQEX_SKIP_PACK_TEST ? `SQEX_SKIP_PACK_TEST=${process.env.SQEX_SKIP_PACK_TEST}` : null;
const scratch = mkdtempSync(path.join(tmpdir(), 'sqex-pack-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

// A PATH holding node, npm and sh only (npm runs scripts through sh): no cc, g++, make, cmake,
// nvcc or python.
function toolchainFreePath(): string {
  const bin = path.join(scratch, 'bin');
  mkdirSync(bin, { recursive: true });
  const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
  symlinkSync(process.execPath, path.join(bin, 'node'));
  symlinkSync('/bin/sh', path.join(bin, 'sh'));
  writeFileSync(path.join(bin, 'npm'), `#!/bin/sh\nexec "${process.execPath}" "${npmCli}" "$@"\n`, { mode: 0o755 });
  return bin;
}

const OPS_SCRIPT = `
const check = (sqex, how) => {
  const n = 2, c = 8, h = 5, w = 5, hid = 2, k = 3;
  const x = Float32Array.from({ length: n * c * h * w }, (_, i) => Math.sin(i) * 2);
  const w1 = Float32Array.from({ length: hid * c }, (_, i) => Math.cos(i) / 3);
  const w2 = Float32Array.from({ length: c * hid }, (_, i) => Math.sin(i + 1) / 3);
  const se = sqex.seForward(x, [n, c, h, w], { w1, w2 });
  const eca = sqex.ecaForward(x, [n, c, h, w], { weight: Float32Array.of(0.2, 0.5, -0.3) });
  const sw = Float32Array.from({ length: 2 * k * k }, (_, i) => Math.cos(i) / 4);
  const cbam = sqex.cbamForward(x, [n, c, h, w], { w1, w2, spatialWeight: sw });
  for (const [name, y] of [['se', se], ['eca', eca], ['cbam', cbam]]) {
    if (!(y instanceof Float32Array) || y.length !== x.length || !y.every(Number.isFinite)) throw new Error(how + ' ' + name + ' failed');
  }
  const st = sqex.cuda.status();
  return { how, binary: st.binary, compiled: st.compiled, available: st.available, reason: st.reason, sum: se.reduce((a, b) => a + b, 0) };
};
`;

describe.skipIf(skipReason !== null)(`npm pack + install without a toolchain${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('packs with the prebuild, installs offline with no compiler, and runs every op through require and import', () => {
    // 1. A scratch copy of the repo's files, sharing node_modules.
    const src = path.join(scratch, 'src');
    const files = sh('git', ['ls-files', '--cached', '--others', '--exclude-standard'], root).split('\n').filter(Boolean);
    for (const f of files) {
      if (!existsSync(path.join(root, f))) continue;
      mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
      cpSync(path.join(root, f), path.join(src, f));
    }
    symlinkSync(path.join(root, 'node_modules'), path.join(src, 'node_modules'));

    // 2. The prebuild, as a release would make it, then the tarball.
    sh('npm', ['run', 'prebuildify'], src);
    const prebuilds = readdirSync(path.join(src, 'prebuilds', `${process.platform}-${process.arch}`));
    expect(prebuilds.some((f) => f.endsWith('.node'))).toBe(true);
    const packed = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', scratch], src)) as {
      filename: string; size: number; unpackedSize: number; files: { path: string }[];
    }[];
    const tarball = path.join(scratch, packed[0]!.filename);
    const listed = packed[0]!.files.map((f) => f.path);
    expect(listed.some((p) => p.startsWith('prebuilds/') && p.endsWith('.node'))).toBe(true);
    expect(listed).toContain('dist/index.js');
    expect(listed).toContain('dist/index.mjs');
    expect(listed).toContain('dist/index.d.ts');
    expect(listed).toContain('binding.gyp');
    expect(listed.filter((p) => p.startsWith('test/') || p.startsWith('bench/'))).toEqual([]);
    console.log(`tarball ${packed[0]!.filename}: ${packed[0]!.size} bytes packed, ${packed[0]!.unpackedSize} unpacked, ${listed.length} files`);

    // 3. A new project, installed from the npm cache, with no toolchain on PATH.
    const app = path.join(scratch, 'app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: toolchainFreePath(), npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' };
    delete env.SQUEEZE_EXCITE_BINARY;
    const installLog = sh('npm', ['install', '--no-save', '--foreground-scripts', tarball], app, env);
    console.log(installLog.trim());
    const found = sh('/bin/sh', ['-c', 'for t in cc gcc g++ c++ clang make cmake nvcc python3; do command -v $t; done; true'], app, env);
    expect(found.trim()).toBe('');

    // 4. require and import, each running every op.
    writeFileSync(path.join(app, 'cjs.js'), `${OPS_SCRIPT}\nconsole.log(JSON.stringify(check(require('squeeze-excite'), 'require')));\n`);
    writeFileSync(path.join(app, 'esm.mjs'), `${OPS_SCRIPT}\nimport * as sqex from 'squeeze-excite';\nimport { seForward } from 'squeeze-excite';\nif (typeof seForward !== 'function') throw new Error('named import failed');\nconsole.log(JSON.stringify(check(sqex, 'import')));\n`);
    const cjs = JSON.parse(sh('node', ['cjs.js'], app, env)) as { binary: string; compiled: boolean; sum: number };
    const esm = JSON.parse(sh('node', ['esm.mjs'], app, env)) as { binary: string; compiled: boolean; sum: number };
    for (const r of [cjs, esm]) {
      expect(r.binary).toContain(`${path.sep}prebuilds${path.sep}`);
      expect(r.binary.startsWith(path.join(app, 'node_modules', 'squeeze-excite'))).toBe(true);
    }
    expect(esm.sum).toBe(cjs.sum);
    console.log(`installed prebuild: ${cjs.binary} (CUDA compiled in: ${cjs.compiled})`);
  }, 900_000);
});
