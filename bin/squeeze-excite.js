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
Control, format and invisible characters in names (bidi controls, zero-width spaces, ...) are
shown escaped (\\xNN, \\uNNNN or \\u{NNNNN}; in --json, \\uNNNN). -- ends the options.
Exit status: 0 success (also when the reader of the output stops early, as head does), 1 the file
cannot be read or is not valid safetensors, 2 usage error.`;

// Tensor names and paths come from the file and the caller: raw, a name holding ESC sequences,
// BEL or a newline could clear the screen, set the title or forge a table row, a bidi control
// reorder what follows on the line ("Trojan Source"), and an invisible character make two
// different prefixes look the same (attacks, 2026-12-04: zero-width spaces, the BOM, then tag
// characters, variation selectors, the combining grapheme joiner, Hangul fillers). So every control
// (Cc: C0, DEL, C1, which some terminals obey as ESC sequences), format character (Cf: bidi
// controls, zero-width characters, tags), line or paragraph separator and default-ignorable code
// point is shown escaped: \xNN up to U+00FF, \uNNNN, or \u{NNNNN} beyond the BMP.
const ESCAPED = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/gu;

// Plain text (the table, the file name): a backslash shown as \\ too, so that a name holding the
// text "\x0a" does not look like one holding a newline (an attack, 2026-12-05). Not for code or
// JSON, whose own escapes already double it.
function printableText(s) {
  return printable(String(s).replace(/\\/g, '\\\\'));
}

function printable(s) {
  return String(s).replace(ESCAPED, (c) => {
    const code = c.codePointAt(0);
    if (code <= 0xff) return `\\x${code.toString(16).padStart(2, '0')}`;
    return code <= 0xffff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

// JSON.stringify escapes C0 in strings (the C0 outside them, its line breaks, must stay) and
// leaves the rest of the set raw: \uNNNN (a surrogate pair beyond the BMP) keeps the same value.
const ESCAPED_IN_JSON = /(?![\u0000-\u001f])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/gu;

function jsonText(value) {
  return JSON.stringify(value, null, 2).replace(ESCAPED_IN_JSON, (c) => {
    let out = '';
    for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return out;
  });
}

/** `{ gate: 'hardsigmoid', strict: false }`, or '' for no options. */
function optionsText(options) {
  const entries = Object.entries(options);
  return entries.length === 0 ? '' : `{ ${entries.map(([k, v]) => `${k}: ${typeof v === 'string' ? `'${v}'` : String(v)}`).join(', ')} }`;
}

function pad(s, n) {
  return s + ' '.repeat(Math.max(0, n - s.length));
}

// Columns are padded to their widest cell up to this many characters; a longer cell overflows its
// column alone. Padding every row to one 100 KB prefix printed 200 MB for a 2 MB file, and a 1 MB
// one failed with "Invalid string length" (an attack, 2026-12-04).
const MAX_COLUMN = 64;

function table(rows) {
  // A loop, not Math.max(...column): spreading 200k rows into arguments overflowed the stack.
  const widths = rows[0].map((_, i) => rows.reduce((w, r) => Math.max(w, Math.min(r[i].length, MAX_COLUMN)), 0));
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
  const lines = [`${printableText(file)}: ${nt} tensor${nt === 1 ? '' : 's'}, ${supported.length} attention module${supported.length === 1 ? '' : 's'}${found.length > supported.length ? ` (+${found.length - supported.length} unsupported)` : ''}`];
  if (found.length === 0) {
    lines.push(
      'Recognised: the weights of timm SEModule, EffectiveSEModule, SqueezeExcite (EfficientNet/MobileNet blocks), EcaModule, CbamModule',
      'and torchvision SqueezeExcitation, under any prefix (README, "Loading PyTorch checkpoints"); an EcaModule',
      "or EffectiveSEModule saved alone (its tensors at the root) is not listed: load it with fromStateDict and prefix ''.",
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
      rows.push(row.map(printableText));
    }
    lines.push('', table(rows));
    const first = supported[0];
    if (first) {
      lines.push(
        '',
        'Load one:',
        `  const { readSafetensors, ${first.block} } = require('squeeze-excite');`,
        `  // in an ES module: import { readSafetensors, ${first.block} } from 'squeeze-excite';`,
        // JSON.stringify leaves C1 raw; printable's \xNN is the same character in a JS string literal.
        // Only the module's tensors are read (names): the whole file may be larger than one array
        // can hold (ERR_SQEX_SAFETENSORS_TOO_LARGE for a checkpoint with an 8 GiB tensor).
        printable(`  const file = readSafetensors(${JSON.stringify(file)}${first.prefix === '' ? '' : `, { names: (name) => name.startsWith(${JSON.stringify(`${first.prefix}.`)}) }`});`),
        printable(`  const block = ${first.block}.fromStateDict(file, ${JSON.stringify(first.prefix)}, { kind: ${JSON.stringify(first.kind)}${Object.entries(first.options).map(([k, v]) => `, ${k}: ${JSON.stringify(v)}`).join('')} });`),
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

