// Issue 4: the loader's diagnostics. Each case runs a fresh Node process on a scratch copy of the
// package (dist/ + package.json + node_modules), arranged to have no binary, a bogus one, a
// prebuild only, or a local build that shadows a prebuild.
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const scratch = mkdtempSync(path.join(tmpdir(), 'sqex-loader-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// The addon the rest of the suite uses (the env override lets CI test the node-gyp build).
const builtAddon = process.env.SQUEEZE_EXCITE_BINARY ?? path.join(root, 'build', 'Release', 'squeeze_excite.node');
const prebuildDir = `prebuilds/${process.platform}-${process.arch}`;

let counter = 0;
function packageCopy(): string {
  const dir = path.join(scratch, `pkg${counter++}`);
  mkdirSync(dir);
  cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true });
  copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

interface Probe {
  error: string | null;
  errorName: string | null;
  status: { compiled: boolean; reason: string | null; binary: string | null };
  report: { binary: string | null; kind: string | null; shadowsPrebuild: boolean; attempts: { kind: string; file: string | null; ok: boolean; reason: string | null }[] };
}

const PROBE = `
const sqex = require('./dist/index.js');
const { loadReport } = require('./dist/backend/load.js');
let error = null, errorName = null;
try { sqex.seForward(new Float32Array(4), [1, 4, 1, 1], { w1: new Float32Array(4), w2: new Float32Array(4) }, { device: 'cpu' }); }
catch (e) { error = e.message; errorName = e.name; }
const status = sqex.cuda.status();
console.log(JSON.stringify({ error, errorName, status: { compiled: status.compiled, reason: status.reason, binary: status.binary }, report: loadReport() }));
`;

function probe(dir: string, env: Record<string, string> = {}): Probe {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!('SQUEEZE_EXCITE_BINARY' in env)) delete childEnv.SQUEEZE_EXCITE_BINARY;
  return JSON.parse(execFileSync(process.execPath, ['-e', PROBE], { cwd: dir, env: childEnv, encoding: 'utf8' })) as Probe;
}

describe('native loader diagnostics', () => {
  it('with no binary at all, one error lists every attempt, why it failed, and the fix', () => {
    const p = probe(packageCopy());
    expect(p.errorName).toBe('LoadError');
    const msg = p.error ?? '';
    expect(msg).toMatch(/could not load the native addon for linux-x64|could not load the native addon for/);
    expect(msg).toContain('Tried:');
    expect(msg).toMatch(/local build .*build\/Release\/squeeze_excite\.node: file does not exist/);
    expect(msg).toMatch(/prebuild: no prebuilds\/ folder/);
    expect(msg).toMatch(/source build: never ran/);
    expect(msg).toContain('To fix it:');
    expect(msg).toContain('npx node-gyp rebuild');
    if (process.platform === 'linux') expect(msg).toContain('apt-get install -y python3 make g++');
    // cuda.status() never throws; it carries the same reason.
    expect(p.status.compiled).toBe(false);
    expect(p.status.binary).toBeNull();
    expect(p.status.reason).toContain('could not be loaded');
    expect(p.report.attempts.map((a) => a.kind)).toEqual(['local build', 'local build', 'prebuild', 'source build']);
  });

  it('reports an explicit SQUEEZE_EXCITE_BINARY that does not exist, then falls through', () => {
    const p = probe(packageCopy(), { SQUEEZE_EXCITE_BINARY: path.join(scratch, 'nope.node') });
    expect(p.report.attempts[0]).toMatchObject({ kind: 'env', ok: false, reason: 'file does not exist' });
    expect(p.error).toMatch(/env .*nope\.node: file does not exist/);
  });

  it('loads the prebuild for this platform when there is no local build', () => {
    const dir = packageCopy();
    mkdirSync(path.join(dir, prebuildDir), { recursive: true });
    copyFileSync(builtAddon, path.join(dir, prebuildDir, 'squeeze-excite.napi.node'));
    const p = probe(dir);
    expect(p.error).toBeNull();
    expect(p.report.kind).toBe('prebuild');
    expect(p.status.binary).toBe(path.join(dir, prebuildDir, 'squeeze-excite.napi.node'));
    expect(p.report.shadowsPrebuild).toBe(false);
  });

  it('makes a local build that shadows a prebuild visible', () => {
    const dir = packageCopy();
    mkdirSync(path.join(dir, prebuildDir), { recursive: true });
    copyFileSync(builtAddon, path.join(dir, prebuildDir, 'squeeze-excite.napi.node'));
    mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
    copyFileSync(builtAddon, path.join(dir, 'build', 'Release', 'squeeze_excite.node'));
    const p = probe(dir);
    expect(p.error).toBeNull();
    expect(p.report.kind).toBe('local build');
    expect(p.status.binary).toBe(path.join(dir, 'build', 'Release', 'squeeze_excite.node'));
    expect(p.report.shadowsPrebuild).toBe(true);
  });

  it('skips a corrupt local build, keeps its reason, and loads the prebuild', () => {
    const dir = packageCopy();
    mkdirSync(path.join(dir, prebuildDir), { recursive: true });
    copyFileSync(builtAddon, path.join(dir, prebuildDir, 'squeeze-excite.napi.node'));
    mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
    writeFileSync(path.join(dir, 'build', 'Release', 'squeeze_excite.node'), 'not an ELF file');
    const p = probe(dir);
    expect(p.error).toBeNull();
    expect(p.report.kind).toBe('prebuild');
    const local = p.report.attempts.find((a) => a.kind === 'local build' && a.file?.endsWith(path.join('Release', 'squeeze_excite.node')));
    expect(local?.ok).toBe(false);
    expect(local?.reason).toMatch(/invalid ELF header|not a valid Win32|slice is not valid|file too short|ERR_DLOPEN_FAILED/);
  });
});
