// static/parley/sdk.d.ts and the SDK cannot drift apart: every method of the Chat
// interface exists on a client and every public method of a client is declared; EVENT
// and TYPES match name for name and value for value; every event has its EventMap
// entry. And sdk.js's header lists every error code the SDK raises itself.
// (No TypeScript compiler on the machine: this reads the declarations' names.)
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');

const DIR = path.join(__dirname, '..', '..', 'static', 'parley');
const DTS = fs.readFileSync(path.join(DIR, 'sdk.d.ts'), 'utf8');
const SDK = fs.readFileSync(path.join(DIR, 'sdk.js'), 'utf8');

globalThis.WebSocket = class {};
require(path.join(DIR, 'sdk.js'));
const {ParleyChat} = globalThis;

/** The lines of a block opened by the line `opener` (at 2 spaces), up to its close. */
function block(opener) {
  const lines = DTS.split('\n');
  const start = lines.indexOf(opener);
  assert.notStrictEqual(start, -1, `no "${opener}" in sdk.d.ts`);
  const end = lines.findIndex((line, i) => i > start && /^  }/.test(line));
  return lines.slice(start + 1, end);
}

function constants(opener) {
  const out = {};
  for (const line of block(opener)) {
    const m = /^\s+readonly (\w+): (?:'([^']*)'|(-?\d+));/.exec(line);
    if (m) out[m[1]] = m[2] !== undefined ? m[2] : Number(m[3]);
  }
  return out;
}

test('every method declared on Chat exists on a client, and every public one is declared', () => {
  const declared = block('  interface Chat {')
    .map((line) => /^ {4}(\w+)(?:<[^(]*>)?\(/.exec(line))
    .filter(Boolean).map((m) => m[1]);
  assert.ok(declared.length > 50, `only ${declared.length} methods read from sdk.d.ts`);
  assert.strictEqual(new Set(declared).size, declared.length, 'a method is declared twice');
  const chat = ParleyChat.create({url: 'ws://parley.test/ws/'});
  const proto = Object.getPrototypeOf(chat);
  const actual = Object.getOwnPropertyNames(proto)
    .filter((name) => name !== 'constructor' && !name.startsWith('_')
            && typeof proto[name] === 'function');
  const undeclared = actual.filter((name) => !declared.includes(name));
  const missing = declared.filter((name) => !actual.includes(name));
  assert.deepStrictEqual({undeclared, missing}, {undeclared: [], missing: []},
    'sdk.d.ts and sdk.js differ: declare the undeclared in sdk.d.ts `interface Chat`');
});

test('EVENT and TYPES are declared name for name, value for value', () => {
  assert.deepStrictEqual(constants('  const EVENT: {'), Object.assign({}, ParleyChat.EVENT));
  assert.deepStrictEqual(constants('  const TYPES: {'), Object.assign({}, ParleyChat.TYPES));
});

test("every event has its handler's data declared in EventMap", () => {
  const keys = block('  interface EventMap {')
    .map((line) => /^ {4}(\w+):/.exec(line)).filter(Boolean).map((m) => m[1]);
  assert.deepStrictEqual(keys.sort(), Object.values(ParleyChat.EVENT).sort());
});

test('the namespace declares what ParleyChat holds', () => {
  const top = DTS.split('\n').map((line) => /^ {2}(?:const|function) (\w+)/.exec(line))
    .filter(Boolean).map((m) => m[1]);
  assert.deepStrictEqual(top.sort(), Object.keys(ParleyChat).sort());
});

test("sdk.js's header lists every error code the SDK raises", () => {
  const end = SDK.indexOf('*/');
  const header = SDK.slice(0, end);
  const code = SDK.slice(end);
  const raised = new Set();
  const patterns = [
    /chatError\((\d{4,6})\b/g,                            // chatError(910003, ...)
    /const [A-Z_]+ = (\d{4,6}); +\/\/ (?:Tencent|Parley)/g,  // const X = 2108;  // Tencent: ...
    /\b(?:noFile|badType|tooLarge|failed): (\d{4,6})\b/g,  // FILE_KINDS
  ];
  for (const pattern of patterns) {
    for (const m of code.matchAll(pattern)) raised.add(m[1]);
  }
  assert.ok(raised.size > 20, `only ${raised.size} codes found`);
  const missing = [...raised].filter((c) => !new RegExp(`\\b${c}\\b`).test(header));
  assert.deepStrictEqual(missing, [], 'codes the header comment does not list');
});
