// Accessors on Array.prototype for the first indices (a setter that drops the value, a getter that
// reads undefined), then a Proxy put between Array.prototype and Object.prototype whose set trap
// drops every value: the package's internal lists (shapes, weight slots, header entries, found
// modules) define their elements (primordials.ts listAppend), so results, blocks, a checkpoint's
// header and findAttentionModules come out the same bit for bit. From a newcomer's profile
// (2026-12-04): listAppend's defineProperty took 7 s of a 1e6-tensor header, and its fast path
// must keep this.
'use strict';
const { sqex, rng, fill, weightsFor, fns, check, sameBits, done } = require('./common.cjs');

const shape = [2, 16, 6, 5];
const n = 2 * 16 * 6 * 5;
const r = rng(Number(process.env.SQEX_SEED) || 11);
const x = fill(new Float32Array(n), r);
const weights = { se: weightsFor('se', 16, r), eca: weightsFor('eca', 16, r), cbam: weightsFor('cbam', 16, r) };

// A safetensors file's bytes: one timm SEModule under 'm' (names sorted, offsets in order).
function checkpoint() {
  const t = { 'm.fc1.bias': [4], 'm.fc1.weight': [4, 16, 1, 1], 'm.fc2.bias': [16], 'm.fc2.weight': [16, 4, 1, 1] };
  const header = {};
  let off = 0;
  for (const [k, s] of Object.entries(t)) {
    const bytes = 4 * s.reduce((a, b) => a * b, 1);
    header[k] = { dtype: 'F32', shape: s, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + off);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  const data = new Float32Array(off / 4);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) / 4;
  Buffer.from(data.buffer).copy(out, 8 + json.length);
  return new Uint8Array(out);
}
const file = checkpoint();

function everything() {
  const out = {};
  for (const op of ['se', 'eca', 'cbam']) out[op] = fns[op](x, shape, weights[op]);
  const sf = sqex.readSafetensors(file);
  out.block = sqex.SEBlock.fromStateDict(sf, 'm', { kind: 'timm.SEModule' }).forward(x, shape);
  out.header = JSON.stringify(sqex.readSafetensorsHeader(file));
  out.found = JSON.stringify(sqex.findAttentionModules(sf));
  return out;
}

const before = everything();
const compare = (after, what) => {
  for (const k of ['se', 'eca', 'cbam', 'block']) check(sameBits(after[k], before[k]), `${what}: ${k} equals the unpatched result bit for bit`);
  check(after.header === before.header, `${what}: the header reads the same`);
  check(after.found === before.found, `${what}: findAttentionModules finds the same`);
};

const saved = [];
for (let i = 0; i < 16; i++) {
  saved.push(Object.getOwnPropertyDescriptor(Array.prototype, i));
  Object.defineProperty(Array.prototype, i, { get() { return undefined; }, set() {}, configurable: true });
}
// What a patched phase threw is checked after the patch is gone: the report's own arrays are
// under it meanwhile.
let after;
let thrown = null;
try {
  after = everything();
} catch (err) {
  thrown = err;
} finally {
  for (let i = 0; i < 16; i++) delete Array.prototype[i];
}
check(thrown === null, `index accessors: threw ${thrown && thrown.code} ${thrown && thrown.message}`);
if (thrown === null) compare(after, 'index accessors on Array.prototype');

const proto = Object.getPrototypeOf(Array.prototype);
Object.setPrototypeOf(Array.prototype, new Proxy(proto, { set() { return true; } }));
thrown = null;
try {
  after = everything();
} catch (err) {
  thrown = err;
} finally {
  Object.setPrototypeOf(Array.prototype, proto);
}
check(thrown === null, `a Proxy above Array.prototype: threw ${thrown && thrown.code} ${thrown && thrown.message}`);
if (thrown === null) compare(after, 'a Proxy between Array.prototype and Object.prototype');
done();
