#!/usr/bin/env node
// Where the bytes of a Wasm module go: section sizes, and the code section by function and by
// crate (from the `name` custom section, when the module still has one), each with its size
// and its gzip share. A dependency-free stand-in for `twiggy top` on this machine.
//
//   node tests/bench/wasm-size.mjs [build/index_bg.wasm] [--top 40] [--callers SUBSTRING]
//
// `--callers` lists the functions that call the functions whose name contains SUBSTRING (found
// by scanning the bodies for a `call` of their index: a hint, not a proof), to find out who pulls
// a large function in.

import fs from 'node:fs';
import { gzipSync } from 'node:zlib';

const args = process.argv.slice(2);
const topIdx = args.indexOf('--top');
const TOP = topIdx >= 0 ? Number(args[topIdx + 1]) : 40;
const callersIdx = args.indexOf('--callers');
const CALLERS = callersIdx >= 0 ? args[callersIdx + 1] : null;
// the first argument that is neither an option nor an option's value (an index of -1 + 1 is 0:
// only a present option's value is skipped)
const optionValues = new Set([topIdx, callersIdx].filter((i) => i >= 0).map((i) => i + 1));
const file = args.find((a, i) => !a.startsWith('--') && !optionValues.has(i)) ?? 'build/index_bg.wasm';
const buf = fs.readFileSync(file);

