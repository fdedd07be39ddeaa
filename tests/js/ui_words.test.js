// static/parley/ui.js's pure parts: errors in words (the code kept as a detail), the
// day labels of the date separators, and el() refusing HTML and handler attributes.
// Run: node --test tests/js/
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const vm = require('node:vm');
const fs = require('node:fs');

// The smallest DOM ui.js needs: no elements on the page, and elements that record.
class FakeNode {
  constructor(tag) { this.tag = tag; this.attrs = {}; this.children = []; this.textContent = ''; }
  setAttribute(k, v) { this.attrs[k] = v; }
  append(...nodes) { this.children.push(...nodes); }
  addEventListener() {}
}
const context = {
  document: {
    getElementById: () => null,
    addEventListener: () => {},
    createElement: (tag) => new FakeNode(tag),
    createTextNode: (text) => ({text}),
  },
  console,
};
context.window = context;
vm.createContext(context);
vm.runInContext(fs.readFileSync(
  path.join(__dirname, '..', '..', 'static', 'parley', 'ui.js'), 'utf8'), context);
const {errorWords, errorText, dayLabel, el} = context.ParleyUI;

test('a known code reads as what to do, with the code kept at the end', () => {
  const err = {code: 30525, message: "you are in the peer's blocklist"};
  assert.strictEqual(errorWords(err), 'This person has blocked you.');
  assert.strictEqual(errorText(err), 'This person has blocked you. (30525)');
  assert.match(errorWords({code: 910005, message: 'slow down'}), /Wait a moment/);
});

test('an unknown or generic code keeps the server message, as a sentence', () => {
  assert.strictEqual(errorWords({code: 910003, message: 'count must be an integer'}),
    'Count must be an integer.');
  assert.strictEqual(errorText({code: 123, message: 'odd'}), 'Odd. (123)');
  assert.strictEqual(errorWords({code: 70003, message: 'UserSig invalid'}),
    'Your sign-in was refused. Sign in again.');
  assert.strictEqual(errorWords(null), 'Something went wrong. Try again.');
  assert.strictEqual(errorWords('offline'), 'Offline.');
  assert.strictEqual(errorText(new Error('boom')), 'Boom.');
});

test('days read Today, Yesterday, then a date (with the year when not this one)', () => {
  const now = new Date(2026, 5, 15, 9, 30);  // local time
  const at = (d) => d.getTime() / 1000;
  assert.strictEqual(dayLabel(at(new Date(2026, 5, 15, 0, 1)), now), 'Today');
  assert.strictEqual(dayLabel(at(new Date(2026, 5, 14, 23, 59)), now), 'Yesterday');
  const older = dayLabel(at(new Date(2026, 5, 13, 12)), now);
  assert.ok(!['Today', 'Yesterday'].includes(older) && older.includes('13'), older);
  assert.ok(dayLabel(at(new Date(2025, 11, 31, 12)), now).includes('2025'));
});

test('el() puts text in as text and refuses handlers and HTML', () => {
  const node = el('span', {className: 'x', text: '<b>hi</b>', title: 'a"b'});
  assert.strictEqual(node.textContent, '<b>hi</b>');
  assert.strictEqual(node.attrs.title, 'a"b');
  assert.throws(() => el('img', {onerror: 'alert(1)'}), /not allowed/);
  assert.throws(() => el('div', {innerHTML: '<b>x</b>'}), /not allowed/);
});
