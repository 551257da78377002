#!/usr/bin/env node
// squeeze-excite CLI. `inspect FILE.safetensors` lists the attention modules of a checkpoint
// (read from its header only) with the prefix and kind to pass to fromStateDict.
'use strict';

const path = require('node:path');

const USAGE = `Usage:
  squeeze-excite inspect [--json] [--] <file.safetensors>   list the SE / ECA / CBAM modules in a checkpoint
  squeeze-excite --help | --version

inspect reads only the file's header (not the weights). For each module it prints the prefix and
kind to load it with, e.g. SEBlock.fromStateDict(readSafetensors(file), prefix, { kind }).
Control characters in names are shown escaped (\\xNN, or \\uNNNN for line separators and bidi
controls; in --json, \\uNNNN). -- ends the options.
Exit status: 0 success (also when the reader of the output stops early, as head does), 1 the file
cannot be read or is not valid safetensors, 2 usage error.`;

// Tensor names and paths come from the file and the caller: raw, a name holding ESC sequences,
// BEL or a newline could clear the screen, set the title or forge a table row. C0 controls, DEL
// and C1 (U+0080-U+009F, which some terminals obey as ESC sequences) are shown as \xNN; the line
// and paragraph separators and the bidi controls (U+061C, U+200E-U+200F, U+202A-U+202E,
// U+2066-U+2069: they reorder what follows on the line, "Trojan Source") as \uNNNN.
// JSON.stringify escapes C0 itself; the rest of the set it leaves raw (jsonText escapes those).
const RAW_IN_JSON = '\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069';
const CONTROLS = new RegExp(`[\\u0000-\\u001f${RAW_IN_JSON}]`, 'g');
const NON_JSON_SAFE = new RegExp(`[${RAW_IN_JSON}]`, 'g');