let pos = 8;
function leb() {
  let result = 0;
  let shift = 0;
  let byte;
  do {
    byte = buf[pos++];
    result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return result;
}
function str() {
  const len = leb();
  const s = buf.subarray(pos, pos + len).toString('utf8');
  pos += len;
  return s;
}

const SECTION = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export', 'start', 'element', 'code', 'data', 'datacount', 'tag'];
const sections = [];
let importedFuncs = 0;
const bodies = []; // [start, end] of each defined function's body
const names = new Map();
while (pos < buf.length) {
  const id = buf[pos++];
  const size = leb();
  const start = pos;
  const end = start + size;
  let label = SECTION[id] ?? `id ${id}`;
  if (id === 0) label = `custom "${str()}"`;
  if (id === 2) {
    const n = leb();
    for (let i = 0; i < n; i++) {
      str();
      str();
      const kind = buf[pos++];
      if (kind === 0) {
        importedFuncs += 1;
        leb();
      } else if (kind === 1) {
        pos += 1;
        const flags = leb();
        leb();
        if (flags & 1) leb();
      } else if (kind === 2) {
        const flags = leb();
        leb();
        if (flags & 1) leb();
      } else if (kind === 3) {
        pos += 2;
      } else if (kind === 4) {
        pos += 1;
        leb();
      }
    }
  }
  if (id === 10) {
    const n = leb();
    for (let i = 0; i < n; i++) {
      const len = leb();
      bodies.push([pos, pos + len]);
      pos += len;
    }
  }
  if (label === 'custom "name"') {
    while (pos < end) {
      const sub = buf[pos++];
      const subLen = leb();
      const subEnd = pos + subLen;
      if (sub === 1) {
        const n = leb();
        for (let i = 0; i < n; i++) {
          const idx = leb();
          names.set(idx, str());
        }
      }
      pos = subEnd;
    }
  }
  sections.push({ label, size, gzip: gzipSync(buf.subarray(start, end)).length });
  pos = end;
}

const kb = (n) => `${(n / 1000).toFixed(1)} KB`;
console.log(`${file}: ${kb(buf.length)} raw, ${kb(gzipSync(buf).length)} gzip (zlib level 6)\n`);
console.log('sections (each gzipped alone):');
for (const s of sections.sort((a, b) => b.size - a.size)) {
  console.log(`  ${s.label.padEnd(26)} ${kb(s.size).padStart(10)} ${kb(s.gzip).padStart(10)} gzip`);
}

if (names.size === 0) {
  console.log('\n(no name section: build without stripping names to see functions and crates)');
  process.exit(0);
}

/** The crate of a (legacy- or v0-mangled, or demangled) Rust symbol, else a coarse group. */
function crateOf(name) {
  let n = name;
  const legacy = n.match(/^_ZN(?:\d+)([A-Za-z_][A-Za-z0-9_]*)/);
  if (legacy) return legacy[1];
  n = n.replace(/^<+/, '').replace(/^&(mut )?/, '');
  const m = n.match(/^([A-Za-z_][A-Za-z0-9_]*)::/);
  if (m) return m[1];
  if (/^(__wbg|__wbindgen|wasm_bindgen)/.test(n)) return 'wasm_bindgen';
  if (/^(dlmalloc|__rust|rust_)/.test(n)) return 'std (alloc)';
  return n.split(/[<:( ]/)[0] || '?';
}

function demangle(name) {
  if (!name.startsWith('_ZN')) return name;
  let p = 3;
  const parts = [];
  while (p < name.length && name[p] !== 'E') {
    const m = name.slice(p).match(/^(\d+)/);
    if (!m) break;
    const len = Number(m[1]);
    p += m[1].length;
    parts.push(name.slice(p, p + len));
    p += len;
  }
  if (parts.length && /^h[0-9a-f]{16}$/.test(parts.at(-1))) parts.pop();
  return parts.join('::').replace(/\$LT\$/g, '<').replace(/\$GT\$/g, '>').replace(/\$u20\$/g, ' ').replace(/\$RF\$/g, '&').replace(/\$C\$/g, ',').replace(/\.\./g, '::').replace(/\$u7b\$/g, '{').replace(/\$u7d\$/g, '}');
}

const funcs = bodies.map(([s, e], i) => {
  const name = demangle(names.get(importedFuncs + i) ?? `func[${importedFuncs + i}]`);
  return { name, size: e - s, crate: crateOf(name), body: buf.subarray(s, e) };
});
const code = funcs.reduce((n, f) => n + f.size, 0);

const byCrate = new Map();
for (const f of funcs) {
  const c = byCrate.get(f.crate) ?? { size: 0, count: 0, bodies: [] };
  c.size += f.size;
  c.count += 1;
  c.bodies.push(f.body);
  byCrate.set(f.crate, c);
}
console.log(`\ncode by crate (${funcs.length} functions, ${kb(code)}; gzip of the crate's bodies alone):`);
for (const [crate, c] of [...byCrate].sort((a, b) => b[1].size - a[1].size).slice(0, TOP)) {
  const gz = gzipSync(Buffer.concat(c.bodies)).length;
  console.log(`  ${crate.padEnd(28)} ${kb(c.size).padStart(10)} ${((c.size / code) * 100).toFixed(1).padStart(5)}% ${kb(gz).padStart(10)} gzip  ${c.count} fns`);
}
console.log(`\nlargest functions:`);
for (const f of [...funcs].sort((a, b) => b.size - a.size).slice(0, TOP)) {
  console.log(`  ${kb(f.size).padStart(10)}  ${f.name.slice(0, 150)}`);
}

if (CALLERS) {
  const ulebBytes = (n) => {
    const out = [];
    do {
      let byte = n & 0x7f;
      n >>>= 7;
      if (n !== 0) byte |= 0x80;
      out.push(byte);
    } while (n !== 0);
    return Buffer.from(out);
  };
  const wanted = funcs.map((f, i) => [f, importedFuncs + i]).filter(([f]) => f.name.includes(CALLERS));
  for (const [f, index] of wanted.slice(0, 10)) {
    const needle = Buffer.concat([Buffer.from([0x10]), ulebBytes(index)]);
    const callers = funcs.filter((g) => g.body.includes(needle)).map((g) => g.name);
    console.log(`\ncallers of ${f.name.slice(0, 120)} (${kb(f.size)}):`);
    for (const c of callers.slice(0, 30)) console.log(`  ${c.slice(0, 150)}`);
  }
}
