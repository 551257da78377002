// The published types: correct calls compile, wrong ones do not, and a wrong call of the common
// form (host Float32Arrays) is reported against that form, naming the option (the Float32Array
// overload is declared last because TypeScript reports the last overload's complaint).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const TYPES = fileURLToPath(new URL('./types/', import.meta.url));
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TSC = path.join(ROOT, 'node_modules', '.bin', 'tsc');

function tsc(project: string): { status: number | null; out: string } {
  const r = spawnSync(TSC, ['-p', project], { encoding: 'utf8', cwd: ROOT, timeout: 120_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('TypeScript declarations', () => {
  test('ok.ts compiles and every @ts-expect-error line in errors.ts is an error', () => {
    const r = tsc(path.join(TYPES, 'tsconfig.json'));
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);

  // A consumer's own settings: strict, the declarations checked too (no skipLibCheck), and no
  // @types/node (a browser-style or minimal project). The declarations must not need Node's types
  // (node:fs in a signature); Symbol.dispose comes from lib esnext.disposable (TypeScript 5.2).
  test('ok.ts compiles in a strict project without @types/node and without skipLibCheck', () => {
    const dir = mkdtempSync(path.join(TYPES, '.strict-'));
    try {
      writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: [] },
        files: ['../ok.ts'],
      }));
      const r = tsc(path.join(dir, 'tsconfig.json'));
      expect(r.out).toBe('');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  // TypeScript before 5.7 rejects type arguments on typed arrays (Float64Array<ArrayBuffer>), which
  // 5.7+ writes into declarations for an inferred type; this repository's compiler accepts them, so
  // the declarations are searched instead.
  test('no declaration writes a type argument on a typed array (TypeScript < 5.7 rejects it)', () => {
    const found: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = path.join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (name.endsWith('.d.ts')) {
          for (const m of readFileSync(p, 'utf8').matchAll(/\b(?:Float(?:32|64)|U?Int(?:8|16|32)|Uint8Clamped|Big(?:Ui|I)nt64)Array</g)) {
            found.push(`${path.relative(ROOT, p)}: ${m[0]}`);
          }
        }
      }
    };
    walk(path.join(ROOT, 'dist'));
    expect(found).toEqual([]);
  });

  test('without the directives, each wrong call is reported against the Float32Array form, by name', () => {
    // A scratch project beside the fixtures (module resolution needs the checkout), removed after.
    const dir = mkdtempSync(path.join(TYPES, '.raw-'));
    try {
      const raw = readFileSync(path.join(TYPES, 'errors.ts'), 'utf8').replace(/\/\/ @ts-expect-error.*$/gm, '');
      writeFileSync(path.join(dir, 'raw.ts'), raw.replaceAll('../../dist/', '../../../dist/'));
      writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../tsconfig.json', files: ['raw.ts'] }));
      const r = tsc(path.join(dir, 'tsconfig.json'));
      expect(r.status).not.toBe(0);
      const want = [
        /'layot' does not exist in type 'SEOptions'\. Did you mean to write 'layout'\?/,
        /Type '"gpu"' is not assignable to type 'Device \| undefined'/,
        /'Float64Array<ArrayBuffer>' is not assignable to type 'Float32Array/,
        /Source has 3 element\(s\) but target requires 4/,
        /'residual' does not exist in type 'ECAOptions'/,
        /'layout' does not exist in type 'SEBlockForwardOptions'/,
      ];
      for (const re of want) expect(r.out).toMatch(re);
      // Never the DeviceTensor form's complaint for a host call.
      expect(r.out).not.toMatch(/is missing the following properties from type 'DeviceTensor'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
