// README doc-test (issue 9): every ```js block of README.md runs as pasted into a new file of a
// project that has the package installed (here: node_modules/squeeze-excite linked to this
// checkout, as `npm install /path/to/checkout` does). A block with `import` is saved as .mjs,
// the others as .js (CommonJS). A block that says it "Needs an NVIDIA GPU" must, without one,
// end with the CUDA-unavailable Error that carries cuda.status().reason; every other block must
// exit 0 and print something.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');

interface Block { line: number; code: string }

/** The ```js fenced blocks of the README, with the line each starts on. */
function jsBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*```js\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    let j = start;
    while (j < lines.length && !/^\s*```\s*$/.test(lines[j]!)) j++;
    blocks.push({ line: start + 1, code: lines.slice(start, j).join('\n') });
    i = j;
  }
  return blocks;
}

const blocks = jsBlocks(readme);
const status = JSON.parse(
  execFileSync(process.execPath, ['-p', "JSON.stringify(require('./dist/index.js').cuda.status())"], { cwd: root, encoding: 'utf8' }),
) as { available: boolean; reason: string | null; binary: string | null };

let project = '';
beforeAll(() => {
  project = mkdtempSync(path.join(tmpdir(), 'sqex-readme-'));
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'readme-app', version: '1.0.0', private: true }));
  mkdirSync(path.join(project, 'node_modules'));
  symlinkSync(root, path.join(project, 'node_modules', 'squeeze-excite'));
  // The checkpoint example reads ./model.safetensors: the committed fixture, a small timm-style
  // model with SE, ECA and CBAM modules, stands in for the user's file.
  copyFileSync(path.join(root, 'test', 'fixtures', 'attention_model.safetensors'), path.join(project, 'model.safetensors'));
});
afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('README code blocks run as pasted', () => {
  it('has the blocks this test is meant to run', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    // Each block is a program of its own: it names what it uses.
    for (const b of blocks) expect(b.code, `README.md:${b.line}`).toMatch(/require\('squeeze-excite'\)|from 'squeeze-excite'/);
  });

  it('documents every bench flag (bench/README.md, which the README links)', () => {
    const benchDoc = readFileSync(path.join(root, 'bench', 'README.md'), 'utf8');
    expect(readme).toContain('](bench/README.md)');
    for (const flag of ['--shape NxCxHxW', '--op', '--dtype', '--layout', '--device', '--json', '--out DIR', '--no-save', '--quick', '--help']) {
      expect(benchDoc).toContain(flag);
    }
  });

  it.each(blocks.map((b) => [b.line, b] as const))('the block at README.md:%i', (_line, block) => {
    const esm = /^\s*import\s.+from\s+'squeeze-excite'/m.test(block.code);
    const file = path.join(project, `block-${block.line}.${esm ? 'mjs' : 'js'}`);
    writeFileSync(file, `${block.code}\n`);
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (!process.env.SQUEEZE_EXCITE_BINARY) delete env.SQUEEZE_EXCITE_BINARY;
    const r = spawnSync(process.execPath, [file], { cwd: project, env, encoding: 'utf8', timeout: 120_000 });
    const needsGpu = /Needs an NVIDIA GPU/i.test(block.code);
    if (needsGpu && !status.available) {
      console.log(`README.md:${block.line} needs a GPU; none here (${status.reason}): checking that it stops with the CUDA-unavailable Error`);
      expect(r.status, r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(/Error: .*(needs CUDA, which is not available|CUDA is not available): /);
      expect(r.stderr).toContain(status.reason ?? 'unknown reason');
      expect(r.stderr).not.toMatch(/SyntaxError|ReferenceError|TypeError/);
      return;
    }
    expect(r.status, `README.md:${block.line} exited ${r.status}:\n${r.stderr}`).toBe(0);
    expect(r.stdout.trim()).not.toBe('');
  }, 150_000);
});
