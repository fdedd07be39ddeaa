// The JS SDK's event chain (PROTOCOL.md prevSeq, the `sync` op), with the socket played
// by the test: repeats dropped, a gap answered by one `sync` on the same socket, the
// sync's replay handed out in order, entries the replay leaves out passed over, and a
// SYNC_RESET from a sync answered by a new login. Run: node --test tests/js/
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');

class FakeSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.all.push(this);
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close() { this.readyState = 3; }
  open() { this.readyState = 1; this.onopen(); }
  frame(obj) { this.onmessage({data: JSON.stringify(obj)}); }
  ops(op) { return this.sent.filter((f) => f.op === op); }
}
FakeSocket.OPEN = 1;
FakeSocket.all = [];
globalThis.WebSocket = FakeSocket;
// The SDK logs the list loads that logout() cuts short; not this test's subject.
console.error = console.warn = () => {};
require(path.join(__dirname, '..', '..', 'static', 'parley', 'sdk.js'));
const {ParleyChat} = globalThis;

const tick = () => new Promise((resolve) => setImmediate(resolve));

function message(seq, prevSeq) {
  return {event: 'MESSAGE_RECEIVED', seq, prevSeq,
          data: [{ID: `m${seq}`, conversationID: 'C2Calice', from: 'alice', to: 'bob',
                  flow: 'in', seq, elements: []}]};
}

async function loggedIn(head) {
  const chat = ParleyChat.create({url: 'ws://parley.test/ws/'});
  const handed = [];
  chat.on(ParleyChat.EVENT.MESSAGE_RECEIVED, (ev) => handed.push(...ev.data.map((m) => m.ID)));
  const login = chat.login({userID: 'bob', userSig: 'sig'});
  const ws = FakeSocket.all[FakeSocket.all.length - 1];
  ws.open();
  ws.frame({id: ws.ops('login')[0].id, ok: true, data: {userID: 'bob', seq: head}});
  await login;
  ws.frame({event: 'SDK_READY', data: {seq: head}});
  return {chat, ws, handed};
}

test('repeats are dropped, a gap asks one sync, its replay comes in order', async () => {
  const {chat, ws, handed} = await loggedIn(5);
  ws.frame(message(6, 5));
  ws.frame(message(6, 5));  // a repeat
  assert.deepStrictEqual(handed, ['m6']);

  ws.frame(message(8, 7));  // 7 was lost on its way
  ws.frame(message(9, 8));  // still after the gap: dropped, no second sync
  assert.deepStrictEqual(handed, ['m6']);
  const syncs = ws.ops('sync');
  assert.deepStrictEqual(syncs.map((f) => f.data), [{since: 6}]);
  assert.strictEqual(ws.ops('login').length, 1);  // no reconnect

  ws.frame({id: syncs[0].id, ok: true, data: {seq: 10}});
  await tick();
  // The replay: 7, 8, 9 chained; 10 left out (expired, say).
  ws.frame(message(7, 6));
  ws.frame(message(8, 7));
  ws.frame(message(9, 8));
  // The next live event chains on from the sync's head, which passes over 10.
  ws.frame(message(11, 10));
  assert.deepStrictEqual(handed, ['m6', 'm7', 'm8', 'm9', 'm11']);
  assert.strictEqual(ws.ops('sync').length, 1);
  chat.logout();
});

test('a SYNC_RESET answering a sync logs in again', async () => {
  const {chat, ws} = await loggedIn(5);
  ws.frame(message(8, 7));
  const sync = ws.ops('sync')[0];
  ws.frame({id: sync.id, ok: true, data: {seq: 9}});
  await tick();
  const before = FakeSocket.all.length;
  ws.frame({event: 'SYNC_RESET', data: {seq: 9}});
  await new Promise((resolve) => setTimeout(resolve, 1200));  // the first backoff
  assert.strictEqual(FakeSocket.all.length, before + 1);
  const again = FakeSocket.all[FakeSocket.all.length - 1];
  again.open();
  assert.strictEqual(again.ops('login')[0].data.since, 5);
  chat.logout();
});

test("a replay of this device's own acknowledged send is not handed out", async () => {
  const {chat, ws, handed} = await loggedIn(5);
  const msg = chat.createTextMessage({to: 'alice', conversationType: 'C2C',
                                      payload: {text: 'mine'}});
  const sent = chat.sendMessage(msg);
  const req = ws.ops('sendMessage')[0];
  ws.frame({id: req.id, ok: true, data: {ID: 'own1', conversationID: 'C2Calice', from: 'bob',
                                          to: 'alice', flow: 'out', seq: 1, elements: []}});
  await sent;
  // After a channel-layer outage the server's catch-up replays the sender's own entry.
  ws.frame({event: 'MESSAGE_RECEIVED', seq: 6, prevSeq: 5,
            data: [{ID: 'own1', conversationID: 'C2Calice', from: 'bob', to: 'alice',
                    flow: 'out', seq: 1, elements: []}]});
  ws.frame(message(7, 6));
  assert.deepStrictEqual(handed, ['m7']);
  chat.logout();
});
