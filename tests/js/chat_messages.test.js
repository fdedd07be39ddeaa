// The chat page's message code, its pure parts: render.js (the URL rule, sizes, one-line
// texts, the shapes a merged list's items come in, the sticker set) and compose.js's
// send errors (words, and whether a Retry can help). The DOM side is tested in Chromium
// (tests/web/test_message_types.py).
// Run: node --test tests/js/
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const vm = require('node:vm');
const fs = require('node:fs');

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
  location: {href: 'https://chat.example/chat/', origin: 'https://chat.example'},
  URL,
  console,
};
context.window = context;
vm.createContext(context);
for (const name of ['ui.js', 'render.js', 'compose.js']) {
  vm.runInContext(fs.readFileSync(
    path.join(__dirname, '..', '..', 'static', 'parley', name), 'utf8'), context, {filename: name});
}
const R = context.ParleyRender;
const {explain} = context.ParleyWords;

test('only http(s) URLs and paths on this site pass', () => {
  assert.strictEqual(R.safeUrl('https://cdn.example/a.png'), 'https://cdn.example/a.png');
  assert.strictEqual(R.safeUrl('/media/a.png'), 'https://chat.example/media/a.png');
  for (const bad of ['javascript:alert(1)', ' javascript:x', 'data:image/png;base64,AA',
    '//evil.example/x', 'blob:https://chat.example/1', 'ftp://x/y', '', null, 42, {}]) {
    assert.strictEqual(R.safeUrl(bad), '', String(bad));
  }
  // A file being sent shows from its object URL, this page's own only.
  assert.strictEqual(R.safeUrl('blob:https://chat.example/1', true), 'blob:https://chat.example/1');
  assert.strictEqual(R.safeUrl('blob:https://evil.example/1', true), '');
});

test('sizes in human units', () => {
  assert.deepStrictEqual([0, 1023, 1024, 2800, 5 * 1048576, 3 * 2 ** 30, -1, 'x'].map((n) => R.humanSize(n)),
    ['0 B', '1023 B', '1.0 KB', '2.7 KB', '5.0 MB', '3.0 GB', '', '']);
});

test('every type has its one-line text, never undefined', () => {
  const lines = [
    [{type: 'TIMTextElem', payload: {text: 'hi'}}, 'hi'],
    [{type: 'TIMImageElem', payload: {}}, '[Image]'],
    [{type: 'TIMFileElem', payload: {fileName: 'a.txt'}}, '[File] a.txt'],
    [{type: 'TIMFaceElem', payload: {index: 1, data: ''}}, '[Sticker] laugh'],
    [{type: 'TIMFaceElem', payload: {index: 99, data: 'yz00'}}, '[Sticker] yz00'],
    [{type: 'TIMLocationElem', payload: {description: 'Home'}}, '[Location] Home'],
    [{type: 'TIMCustomElem', payload: {description: 'Order'}}, '[Custom message] Order'],
    [{type: 'TIMRelayElem', payload: {title: 'Trip'}}, '[Chat history] Trip'],
    [{type: 'TIMWhatever', payload: null}, '[Unsupported message]'],
    [{type: 'TIMTextElem', payload: {text: 5}}, ''],
  ];
  for (const [elem, text] of lines) assert.strictEqual(R.elementText(elem), text);
  assert.strictEqual(R.messageText({isRevoked: true, elements: []}), '[Message recalled]');
});

test("a merged list's items in each shape they come in", () => {
  const sdk = {elements: [{type: 'TIMTextElem', payload: {text: 'a'}}]};
  const wire = {messageBody: [{type: 'TIMTextElem', payload: {text: 'b'}}]};
  const rest = {MsgBody: [{MsgType: 'TIMCustomElem', MsgContent: {Desc: 'c', Data: 'd', Ext: 'e'}},
                          {MsgType: 'TIMImageElem', MsgContent: {UUID: 'u', ImageInfoArray: [
                            {Type: 3, URL: 'https://x/t.png', Width: 1, Height: 1}]}}]};
  assert.strictEqual(R.messageText(sdk), 'a');
  assert.strictEqual(R.messageText(wire), 'b');
  const [custom, image] = R.elementsOf(rest);
  assert.deepStrictEqual(JSON.parse(JSON.stringify(custom.payload)),
    {description: 'c', data: 'd', extension: 'e'});
  assert.deepStrictEqual(JSON.parse(JSON.stringify(image.payload.imageInfoArray)),
    [{type: 3, url: 'https://x/t.png', width: 1, height: 1}]);
  assert.strictEqual(R.elementsOf(null).length, 0);
  assert.strictEqual(R.elementsOf({elements: [null, 3]}).length, 0);
});

test('the sticker set: by name, else by index; anything else is unknown', () => {
  assert.strictEqual(R.faceName({index: 0, data: 'cool'}), 'cool');
  assert.strictEqual(R.faceName({index: 7}), 'angry');
  assert.strictEqual(R.faceName({index: 8}), null);
  assert.strictEqual(R.faceName({index: 2, data: 'other-set'}), null);
  assert.strictEqual(R.faceName({index: -1}), null);
});

test('a send that can never succeed offers no Retry; one that can, does', () => {
  for (const code of [20003, 20007, 20009, 20010, 20011, 20012, 90010, 93000, 910006, 910007,
    2108, 2252, 2253, 2402, 910013, 910014]) {
    assert.strictEqual(explain({code, message: 'x'}).permanent, true, String(code));
  }
  for (const code of [910005, 910201, 910202, 910503, 20005, 2400]) {
    assert.strictEqual(explain({code, message: 'x'}).permanent, false, String(code));
  }
});

test('words name the peer; the code stays in the detail', () => {
  const why = explain({code: 20007, message: 'the receiver has blocked the sender'}, 'Bob');
  assert.strictEqual(why.text, 'Bob has blocked you, so your messages are not delivered.');
  assert.strictEqual(why.detail, '20007: the receiver has blocked the sender');
  assert.ok(!why.text.includes('20007'));
  // Codes the table does not know read as every page's words (ui.js), Retry offered.
  const other = explain({code: 30525, message: 'x'});
  assert.strictEqual(other.text, 'This person has blocked you.');
  assert.strictEqual(other.permanent, false);
  assert.strictEqual(explain(undefined).permanent, false);
});
