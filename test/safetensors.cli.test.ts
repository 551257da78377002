// `squeeze-excite inspect FILE`, run as a child process the way npx runs it (the package.json bin).
import { spawnSync } from 'node:child_process';
import { closeSync, constants, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { FIXTURE_DIR, PERMISSION_FLAG } from './helpers.js';
import { f32Bytes, writeSafetensors } from './safetensors-writer.js';
import { loadModelFixture } from './state-dict-fixture.js';

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: Record<string, string>; files: string[]; version: string };
const bin = path.join(root, pkg.bin['squeeze-excite']!);
const scratch = mkdtempSync(path.join(tmpdir(), 'sqex-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  // The timeout turns a CLI that hangs into a failure (status null) instead of a stuck suite.
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: scratch, encoding: 'utf8', timeout: 20_000, maxBuffer: 256 << 20, env: { ...process.env, SQUEEZE_EXCITE_BINARY: '/nonexistent/addon.node' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const hasMkfifo = process.platform !== 'win32' && spawnSync('mkfifo', ['--version'], { stdio: 'ignore' }).error === undefined;
/** C0 controls but newline, DEL and C1: what a terminal may act on. */
const TERMINAL_CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

describe('squeeze-excite inspect', () => {
  const fx = loadModelFixture();
  const file = path.join(FIXTURE_DIR, 'attention_model.safetensors');

  test('the package declares the bin and ships it', () => {
    expect(pkg.bin).toEqual({ 'squeeze-excite': 'bin/squeeze-excite.js' });
    expect(pkg.files).toContain('bin/');
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
  });

  test('lists every module of the fixture with prefix, kind, block, C and hidden/k (no native addon needed)', () => {
    // SQUEEZE_EXCITE_BINARY points nowhere: inspect must not load the addon.
    const r = cli('inspect', file);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`${fx.cases.length} attention modules`);
    const rows = new Map(
      r.stdout
        .split('\n')
        .map((l) => l.trim().split(/\s{2,}/))
        .filter((cols) => cols.length >= 6)
        .map((cols) => [cols[0]!, cols] as const),
    );
    expect(rows.get('prefix')).toEqual(['prefix', 'kind', 'block', 'C', 'hidden', 'k', 'notes']);
    for (const c of fx.cases) {
      const row = rows.get(c.prefix);
      expect(row, c.prefix).toBeDefined();
      // The listed kind, or its alternative (SEModule / SqueezeExcitation share tensors).
      expect(`${row![1]} ${row![6] ?? ''}`, c.prefix).toContain(c.kind);
      expect(row![2], c.prefix).toBe(c.block);
      const fc1 = c.tensors['fc1.weight'] ?? c.tensors['conv_reduce.weight'] ?? c.tensors['channel.fc1.weight'] ?? c.tensors['fc.weight'];
      if (fc1) {
        expect(row![3], c.prefix).toBe(String(fc1[1]));
        expect(row![4], c.prefix).toBe(String(fc1[0]));
      } else {
        expect(row![3], c.prefix).toBe('-'); // ECA stores no C
        expect(row![5], c.prefix).toBe(String(c.tensors['conv.weight']![2]));
      }
      if (c.kind === 'timm.CbamModule') expect(row![5], c.prefix).toBe(String(c.tensors['spatial.conv.conv.weight']![2]));
    }
    for (const d of fx.distractors) expect(r.stdout).not.toContain(d.split('.').slice(0, -2).join('.') + '  ');
    expect(r.stdout).toContain('fromStateDict(file, ');
  });

  // An attack (2026-12-02): the snippet named the file by its base name (ENOENT when pasted where
  // `inspect sub/model.safetensors` ran), and a module containing another ('a' and 'a.inner') was
  // given without strict: false (StateDictError 'unexpected'). The snippet now runs as pasted.
  test("the 'Load one' snippet runs as pasted in the folder inspect ran in (a file in a subfolder, a module holding another)", () => {
    const dir = mkdtempSync(path.join(scratch, 'snippet-'));
    mkdirSync(path.join(dir, 'sub'));
    mkdirSync(path.join(dir, 'node_modules'));
    symlinkSync(root, path.join(dir, 'node_modules', 'squeeze-excite'), 'dir');
    const t = (shape: number[]) => ({ dtype: 'F32' as const, shape, bytes: f32Bytes(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i) * 0.1)) });
    writeFileSync(path.join(dir, 'sub', 'nested.safetensors'), writeSafetensors({
      'a.fc1.weight': t([8, 32, 1, 1]), 'a.fc1.bias': t([8]), 'a.fc2.weight': t([32, 8, 1, 1]), 'a.fc2.bias': t([32]),
      'a.inner.fc1.weight': t([4, 16, 1, 1]), 'a.inner.fc1.bias': t([4]), 'a.inner.fc2.weight': t([16, 4, 1, 1]), 'a.inner.fc2.bias': t([16]),
    }));
    const r = spawnSync(process.execPath, [bin, 'inspect', path.join('sub', 'nested.safetensors')], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(0);
    const snippet = r.stdout.split('Load one:\n')[1];
    expect(snippet).toContain('"a", { kind: "timm.SEModule", strict: false }');
    const run = spawnSync(process.execPath, ['-e', `${snippet}\nconsole.log(String(block));`], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^SEBlock \(C 32, hidden 8/);
    // Its ES-module form: the import line in place of the require (a newcomer's ESM project).
    const esm = snippet!.split('\n').filter((l) => !l.includes('require(')).map((l) => l.replace('// in an ES module: ', '')).join('\n');
    expect(esm).toContain("import { readSafetensors, SEBlock } from 'squeeze-excite';");
    writeFileSync(path.join(dir, 'load.mjs'), `${esm}\nconsole.log(String(block));\n`);
    const runEsm = spawnSync(process.execPath, ['load.mjs'], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
    expect(runEsm.stderr).toBe('');
    expect(runEsm.stdout).toMatch(/^SEBlock \(C 32, hidden 8/);
  });

  // A review (2026-12-04): timm's GlobalContext ConvMlp (fc1, norm, fc2) was listed as a
  // timm.SEModule, with a snippet passing strict: false that loads it without its norm.
  test("a GlobalContext ConvMlp (fc1, norm, fc2) is listed as unsupported, with no snippet", () => {
    const t = (shape: number[]) => ({ dtype: 'F32' as const, shape, bytes: f32Bytes(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i) * 0.1)) });
    const gc = path.join(scratch, 'gc.safetensors');
    writeFileSync(gc, writeSafetensors({
      'attn.conv_attn.weight': t([1, 64, 1, 1]), 'attn.conv_attn.bias': t([1]),
      'attn.mlp_scale.fc1.weight': t([8, 64, 1, 1]), 'attn.mlp_scale.fc1.bias': t([8]), 'attn.mlp_scale.norm.weight': t([8]),
      'attn.mlp_scale.norm.bias': t([8]), 'attn.mlp_scale.fc2.weight': t([64, 8, 1, 1]), 'attn.mlp_scale.fc2.bias': t([64]),
    }));
    const r = cli('inspect', gc);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/0 attention modules \(\+1 unsupported\)/);
    expect(r.stdout).toMatch(/attn\.mlp_scale +- +- +64 +8 .*not an SE module/);
    expect(r.stdout).not.toMatch(/strict|SEModule|Load one/);
  });

  test('--json gives the same modules, machine-readable', () => {
    const r = cli('inspect', file, '--json');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { tensors: number; modules: { prefix: string; kind: string; block: string }[]; metadata: Record<string, string> };
    expect(out.modules.map((m) => m.prefix).sort()).toEqual(fx.cases.map((c) => c.prefix).sort());
    expect(out.metadata.mode).toBe(fx.provenance.mode);
  });

  test('a bad file: exit 1, the reason and its check on stderr; usage errors: exit 2', () => {
    const bad = path.join(scratch, 'bad.safetensors');
    writeFileSync(bad, Buffer.from([1, 2, 3]));
    const r = cli('inspect', bad);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/not a valid safetensors file/);
    expect(r.stderr).toContain('ERR_SQEX_SAFETENSORS: file-too-small');
    const missing = cli('inspect', path.join(scratch, 'nope.safetensors'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('ENOENT');
    expect(cli('frobnicate').status).toBe(2);
    expect(cli('inspect').status).toBe(2);
    expect(cli('inspect', file, '--yaml').status).toBe(2);
    // No command at all is a usage error like the others: the usage on stderr, nothing on stdout
    // (it went to stdout with status 2; an attack, 2026-12-02).
    const none = cli();
    expect(none).toMatchObject({ status: 2, stdout: '' });
    expect(none.stderr).toContain('inspect [--json] [--] <file.safetensors>');
    const help = cli('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('inspect [--json] [--] <file.safetensors>');
    expect(cli('--version').stdout.trim()).toBe(pkg.version);
  });

  test('a checkpoint without attention modules says what inspect recognises; a .pth says it is one', () => {
    const file = path.join(scratch, 'plain.safetensors');
    writeFileSync(file, writeSafetensors({ 'conv1.weight': { dtype: 'F32', shape: [1, 1, 1, 2], bytes: f32Bytes([1, 2]) } }));
    const r = cli('inspect', file);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(': 1 tensor, 0 attention modules\nRecognised: the weights of timm SEModule');
    const pth = path.join(scratch, 'model.pth');
    writeFileSync(pth, Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00]), Buffer.alloc(256)]));
    const p = cli('inspect', pth);
    expect(p.status).toBe(1);
    expect(p.stderr).toMatch(/ZIP archive, as PyTorch's torch\.save writes.*safetensors\.torch\.save_file/s);
  });

  test('names and paths holding terminal controls are printed escaped, one line per row; --json escapes C1 too', () => {
    // Clears the screen, sets the title, forges a row; C1 CSI (U+009B) and NEL (U+0085) too.
    const evil = '\u001b[2J\u001b]0;PWNED\u0007\nfake.row  timm.SEModule  SEBlock  64  16  -\u0085\u009b31m\u007f';
    const file = path.join(scratch, 'evil\u001b]0;T\u0007\u009b.safetensors');
    writeFileSync(file, writeSafetensors({ [`${evil}.conv.weight`]: { dtype: 'F32', shape: [1, 1, 3], bytes: f32Bytes([1, 2, 3]) } }));
    const r = cli('inspect', file);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(TERMINAL_CONTROLS);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('fake.row'))).toEqual([]);
    expect(r.stdout).toContain(`${path.join(scratch, 'evil\\x1b]0;T\\x07\\x9b.safetensors')}: 1 tensor, 1 attention module`);
    expect(r.stdout).toContain('\\x1b[2J\\x1b]0;PWNED\\x07\\x0afake.row  timm.SEModule  SEBlock  64  16  -\\x85\\x9b31m\\x7f  timm.EcaModule');

    const j = cli('inspect', '--json', file);
    expect(j.status).toBe(0);
    expect(j.stdout).not.toMatch(TERMINAL_CONTROLS);
    const out = JSON.parse(j.stdout) as { file: string; modules: { prefix: string }[] };
    expect(out.file).toBe(file); // the same strings, escaped only in the text
    expect(out.modules.map((m) => m.prefix)).toEqual([evil]);

    // Error messages carry the path too.
    const missing = cli('inspect', path.join(scratch, 'missing\u001b[2J\u0085'));
    expect(missing.status).toBe(1);
    expect(missing.stderr.trimEnd()).not.toMatch(TERMINAL_CONTROLS);
    expect(missing.stderr).toContain('missing\\x1b[2J\\x85');
  });

  // An attack (2026-12-05): a prefix holding a newline and one holding the text "\x0a" printed alike.
  test('a backslash in a name is printed as \\\\, so an escape and the text of one differ', () => {
    const file = path.join(scratch, 'backslash.safetensors');
    const conv = (p: string) => ({ [`${p}.conv.weight`]: { dtype: 'F32', shape: [1, 1, 3], bytes: f32Bytes([1, 2, 3]) } });
    writeFileSync(file, writeSafetensors({ ...conv('a\nb'), ...conv('a\\x0ab') }));
    const r = cli('inspect', file);
    expect(r.status).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => l.startsWith('a'));
    expect(rows.map((l) => l.split(' ')[0]).sort()).toEqual(['a\\\\x0ab', 'a\\x0ab']);
  });

  // Found by an attack (2026-11-30): bidi controls and the line separator were printed raw, so a
  // crafted name could reorder what a terminal or an editor shows of the table ("Trojan Source").
  test('bidi controls and line/paragraph separators in names are shown as \\uNNNN, in the table and in --json', () => {
    const bidi = 'x\u202eevil\u2028y\u2029\u2066z\u200f\u061c';
    const file = path.join(scratch, 'bidi.safetensors');
    writeFileSync(file, writeSafetensors({ [`${bidi}.conv.weight`]: { dtype: 'F32', shape: [1, 1, 3], bytes: f32Bytes([1, 2, 3]) } }));
    const RAW = /[\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
    const r = cli('inspect', file);
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stdout).toContain('x\\u202eevil\\u2028y\\u2029\\u2066z\\u200f\\u061c  timm.EcaModule');
    const j = cli('inspect', '--json', file);
    expect(j.stdout).not.toMatch(RAW);
    expect((JSON.parse(j.stdout) as { modules: { prefix: string }[] }).modules.map((m) => m.prefix)).toEqual([bidi]);
  });

  // The write end of a FIFO whose reader has gone: every write fails with EPIPE, as `| head` does
  // once head has what it wants (deterministic, unlike racing a real `| true`).
  test.skipIf(!hasMkfifo)('stdout closed by its reader: exit quietly with the status of the command (needs mkfifo)', () => {
    const fifo = path.join(scratch, 'stdout.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const run = (...args: string[]) => {
      const r = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      const w = openSync(fifo, constants.O_WRONLY);
      closeSync(r);
      try {
        return spawnSync(process.execPath, [bin, ...args], { cwd: scratch, stdio: ['ignore', w, 'pipe'], encoding: 'utf8', timeout: 20_000 });
      } finally {
        closeSync(w);
      }
    };
    for (const args of [['inspect', file], ['inspect', '--json', file], ['--help']]) {
      const r = run(...args);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(r.status, args.join(' ')).toBe(0);
    }
    expect(run().status).toBe(2); // usage without a command stays a usage error
    // A FIFO as the file to inspect is refused, not waited on.
    const r = cli('inspect', fifo);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/stdout\.fifo is a FIFO \(named pipe\), not a regular file.*\[ERR_SQEX_SAFETENSORS_IO\]\n$/);
  });

  test('options: an unknown one is named, `--` ends them, a file may start with -', () => {
    for (const opt of ['-x', '--yaml', '-\u001b[2J']) {
      const r = cli('inspect', opt, file);
      expect(r.status, opt).toBe(2);
      expect(r.stderr.split('\n')[0], opt).toBe(`squeeze-excite inspect: unknown option ${opt.replace('\u001b', '\\x1b')}`);
    }
    const two = cli('inspect', file, file);
    expect(two.status).toBe(2);
    expect(two.stderr).toMatch(/^squeeze-excite inspect: expected one file, received 2: /);
    copyFileSync(file, path.join(scratch, '--json'));
    copyFileSync(file, path.join(scratch, '-x'));
    expect(cli('inspect', '--', '--json').stdout).toMatch(/^--json: \d+ tensors, 12 attention modules\n/);
    const json = cli('inspect', '--json', '--', '-x');
    expect(json.status).toBe(0);
    expect((JSON.parse(json.stdout) as { file: string }).file).toBe('-x');
    // After --, --help is a file name (here: none).
    const help = cli('inspect', '--', '--help');
    expect(help.status).toBe(1);
    expect(help.stderr).toContain('ENOENT');
  });

  test('200k modules are listed (the table once overflowed the stack measuring its columns)', { timeout: 30_000 }, () => {
    const n = 200_000;
    const entries = Array.from({ length: n }, (_, i) => `"m${i}.conv.weight":{"dtype":"F32","shape":[1,1,3],"data_offsets":[${12 * i},${12 * i + 12}]}`);
    const json = Buffer.from(`{${entries.join(',')}}`);
    const bytes = Buffer.alloc(8 + json.length + 12 * n);
    bytes.writeBigUInt64LE(BigInt(json.length), 0);
    json.copy(bytes, 8);
    const big = path.join(scratch, 'many.safetensors');
    writeFileSync(big, bytes);
    const r = cli('inspect', big);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`${n} tensors, ${n} attention modules`);
    expect(r.stdout).toMatch(/\nm199999 {2}timm\.EcaModule {2}ECABlock /);
  });
});