// Node's own errors for the file (passed through by the reader) say what failed, not what to do
// (an attack, 2026-12-04): the usual fix, by code.
function fileErrorFix(err, file) {
  switch (err && err.code) {
    case 'ENOENT':
      return file === '-'
        ? 'inspect reads a file, not standard input: save the checkpoint to a file and name it.'
        : `No such file: check the path (a relative one is taken from the working directory${cwdText()}).`;
    case 'EACCES':
    case 'EPERM':
      return 'This user may not read the file (or search a folder on its path): check its permissions (ls -l), or run as a user who may.';
    case 'ELOOP':
      return 'The path goes through a loop of symbolic links: point inspect at the file itself.';
    case 'ENAMETOOLONG':
      return 'The path (or one of its names) is longer than the system allows.';
    case 'ENOTDIR':
      return 'A name on the path that should be a folder is a file.';
    default:
      return '';
  }
}

function cwdText() {
  try {
    return `, ${process.cwd()}`;
  } catch {
    return ', which no longer exists';
  }
}

// A 4 KB path (ENAMETOOLONG) was echoed whole: quoted paths over 200 characters are shortened.
function shortPaths(message) {
  return String(message).replace(/(['"])((?:(?!\1).){200,})\1/g, (_, q, p) => `${q}${p.slice(0, 80)}…${p.slice(-80)}${q} (${p.length} characters)`);
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
  if (args[0] === '--version' && args.length > 1) return usageError(` --version: takes no arguments, received ${args.slice(1).map((a) => printable(JSON.stringify(a))).join(' ')}`);
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
  if (args[0] !== 'inspect' && args[0].startsWith('-') && args[0] !== '-') return usageError(`: unknown option ${printable(args[0])} (options: --help, --version; inspect's go after it)`);
  if (args[0] !== 'inspect') {
    // A file named where the command goes (`squeeze-excite model.safetensors`): the command it needs.
    const file = /\.safetensors$/i.test(args[0]) || /[/\\]/.test(args[0]);
    // Quoted for a POSIX shell where it needs it (a space, a quote).
    const arg = /^[\w@%+=:,./-]+$/.test(args[0]) ? args[0] : `'${args[0].replace(/'/g, "'\\''")}'`;
    const near = file
      ? ` (to list a file's attention modules: squeeze-excite inspect ${printable(arg)})`
      : require('../dist/args.js').editDistance(args[0].toLowerCase(), 'inspect') <= 2 ? " (did you mean 'inspect'?)" : '';
    // Quoted, with printable's escapes (JSON.stringify's \u001b differed from the \x1b elsewhere).
    return usageError(`: unknown command "${printable(args[0].replace(/["\\]/g, (c) => `\\${c}`))}"${near}`);
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
      ? `: reading ${shortPaths(JSON.stringify(typeof err.resource === 'string' ? err.resource : files[0]))} is not permitted (run node with --allow-fs-read for it)`
      : '';
    const fix = denied === '' ? fileErrorFix(err, files[0]) : '';
    process.stderr.write(`squeeze-excite inspect: ${printable(err && err.message ? shortPaths(err.message) : String(err))}${printable(denied)}${printable(code)}${fix ? `\n${printable(fix)}` : ''}\n`);
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
