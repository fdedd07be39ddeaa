// The JS SDK's receive options (setMessageRemindType, setAllReceiveMessageOpt,
// getAllReceiveMessageOpt) and the offlinePushInfo fields it passes on, with the socket
// played by the test. Run: node --test tests/js/
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');

class FakeSocket {
  constructor(url) { this.url = url; this.readyState = 0; this.sent = []; FakeSocket.last = this; }
  send(text) { this.sent.push(JSON.parse(text)); }
  close() { this.readyState = 3; }
  open() { this.readyState = 1; this.onopen(); }
  frame(obj) { this.onmessage({data: JSON.stringify(obj)}); }
  ops(op) { return this.sent.filter((f) => f.op === op); }
}
FakeSocket.OPEN = 1;
globalThis.WebSocket = FakeSocket;
console.error = console.warn = () => {};
require(path.join(__dirname, '..', '..', 'static', 'parley', 'sdk.js'));
const {ParleyChat} = globalThis;

async function loggedIn() {
  const chat = ParleyChat.create({url: 'ws://parley.test/ws/'});
  const login = chat.login({userID: 'bob', userSig: 'sig'});
  const ws = FakeSocket.last;
  ws.open();
  ws.frame({id: ws.ops('login')[0].id, ok: true, data: {userID: 'bob', seq: 0}});
  await login;
  ws.frame({event: 'SDK_READY', data: {seq: 0}});
  return {chat, ws};
}

test('receive options go out as the ops, with only the named fields', async () => {
  const {chat, ws} = await loggedIn();
  const remind = chat.setMessageRemindType({userIDList: ['alice'],
                                            messageRemindType: 'AcceptNotNotify', junk: 1});
  const [r] = ws.ops('setMessageRemindType');
  assert.deepStrictEqual(r.data, {userIDList: ['alice'], messageRemindType: 'AcceptNotNotify'});
  ws.frame({id: r.id, ok: true, data: {}});
  assert.deepStrictEqual(await remind, {code: 0, data: {}});

  const opt = chat.setAllReceiveMessageOpt({opt: 2, startHour: 22, startMinute: 0,
                                            startSecond: 0, duration: 3600});
  const [o] = ws.ops('setAllReceiveMessageOpt');
  assert.deepStrictEqual(o.data, {opt: 2, startHour: 22, startMinute: 0, startSecond: 0,
                                  duration: 3600});
  const view = {allReceiveMessageOpt: 'AcceptNotNotify', startHour: 22, startMinute: 0,
                startSecond: 0, duration: 3600};
  ws.frame({id: o.id, ok: true, data: view});
  assert.deepStrictEqual(await opt, {code: 0, data: view});

  const got = chat.getAllReceiveMessageOpt();
  const [g] = ws.ops('getAllReceiveMessageOpt');
  ws.frame({id: g.id, ok: false, code: 910020, message: 'bad'});
  await assert.rejects(got, (err) => err.code === 910020);
  chat.logout();
});

test('offlinePushInfo goes out flat: nested sounds and vendor keys too, a flat key first',
  async () => {
    const {chat, ws} = await loggedIn();
    const message = chat.createTextMessage({to: 'alice', conversationType: 'C2C',
                                            payload: {text: 'ring'}});
    chat.sendMessage(message, {offlinePushInfo: {
      title: 'T', sound: 'both.caf', androidHuaWeiChannelID: 'hw',
      androidInfo: {sound: 'ding', XiaoMiChannelID: 'mi', junk: 1},
      apnsInfo: {sound: 'ios.caf', ignoreIOSBadge: true},
    }}).catch(() => {});
    chat.sendMessage(chat.createTextMessage({to: 'alice', conversationType: 'C2C',
                                             payload: {text: 'again'}}),
                     {offlinePushInfo: {iOSSound: 'flat.caf', apnsInfo: {sound: 'ios.caf'}}})
      .catch(() => {});
    const [first, second] = ws.ops('sendMessage');
    assert.deepStrictEqual(first.data.offlinePushInfo, {
      title: 'T', sound: 'both.caf', androidHuaWeiChannelID: 'hw', androidSound: 'ding',
      androidXiaoMiChannelID: 'mi', iOSSound: 'ios.caf', ignoreIOSBadge: true});
    assert.deepStrictEqual(second.data.offlinePushInfo, {iOSSound: 'flat.caf'});
    chat.logout();
  });