function printable(s) {
  return String(s).replace(CONTROLS, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

// JSON.stringify escapes C0 but leaves DEL, C1, the separators and the bidi controls raw; \uNNNN
// keeps the JSON the same value.
function jsonText(value) {
  return JSON.stringify(value, null, 2).replace(NON_JSON_SAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `{ gate: 'hardsigmoid', strict: false }`, or '' for no options. */
function optionsText(options) {
  const entries = Object.entries(options);
  return entries.length === 0 ? '' : `{ ${entries.map(([k, v]) => `${k}: ${typeof v === 'string' ? `'${v}'` : String(v)}`).join(', ')} }`;
}

function pad(s, n) {
  return s + ' '.repeat(Math.max(0, n - s.length));
}

function table(rows) {
  // A loop, not Math.max(...column): spreading 200k rows into arguments overflowed the stack.
  const widths = rows[0].map((_, i) => rows.reduce((w, r) => Math.max(w, r[i].length), 0));
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
  const nt = header.tensors.length;
  const lines = [`${printable(file)}: ${nt} tensor${nt === 1 ? '' : 's'}, ${supported.length} attention module${supported.length === 1 ? '' : 's'}${found.length > supported.length ? ` (+${found.length - supported.length} unsupported)` : ''}`];
  if (found.length === 0) {
    lines.push(
      'Recognised: the weights of timm SEModule, EffectiveSEModule, SqueezeExcite (EfficientNet/MobileNet blocks), EcaModule, CbamModule',
      'and torchvision SqueezeExcitation, under any prefix (README, "Loading PyTorch checkpoints").',
    );
  }
  if (found.length > 0) {
    const rows = [['prefix', 'kind', 'block', 'C', 'hidden', 'k', 'notes']];
    for (const f of found) {
      const pass = optionsText(f.options);
      const notes = [pass ? `pass ${pass}` : '', f.alternatives.length > 0 ? `or ${f.alternatives.join(', ')}` : '', f.foldsBatchNorm ? 'BatchNorm folded' : '', f.note]
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
        printable(`  const block = ${first.block}.fromStateDict(readSafetensors(${JSON.stringify(file)}), ${JSON.stringify(first.prefix)}, { kind: ${JSON.stringify(first.kind)}${Object.entries(first.options).map(([k, v]) => `, ${k}: ${JSON.stringify(v)}`).join('')} });`),
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

function usageError(message) {
  process.stderr.write(`squeeze-excite${message}\n\n${USAGE}\n`);
  return 2;
}

function main(argv) {
  const args = argv.slice(2);
  // No command is a usage error: the usage goes to stderr with status 2, as for the others.
  if (args.length === 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args[0] === '--version') {
    let version;
    try {
      version = require('../package.json').version;
    } catch (err) {
      // e.g. Node's permission model without --allow-fs-read for the package folder
      process.stderr.write(`squeeze-excite --version: cannot read package.json: ${printable(err && err.message ? err.message.split('\n')[0] : String(err))}${err && err.code ? ` [${printable(err.code)}]` : ''}\n`);
      return 1;
    }
    process.stdout.write(`${version}\n`);
    return 0;
  }
  if (args[0] !== 'inspect') {
    // A file named where the command goes (`squeeze-excite model.safetensors`): the command it needs.
    const file = /\.safetensors$/i.test(args[0]) || /[/\\]/.test(args[0]);
    // Quoted for a POSIX shell where it needs it (a space, a quote).
    const arg = /^[\w@%+=:,./-]+$/.test(args[0]) ? args[0] : `'${args[0].replace(/'/g, "'\\''")}'`;
    const near = file
      ? ` (to list a file's attention modules: squeeze-excite inspect ${printable(arg)})`
      : require('../dist/args.js').editDistance(args[0].toLowerCase(), 'inspect') <= 2 ? " (did you mean 'inspect'?)" : '';
    return usageError(`: unknown command ${printable(JSON.stringify(args[0]))}${near}`);
  }
  let json = false;
  let options = true; // until `--`: after it, a name starting with '-' is a file
  const files = [];
  for (const a of args.slice(1)) {
    if (options && a === '--') {
      options = false;
    } else if (options && a.startsWith('-') && a !== '-') {
      if (a === '--json') json = true;
      else if (a === '--help' || a === '-h') {
        process.stdout.write(`${USAGE}\n`);
        return 0;
      } else return usageError(` inspect: unknown option ${printable(a)}`);
    } else {
      files.push(a);
    }
  }
  if (files.length !== 1) return usageError(` inspect: expected one file, received ${files.length}${files.length > 1 ? `: ${files.map((f) => printable(JSON.stringify(f))).join(' ')}` : ''}`);
  try {
    inspect(files[0], json);
    return 0;
  } catch (err) {
    const code = err && err.code ? ` [${err.code}${err.check ? `: ${err.check}` : ''}]` : '';
    // Node's permission model says only "Access to this API has been restricted": name the file
    // and the flag (its error carries the path as `resource`).
    const denied = err && err.code === 'ERR_ACCESS_DENIED'
      ? `: reading ${JSON.stringify(typeof err.resource === 'string' ? err.resource : files[0])} is not permitted (run node with --allow-fs-read for it)`
      : '';
    process.stderr.write(`squeeze-excite inspect: ${printable(err && err.message ? err.message : String(err))}${printable(denied)}${printable(code)}\n`);
    return 1;
  }
}

// A reader that stops early (`inspect f | head -1`) closes the pipe and the next write fails
// with EPIPE, an 'error' event nobody handled (a stack trace, exit 1). Stop quietly instead, with
// the status the command already had (0 once inspect has succeeded); see USAGE.
// Another write error (ENOSPC on a full disk or /dev/full) is said on stderr when stdout failed.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit();
    if (stream === process.stdout) {
      try {
        require('node:fs').writeSync(2, `squeeze-excite: cannot write the output: ${err && err.code ? err.code : String(err)}\n`);
      } catch {
        // stderr is gone too: the status says it
      }
    }
    process.exit(1);
  });
}

process.exitCode = main(process.argv);