// From an attack with hardened runtimes (2026-11-30): `--version` under Node's permission model
// without read access to package.json printed an uncaught ERR_ACCESS_DENIED stack; output to a
// full device (ENOSPC) exited 1 saying nothing.
describe('the CLI when it cannot read or write', () => {
  test.skipIf(PERMISSION_FLAG === null)('--version without read access to package.json: one line naming the error, status 1', () => {
    const root = path.resolve(__dirname, '..');
    const r = spawnSync(process.execPath, [PERMISSION_FLAG as string, `--allow-fs-read=${path.join(root, 'bin')}/`, `--allow-fs-read=${path.join(root, 'dist')}/`, path.join(root, 'bin', 'squeeze-excite.js'), '--version'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    // (Node 20 adds its ExperimentalWarning lines after it)
    expect(r.stderr).toMatch(/^squeeze-excite --version: cannot read package\.json: .*\[ERR_ACCESS_DENIED\]\n/);
  });

  // An attack (2026-12-03): the permission model's message names neither the file nor the flag.
  test.skipIf(PERMISSION_FLAG === null)('inspect without read access to the file: names it and --allow-fs-read, status 1', () => {
    const root = path.resolve(__dirname, '..');
    const file = path.join(scratch, 'not-allowed.safetensors');
    copyFileSync(path.join(FIXTURE_DIR, 'attention_model.safetensors'), file);
    const r = spawnSync(process.execPath, [PERMISSION_FLAG as string, `--allow-fs-read=${root}/`, path.join(root, 'bin', 'squeeze-excite.js'), 'inspect', file], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`: reading ${JSON.stringify(file)} is not permitted (run node with --allow-fs-read for it) [ERR_ACCESS_DENIED]\n`);
  });

  let devFull = false;
  try {
    closeSync(openSync('/dev/full', 'w'));
    devFull = true;
  } catch {
    // not on this platform
  }
  test.skipIf(!devFull)('output to /dev/full: status 1 and the reason on stderr', () => {
    const root = path.resolve(__dirname, '..');
    const file = path.join(FIXTURE_DIR, 'timm_models', 'seresnet18.safetensors');
    const fd = openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [path.join(root, 'bin', 'squeeze-excite.js'), 'inspect', file], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', timeout: 20_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('cannot write the output: ENOSPC');
    } finally {
      closeSync(fd);
    }
  });
});


// From a newcomer's attack on the CLI (2026-12-04): one 100 KB prefix made every row pad to it (200
// MB printed for a 2 MB file; a 1 MB prefix failed with "Invalid string length"); zero-width
// characters printed raw made two prefixes look the same; Node's file errors came without a fix;
// -V was "an unknown command" and `--version inspect x` ignored its extra arguments; the snippet
// read the whole checkpoint (too large for one array at 8 GiB).
describe('squeeze-excite inspect, hardened output', () => {
  const se = (prefix: string): Record<string, { dtype: 'F32'; shape: number[]; bytes: Uint8Array }> => {
    const t = (shape: number[]) => ({ dtype: 'F32' as const, shape, bytes: f32Bytes(new Array<number>(shape.reduce((a, b) => a * b, 1)).fill(0.1)) });
    return { [`${prefix}.fc1.weight`]: t([4, 16, 1, 1]), [`${prefix}.fc1.bias`]: t([4]), [`${prefix}.fc2.weight`]: t([16, 4, 1, 1]), [`${prefix}.fc2.bias`]: t([16]) };
  };

  test('a very long prefix does not widen every row', () => {
    const file = path.join(scratch, 'widepad.safetensors');
    const tensors = { ...se(`${'p'.repeat(100_000)}.se`) };
    for (let i = 0; i < 200; i++) Object.assign(tensors, se(`layer${i}.se`));
    writeFileSync(file, writeSafetensors(tensors));
    const r = cli('inspect', file);
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBeLessThan(400_000); // 201 rows; padded to the long prefix: ~20 MB
    expect(r.stdout).toMatch(/\nlayer0\.se +timm\.SEModule/);
  });

  test('invisible characters in names are escaped (format, default-ignorable, beyond the BMP)', () => {
    // Each prefix reads "layer1.se" on a terminal when printed raw (a review found the last five
    // after the first two were escaped).
    const hidden: [string, string][] = [
      ['zero\u200bwidth\ufeff.se', 'zero\\u200bwidth\\ufeff.se'],
      ['layer1\u{E0041}.se', 'layer1\\u{e0041}.se'], // a tag character
      ['layer1\u206a.se', 'layer1\\u206a.se'],
      ['layer1\u034f.se', 'layer1\\u034f.se'], // combining grapheme joiner
      ['layer1\ufe0f.se', 'layer1\\ufe0f.se'], // a variation selector
      ['layer1\u3164.se', 'layer1\\u3164.se'], // a Hangul filler
    ];
    const file = path.join(scratch, 'invisible.safetensors');
    writeFileSync(file, writeSafetensors(Object.assign({}, ...hidden.map(([p]) => se(p)))));
    const r = cli('inspect', file);
    expect(r.status).toBe(0);
    for (const [, shown] of hidden) expect(r.stdout).toContain(`\n${shown} `);
    expect(r.stdout).not.toMatch(/[\u200b\ufeff\u206a\u034f\ufe0f\u3164]|\u{E0041}/u);
    const json = cli('inspect', '--json', file);
    expect(json.stdout).not.toMatch(/[\u200b\ufeff\u206a\u034f\ufe0f\u3164]|\u{E0041}/u);
    expect((JSON.parse(json.stdout) as { modules: { prefix: string }[] }).modules.map((m) => m.prefix).sort()).toEqual(hidden.map(([p]) => p).sort());
  });

  test("Node's file errors come with the usual fix", () => {
    const missing = cli('inspect', 'nope.safetensors');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('[ENOENT]');
    expect(missing.stderr).toContain(`No such file: check the path (a relative one is taken from the working directory, ${scratch})`);
    expect(cli('inspect', '-').stderr).toContain('inspect reads a file, not standard input');
  });

  test('options before the command, and --version with arguments, are usage errors', () => {
    const v = cli('-V');
    expect(v.status).toBe(2);
    expect(v.stderr.split('\n')[0]).toBe("squeeze-excite: unknown option -V (options: --help, --version; inspect's go after it)");
    const extra = cli('--version', 'inspect', 'x');
    expect(extra.status).toBe(2);
    expect(extra.stderr.split('\n')[0]).toBe('squeeze-excite --version: takes no arguments, received "inspect" "x"');
    expect(cli('\u001b[2Jfoo').stderr.split('\n')[0]).toBe('squeeze-excite: unknown command "\\x1b[2Jfoo"');
  });

  test("the 'Load one' snippet reads only the module's tensors", () => {
    const file = path.join(scratch, 'two-modules.safetensors');
    writeFileSync(file, writeSafetensors({ ...se('a.se'), ...se('b.se') }));
    const r = cli('inspect', file);
    expect(r.stdout).toContain(`const file = readSafetensors(${JSON.stringify(file)}, { names: (name) => name.startsWith("a.se.") });`);
  });
});
