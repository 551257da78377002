#!/usr/bin/env node
// squeeze-excite CLI. `inspect FILE.safetensors` lists the attention modules of a checkpoint
// (read from its header only) with the prefix and kind to pass to fromStateDict.
'use strict';

const path = require('node:path');

const USAGE = `Usage:
  squeeze-excite inspect <file.safetensors> [--json]   list the SE / ECA / CBAM modules in a checkpoint
  squeeze-excite --help | --version

inspect reads only the file's header (not the weights). For each module it prints the prefix and
kind to load it with, e.g. SEBlock.fromStateDict(readSafetensors(file), prefix, { kind }).
Control characters in names are shown escaped (\\xNN; in --json, \\u00NN).`;

// Tensor names and paths come from the file and the caller: raw, a name holding ESC sequences,
// BEL or a newline could clear the screen, set the title or forge a table row. C0 controls, DEL
// and C1 (U+0080-U+009F, which some terminals obey as ESC sequences) are shown as \xNN.
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

function printable(s) {
  return String(s).replace(CONTROLS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

// JSON.stringify escapes C0 but leaves DEL and C1 raw; \u00NN keeps the JSON the same value.
function jsonText(value) {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function pad(s, n) {
  return s + ' '.repeat(Math.max(0, n - s.length));
}

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : pad(c, widths[i]))).join('  ').trimEnd()).join('\n');
}

function inspect(file, json) {
  // dist/index.js loads the native addon lazily: inspect needs none.
  const { readSafetensorsHeader, findAttentionModules } = require('../dist/index.js');
  const header = readSafetensorsHeader(file);
  const found = findAttentionModules(header);
  if (json) {
    process.stdout.write(`${jsonText({ file, tensors: header.tensors.length, metadata: header.metadata, modules: found })}\n`);
    return;
  }
  const supported = found.filter((f) => f.kind !== null);
  const lines = [`${printable(file)}: ${header.tensors.length} tensors, ${supported.length} attention module${supported.length === 1 ? '' : 's'}${found.length > supported.length ? ` (+${found.length - supported.length} unsupported)` : ''}`];
  if (found.length > 0) {
    const rows = [['prefix', 'kind', 'block', 'C', 'hidden', 'k', 'notes']];
    for (const f of found) {
      const notes = [f.alternatives.length > 0 ? `or ${f.alternatives.join(', ')}` : '', f.foldsBatchNorm ? 'BatchNorm folded' : '', f.note]
        .filter((s) => s !== '')
        .join('; ');
      const row = [f.prefix === '' ? "''" : f.prefix, f.kind ?? '-', f.block ?? '-', f.channels === null ? '-' : String(f.channels), f.hidden === null ? '-' : String(f.hidden), f.kernelSize === null ? '-' : String(f.kernelSize), notes];
      rows.push(row.map(printable));
    }
    lines.push('', table(rows));
    const first = supported[0];
    if (first) {
      lines.push(
        '',
        'Load one:',
        `  const { readSafetensors, ${first.block} } = require('squeeze-excite');`,
        // JSON.stringify leaves C1 raw; printable's \xNN is the same character in a JS string literal.
        printable(`  const block = ${first.block}.fromStateDict(readSafetensors(${JSON.stringify(path.basename(file))}), ${JSON.stringify(first.prefix)}, { kind: ${JSON.stringify(first.kind)} });`),
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

function main(argv) {
  const args = argv.slice(2);
  if (args.length === 0 || args.includes('--help') || args.includes('-h') || args[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return args.length === 0 ? 2 : 0;
  }
  if (args[0] === '--version') {
    process.stdout.write(`${require('../package.json').version}\n`);
    return 0;
  }
  if (args[0] !== 'inspect') {
    process.stderr.write(`squeeze-excite: unknown command ${printable(JSON.stringify(args[0]))}\n\n${USAGE}\n`);
    return 2;
  }
  const rest = args.slice(1);
  const json = rest.includes('--json');
  const files = rest.filter((a) => a !== '--json');
  const unknown = files.filter((a) => a.startsWith('--'));
  if (unknown.length > 0 || files.length !== 1) {
    process.stderr.write(`squeeze-excite inspect: expected one file${unknown.length > 0 ? ` (unknown option ${printable(unknown[0])})` : ''}\n\n${USAGE}\n`);
    return 2;
  }
  try {
    inspect(files[0], json);
    return 0;
  } catch (err) {
    const code = err && err.code ? ` [${err.code}${err.check ? `: ${err.check}` : ''}]` : '';
    process.stderr.write(`squeeze-excite inspect: ${printable(err && err.message ? err.message : String(err))}${printable(code)}\n`);
    return 1;
  }
}

process.exitCode = main(process.argv);
