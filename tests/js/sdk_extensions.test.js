// The JS SDK's message extensions: isSupportExtension on the send, the three methods
// with the versions the SDK keeps (a stale write is sent with what it last saw and
// answered 23001), and the two events. The server is played by the test (a fake
// WebSocket). Run: node --test tests/js/
'use strict';

const test = require('node:test');
const assert = require('node:assert');

const {FakeSocket, loadSdk} = require('./browser_fakes.js');

const ParleyChat = loadSdk();
const {EVENT} = ParleyChat;
const tick = () => new Promise((resolve) => setImmediate(resolve));
const last = (list) => list[list.length - 1];

async function loggedIn() {
  const chat = ParleyChat.create({url: 'ws://parley.test/ws/'});
  const login = chat.login({userID: 'bob', userSig: 'sig'});
  const ws = last(FakeSocket.all);
  ws.open();
  ws.reply(ws.ops('login')[0], {userID: 'bob', seq: 1});
  await login;
  return {chat, ws};
}

const MESSAGE = {ID: '7-1700000000-9', conversationID: 'C2Calice', isSupportExtension: true};

test('a message created with isSupportExtension is sent with it', async () => {
  const {chat, ws} = await loggedIn();
  const m = chat.createTextMessage({to: 'alice', payload: {text: 'vote'}, isSupportExtension: true});
  assert.strictEqual(m.isSupportExtension, true);
  chat.sendMessage(m).catch(() => {});
  await tick();
  assert.strictEqual(last(ws.ops('sendMessage')).data.isSupportExtension, true);
  const plain = chat.createTextMessage({to: 'alice', payload: {text: 'hi'}});
  assert.strictEqual(plain.isSupportExtension, false);
  chat.sendMessage(plain).catch(() => {});
  await tick();
  assert.strictEqual(last(ws.ops('sendMessage')).data.isSupportExtension, undefined);
  chat.logout();
});

test('set, get and delete send the versions last seen; events keep them', async () => {
  const {chat, ws} = await loggedIn();
  const updated = [];
  const deleted = [];
  chat.on(EVENT.MESSAGE_EXTENSIONS_UPDATED, (ev) => updated.push(ev.data));
  chat.on(EVENT.MESSAGE_EXTENSIONS_DELETED, (ev) => deleted.push(ev.data));

  // Nothing seen yet: each key goes with seq 0.
  let pending = chat.setMessageExtensions(MESSAGE, [{key: 'a', value: '1'}, {key: 'b', value: '2'}]);
  let req = last(ws.ops('setMessageExtensions'));
  assert.deepStrictEqual(req.data, {messageID: MESSAGE.ID, extensions: [
    {key: 'a', value: '1', seq: 0}, {key: 'b', value: '2', seq: 0}]});
  ws.reply(req, {extensions: [{code: 0, key: 'a', value: '1', seq: 1},
    {code: 23001, key: 'b', value: 'theirs', seq: 4}]});
  let res = await pending;
  assert.deepStrictEqual(res.data.extensions.map((e) => [e.code, e.key, e.value]),
    [[0, 'a', '1'], [23001, 'b', 'theirs']]);

  // The retry of b goes with the stored version the conflict told.
  pending = chat.setMessageExtensions(MESSAGE, [{key: 'b', value: 'mine'}]);
  req = last(ws.ops('setMessageExtensions'));
  assert.deepStrictEqual(req.data.extensions, [{key: 'b', value: 'mine', seq: 4}]);
  ws.reply(req, {extensions: [{code: 0, key: 'b', value: 'mine', seq: 5}]});
  await pending;

  // The peer changes a; the event moves the version the SDK sends next.
  ws.frame({event: 'MESSAGE_EXTENSIONS_UPDATED', seq: 2, data: {messageID: MESSAGE.ID,
    extensions: [{key: 'a', value: 'peer', seq: 6}]}});
  assert.deepStrictEqual(updated, [{messageID: MESSAGE.ID,
    extensions: [{key: 'a', value: 'peer', seq: 6}]}]);
  pending = chat.deleteMessageExtensions(MESSAGE, ['a']);
  req = last(ws.ops('deleteMessageExtensions'));
  assert.deepStrictEqual(req.data, {messageID: MESSAGE.ID, extensions: [{key: 'a', seq: 6}]});
  ws.reply(req, {extensions: [{code: 0, key: 'a', value: '', seq: 6}]});
  await pending;

  // get reads every page, and replaces what the SDK knew.
  pending = chat.getMessageExtensions(MESSAGE, ['b']);
  req = last(ws.ops('getMessageExtensions'));
  assert.deepStrictEqual(req.data, {messageID: MESSAGE.ID, startSeq: 0});
  ws.reply(req, {extensions: [{key: 'b', value: 'mine', seq: 5}], isCompleted: false,
    latestSeq: 7, clearSeq: 0});
  await tick();
  req = last(ws.ops('getMessageExtensions'));
  assert.deepStrictEqual(req.data, {messageID: MESSAGE.ID, startSeq: 6});
  ws.reply(req, {extensions: [{key: 'c', value: '3', seq: 7}], isCompleted: true,
    latestSeq: 7, clearSeq: 0});
  res = await pending;
  assert.deepStrictEqual(res.data.extensions, [{key: 'b', value: 'mine', seq: 5}]);

  // Deleted elsewhere: the next set of c goes as a new key.
  ws.frame({event: 'MESSAGE_EXTENSIONS_DELETED', seq: 3, data: {messageID: MESSAGE.ID,
    keyList: ['c']}});
  assert.deepStrictEqual(deleted, [{messageID: MESSAGE.ID, keyList: ['c']}]);
  chat.setMessageExtensions(MESSAGE, [{key: 'c', value: 'x'}, {key: 'b', value: 'y'}])
    .catch(() => {});
  assert.deepStrictEqual(last(ws.ops('setMessageExtensions')).data.extensions,
    [{key: 'c', value: 'x', seq: 0}, {key: 'b', value: 'y', seq: 5}]);

  // No keyList: clear all.
  chat.deleteMessageExtensions(MESSAGE).catch(() => {});
  assert.deepStrictEqual(last(ws.ops('deleteMessageExtensions')).data, {messageID: MESSAGE.ID});
  chat.logout();
});

test('a refusal rejects with its code', async () => {
  const {chat, ws} = await loggedIn();
  const pending = chat.getMessageExtensions({ID: '8-1700000000-1'});
  ws.refuse(last(ws.ops('getMessageExtensions')), 23002, 'no extensions');
  await assert.rejects(pending, (err) => err.code === 23002);
  chat.logout();
});
