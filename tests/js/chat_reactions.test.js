// The chat page's reaction rows (static/parley/reactions.js), their state kept between a
// history page's getMessageReactions and the MESSAGE_REACTIONS_UPDATED events. The
// clicks and the picker are tested in Chromium (tests/web/test_reactions.py).
// Run: node --test tests/js/
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const vm = require('node:vm');
const fs = require('node:fs');

class FakeNode {
  constructor(tag) {
    this.tag = tag; this.attrs = {}; this.children = []; this.textContent = '';
    this.className = ''; this.isConnected = true;
  }
  setAttribute(k, v) { this.attrs[k] = v; }
  append(...nodes) { this.children.push(...nodes); }
  replaceChildren(...nodes) { this.children = nodes; }
  contains(node) {
    return node === this || this.children.some((c) => c instanceof FakeNode && c.contains(node));
  }
  addEventListener() {}
  querySelector(selector) {  // '.class' only
    const wanted = selector.slice(1);
    const find = (node) => {
      for (const child of node.children || []) {
        if (child.className === wanted) return child;
        const deeper = find(child);
        if (deeper) return deeper;
      }
      return null;
    };
    return find(this);
  }
}
const context = {
  document: {
    getElementById: () => null,
    activeElement: null,
    addEventListener: () => {},
    createElement: (tag) => new FakeNode(tag),
    createTextNode: (text) => ({text}),
  },
  location: {href: 'https://chat.example/chat/', origin: 'https://chat.example'},
  console,
};
context.window = context;
vm.createContext(context);
for (const name of ['ui.js', 'reactions.js']) {
  vm.runInContext(fs.readFileSync(
    path.join(__dirname, '..', '..', 'static', 'parley', name), 'utf8'), context, {filename: name});
}

function reaction(reactionID, totalUserCount) {
  return {reactionID, totalUserCount, partialUserList: [], reactedByMyself: false};
}

function chips(row) {
  return row.children.filter((c) => c.className === 'reaction-chip')
    .map((c) => `${c.attrs['data-reaction-id']} ${c.children[1].textContent}`);
}

test('an event that comes while a page of reactions loads is not undone by its answer',
  async () => {
    let answer;
    const chat = {getMessageReactions: () => new Promise((resolve) => { answer = resolve; })};
    const reactions = context.ParleyReactions.attach({chat, showError: () => {}});
    const m = {ID: '1-100-7', seq: 1};
    const row = reactions.row(m);
    const loading = reactions.load([m]);
    // The peer reacts while the call is under way; its answer was read before that.
    reactions.onUpdated({messageID: m.ID, reactionList: [reaction('👍', 1)]});
    assert.deepStrictEqual(chips(row), ['👍 1']);
    answer({data: {resultList: [{messageID: m.ID, reactionList: [reaction('❤️', 1)]}]}});
    await loading;
    assert.deepStrictEqual(chips(row), ['❤️ 1', '👍 1']);
    // After the load, an event applies as it comes.
    reactions.onUpdated({messageID: m.ID, reactionList: [reaction('👍', 0)]});
    assert.deepStrictEqual(chips(row), ['❤️ 1']);
  });
