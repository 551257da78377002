// The published types: correct calls compile, wrong ones do not, and a wrong call of the common
// form (host Float32Arrays) is reported against that form, naming the option (the Float32Array
// overload is declared last because TypeScript reports the last overload's complaint).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { noteSkip } from './helpers.js';

const TYPES = fileURLToPath(new URL('./types/', import.meta.url));
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TSC = path.join(ROOT, 'node_modules', '.bin', 'tsc');

function tsc(project: string): { status: number | null; out: string } {
  const r = spawnSync(TSC, ['-p', project], { encoding: 'utf8', cwd: ROOT, timeout: 120_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

// Compiles a scratch project beside the fixtures (module resolution needs the checkout; paths in
// `config` are relative to a directory one level below test/types), removed after.
function tscScratch(prefix: string, config: object): { status: number | null; out: string } {
  const dir = mkdtempSync(path.join(TYPES, prefix));
  try {
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config));
    return tsc(path.join(dir, 'tsconfig.json'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
    const r = tscScratch('.strict-', {
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: [] },
      files: ['../ok.ts'],
    });
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
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

  // stripInternal drops the declarations marked @internal: every .d.ts shipped must still compile
  // on its own (no import of a name that was dropped), under a consumer's strictest settings.
  test('every declaration file in dist/ compiles (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess, no skipLibCheck)', () => {
    const r = tscScratch('.all-', {
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true, noEmit: true, skipLibCheck: false, types: ['node'],
      },
      include: ['../../../dist/**/*.d.ts', '../../../dist/**/*.d.mts'],
    });
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);

  // What a consumer of the package sees: the declarations index.d.ts reaches (imports followed).
  // Internal helpers are kept out of them (unexported, inlined, or @internal with stripInternal).
  test('no internal helper is named in the declarations the package entry reaches', () => {
    const seen = new Set<string>();
    const queue = [path.join(ROOT, 'dist', 'index.d.ts')];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) queue.push(path.resolve(path.dirname(file), `${m[1]}.d.ts`));
    }
    const internal = [
      'describeHook', 'KindInfo', 'Named', 'rawPtr', 'retainTensor', 'releaseTensor', 'whileHeld', 'isDeviceTensor', 'allocDeviceTensor',
      'dtypeBytes', 'SE_SPEC', 'ECA_SPEC', 'CBAM_SPEC', 'SE_OPTION_KEYS', 'ECA_OPTION_KEYS', 'CBAM_OPTION_KEYS', 'MAX_ECA_K',
      'MAX_SPATIAL_K', 'seFromStateDict', 'ecaFromStateDict', 'cbamFromStateDict', 'useCuda', 'requireCuda', 'DeviceChoice', 'OpSpec',
      'headerLengthOf', 'parseHeader', 'headerFromBytes', 'headerParseCostBytes',
    ];
    const found: string[] = [];
    for (const file of seen) {
      // Declarations only: doc comments may mention anything.
      const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      for (const name of internal) if (new RegExp(`\\b${name}\\b`).test(code)) found.push(`${path.relative(ROOT, file)}: ${name}`);
    }
    expect(seen.size).toBeGreaterThan(10);
    expect(found).toEqual([]);
  });

  // README: the declarations are checked with TypeScript 5.2, 5.4, 5.6, 5.9 and 7.0, under strict,
  // exactOptionalPropertyTypes and noUncheckedIndexedAccess, with modules nodenext, node16 and
  // bundler, without @types/node. This repository installs 7.0 only; point SQEX_TSC_MATRIX at the
  // others' tsc scripts (colon-separated, e.g. node_modules/ts52/bin/tsc from `npm i ts52@npm:typescript@5.2`)
  // to run ok.ts and errors.ts (every @ts-expect-error still an error) under each.
  const matrix = (process.env.SQEX_TSC_MATRIX ?? '').split(':').filter((p) => p !== '');
  test.skipIf(noteSkip(matrix.length === 0, 'types: the fixtures under other TypeScript versions', 'set SQEX_TSC_MATRIX to their tsc scripts')).each(matrix.length === 0 ? ['(other versions: set SQEX_TSC_MATRIX)'] : matrix)('the type fixtures under %s, every module mode, strictest flags', (compiler) => {
    const dir = mkdtempSync(path.join(TYPES, '.matrix-'));
    try {
      for (const [module, moduleResolution] of [['NodeNext', 'NodeNext'], ['Node16', 'Node16'], ['ESNext', 'Bundler']]) {
        writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
          compilerOptions: {
            target: 'ES2022', module, moduleResolution, strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true,
            noEmit: true, skipLibCheck: false, types: [],
          },
          files: ['../ok.ts', '../errors.ts'],
        }));
        const r = spawnSync(process.execPath, [compiler, '-p', path.join(dir, 'tsconfig.json')], { encoding: 'utf8', cwd: ROOT, timeout: 120_000 });
        expect(`${module}: ${r.stdout}${r.stderr}`).toBe(`${module}: `);
        expect(r.status).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 360_000);

  // TypeScript accepts `import sq from 'squeeze-excite'` in a CommonJS project whatever the entry
  // exports (it synthesises a default), and the compiled code reads the module's `.default`: that
  // was undefined, so the call type-checked and then threw a TypeError. (NodeNext here: no "type"
  // in the package.json above, so main.ts compiles to CommonJS.)
  test('a default import compiled for CommonJS runs (the default export is the module itself)', () => {
    const dir = mkdtempSync(path.join(TYPES, '.cjs-default-'));
    try {
      writeFileSync(path.join(dir, 'main.ts'), [
        "import sq from '../../../dist/index.js';",
        "import * as ns from '../../../dist/index.js';",
        'const y = sq.seForward(new Float32Array([1, 2, 3, 4]), [1, 2, 1, 2], { w1: new Float32Array([1, 0, 0, 1]) });',
        'console.log(JSON.stringify({ length: y.length, same: sq.seForward === ns.seForward }));',
        '',
      ].join('\n'));
      writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, types: [] },
        files: ['main.ts'],
      }));
      const c = tsc(path.join(dir, 'tsconfig.json'));
      expect(c.out).toBe('');
      const r = spawnSync(process.execPath, [path.join(dir, 'main.js')], { encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual({ length: 4, same: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

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
        // The tightened types (b2 needs w2; fromStateDict takes no channels) name the field too.
        /Property 'w2' is missing in type '\{ w1: Float32Array<ArrayBuffer>; b2: Float32Array<ArrayBuffer>; \}' but required/,
        /'channels' does not exist in type 'SEFromStateDictOptions'/,
      ];
      for (const re of want) expect(r.out).toMatch(re);
      // Never the DeviceTensor form's complaint for a host call.
      expect(r.out).not.toMatch(/is missing the following properties from type 'DeviceTensor'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
