// The JS SDK across dropped sockets: calls wait for the next login and go once; a send
// keeps its `random` through any number of reconnects and resends; a kick ends it all.
// The socket is played by the test (browser_fakes.js). Run: node --test tests/js/
'use strict';

const test = require('node:test');
const assert = require('node:assert');

const {FakeSocket, loadSdk} = require('./browser_fakes.js');

const ParleyChat = loadSdk();
const last = (list) => list[list.length - 1];
const tick = () => new Promise((resolve) => setImmediate(resolve));
const backoff = () => new Promise((resolve) => setTimeout(resolve, 1100));  // the first retry

async function logIn(ws, seq = 1) {
  ws.open();
  ws.reply(last(ws.ops('login')), {userID: 'bob', seq});
  await tick();
}

async function loggedIn() {
  const chat = ParleyChat.create({url: 'ws://parley.test/ws/'});
  const login = chat.login({userID: 'bob', userSig: 'sig'});
  const ws = last(FakeSocket.all);
  await logIn(ws);
  await login;
  return {chat, ws};
}

async function reconnect(ws) {
  ws.drop();
  await backoff();
  const next = last(FakeSocket.all);
  assert.notStrictEqual(next, ws, 'no new socket after the backoff');
  await logIn(next);
  return next;
}

async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('resolved');
}

test('a call made while the socket is down waits for the next login, and goes once', async () => {
  const {chat, ws} = await loggedIn();
  ws.drop();
  const page = chat.getMessageList({conversationID: 'C2Calice'});
  assert.strictEqual(ws.ops('getMessageList').length, 0);
  await backoff();
  const ws2 = last(FakeSocket.all);
  ws2.open();
  assert.strictEqual(ws2.ops('getMessageList').length, 0);  // not before the login's answer
  ws2.reply(ws2.ops('login')[0], {userID: 'bob', seq: 1});
  await tick();
  const [req] = ws2.ops('getMessageList');
  assert.deepStrictEqual(req.data, {conversationID: 'C2Calice'});
  ws2.reply(req, {messageList: [], nextReqMessageID: '', isCompleted: true});
  assert.strictEqual((await page).data.isCompleted, true);
  chat.logout();
});

test('a send keeps its random through two reconnects and resolves once', async () => {
  const {chat, ws} = await loggedIn();
  const message = chat.createTextMessage({to: 'alice', conversationType: 'C2C', payload: {text: 'hi'}});
  let settled = 0;
  const sent = chat.sendMessage(message).finally(() => { settled += 1; });
  const random = ws.ops('sendMessage')[0].data.random;
  assert.strictEqual(random, message.random);
  const ws2 = await reconnect(ws);
  const ws3 = await reconnect(ws2);
  assert.deepStrictEqual([ws2, ws3].map((s) => s.ops('sendMessage').map((f) => f.data.random)),
    [[random], [random]]);
  const req = ws3.ops('sendMessage')[0];
  ws3.reply(req, {ID: 'm1', conversationID: 'C2Calice', from: 'bob', to: 'alice', flow: 'out',
                  seq: 9, random, elements: req.data.elements});
  await sent;
  // A late answer on an old socket changes nothing.
  ws2.reply(ws2.ops('sendMessage')[0], {ID: 'm1'});
  await tick();
  assert.strictEqual(settled, 1);
  assert.deepStrictEqual([message.ID, message.status, message.seq], ['m1', 'success', 9]);
  chat.logout();
});

test('a refused send sent again keeps its random; a success is not sent again by itself', async () => {
  const {chat, ws} = await loggedIn();
  const message = chat.createTextMessage({to: 'alice', conversationType: 'C2C', payload: {text: 'x'}});
  const first = chat.sendMessage(message);
  ws.refuse(ws.ops('sendMessage')[0], 20005, 'internal error');
  const err = await rejection(first);
  assert.strictEqual(err.code, 20005);
  assert.strictEqual(err.data.message, message);
  assert.strictEqual(message.status, 'fail');
  const again = chat.resendMessage(message);
  const req = ws.ops('sendMessage')[1];
  assert.strictEqual(req.data.random, ws.ops('sendMessage')[0].data.random);
  ws.reply(req, {ID: 'm2', from: 'bob', to: 'alice', seq: 3, random: req.data.random, elements: []});
  await again;
  const ws2 = await reconnect(ws);
  assert.strictEqual(ws2.ops('sendMessage').length, 0);
  chat.logout();
});

test('a recall resent after a reconnect that finds it done (20023) resolves', async () => {
  const {chat, ws} = await loggedIn();
  const message = {ID: 'm3', conversationID: 'C2Calice', from: 'bob', to: 'alice',
                   elements: [{type: 'TIMTextElem', payload: {text: 'oops'}}]};
  const recall = chat.revokeMessage(message);
  const ws2 = await reconnect(ws);  // the first recall went through; its answer was lost
  const [req] = ws2.ops('revokeMessage');
  assert.deepStrictEqual(req.data, {messageID: 'm3'});
  ws2.refuse(req, 20023, 'the message was already recalled');
  const {data} = await recall;
  assert.strictEqual(data.message.isRevoked, true);
  assert.deepStrictEqual(data.message.elements, []);
  chat.logout();
});

test('a downloadMergerMessage cut by a drop is asked again, then kept', async () => {
  const {chat, ws} = await loggedIn();
  const key = 'D'.repeat(32);
  const merged = {ID: 'mm', from: 'alice', to: 'bob', status: 'success', elements: [
    {type: 'TIMRelayElem', payload: {title: 't', abstractList: [], compatibleText: 'c', downloadKey: key}}]};
  const down = chat.downloadMergerMessage(merged);
  const ws2 = await reconnect(ws);
  const [req] = ws2.ops('downloadMergerMessage');
  assert.deepStrictEqual(req.data, {downloadKey: key});
  ws2.reply(req, {messageList: [{from: 'alice', time: 1, messageBody: [{type: 'TIMTextElem', payload: {text: 'in'}}]}]});
  const {data} = await down;
  assert.strictEqual(data.elements[0].payload.messageList[0].payload.text, 'in');
  await chat.downloadMergerMessage(merged);
  assert.strictEqual(ws2.ops('downloadMergerMessage').length, 1);
  chat.logout();
});

test('after KICKED_OUT every waiting call fails with 910201 and nothing reconnects', async () => {
  const {chat, ws} = await loggedIn();
  const kicked = [];
  chat.on(ParleyChat.EVENT.KICKED_OUT, (e) => kicked.push(e.data.type));
  const message = chat.createTextMessage({to: 'alice', conversationType: 'C2C', payload: {text: 'x'}});
  const sent = chat.sendMessage(message);
  const sockets = FakeSocket.all.length;
  ws.frame({event: 'KICKED_OUT', data: {reason: 'multipleDevice'}});
  const err = await rejection(sent);
  assert.strictEqual(err.code, 910201);
  assert.strictEqual(message.status, 'fail');
  assert.deepStrictEqual(kicked, ['multipleDevice']);
  await backoff();
  assert.strictEqual(FakeSocket.all.length, sockets);
  assert.strictEqual((await rejection(chat.getMessageList({conversationID: 'C2Calice'}))).code, 70002);
});

test('merged lists kept in memory are forgotten at logout', async () => {
  const {chat, ws} = await loggedIn();
  const key = 'F'.repeat(32);
  const merged = {ID: 'mm', from: 'alice', to: 'bob', elements: [
    {type: 'TIMRelayElem', payload: {title: 't', abstractList: [], compatibleText: 'c', downloadKey: key}}]};
  const down = chat.downloadMergerMessage(merged);
  ws.reply(ws.ops('downloadMergerMessage')[0], {messageList: [{from: 'alice', time: 1, messageBody: []}]});
  await down;
  chat.logout();
  // Someone else signs in on the same client: the list is asked for again, as theirs.
  const login = chat.login({userID: 'carol', userSig: 'sig'});
  const ws2 = last(FakeSocket.all);
  ws2.open();
  ws2.reply(ws2.ops('login')[0], {userID: 'carol', seq: 1});
  await login;
  const again = chat.downloadMergerMessage(merged);
  const [req] = ws2.ops('downloadMergerMessage');
  assert.deepStrictEqual(req.data, {downloadKey: key});
  ws2.refuse(req, 20022, 'no merged message with this downloadKey');
  assert.strictEqual((await rejection(again)).code, 20022);
  chat.logout();
});
