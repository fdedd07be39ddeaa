// System notices (the operator console's Send page, messaging/admin_send.py): a message
// marked isSystem on the wire is a Message with isSystemMessage, Tencent's field, and a
// custom element in one reaches MESSAGE_RECEIVED like any other, for apps to handle;
// history carries the mark too. Run: node --test tests/js/
'use strict';

const test = require('node:test');
const assert = require('node:assert');

const {FakeSocket, loadSdk} = require('./browser_fakes.js');

const ParleyChat = loadSdk();
const {EVENT, TYPES} = ParleyChat;
const last = (list) => list[list.length - 1];
const tick = () => new Promise((resolve) => setImmediate(resolve));

async function loggedIn() {
  const chat = ParleyChat.create({url: 'ws://parley.test/ws/'});
  const login = chat.login({userID: 'bob', userSig: 'sig'});
  const ws = last(FakeSocket.all);
  ws.open();
  ws.reply(ws.ops('login')[0], {userID: 'bob', seq: 1});
  await login;
  return {chat, ws};
}

function wire(extra) {
  return Object.assign({ID: '41-1700000000-9', conversationID: 'C2Cadministrator',
    conversationType: 'C2C', from: 'administrator', to: 'bob', flow: 'in', time: 1700000000,
    seq: 4, random: 9, priority: 'Normal', nick: '', avatar: '', cloudCustomData: '',
    needReadReceipt: false, isPeerRead: false, isRevoked: false, isModified: false,
    version: '', status: 'success'}, extra);
}

const CUSTOM = {type: 'TIMCustomElem', payload: {data: '{"action":"refresh-config"}',
  description: 'Settings changed', extension: 'v2'}};

test('a custom element in a system notice reaches MESSAGE_RECEIVED, marked isSystemMessage', async () => {
  const {chat, ws} = await loggedIn();
  const got = [];
  chat.on(EVENT.MESSAGE_RECEIVED, (ev) => got.push(...ev.data));
  ws.frame({event: 'MESSAGE_RECEIVED', data: [wire({elements: [CUSTOM], isSystem: true})]});
  ws.frame({event: 'MESSAGE_RECEIVED', data: [wire({ID: '42-1700000001-3', seq: 5,
    from: 'alice', conversationID: 'C2Calice', isSystem: false,
    elements: [{type: 'TIMTextElem', payload: {text: 'hi'}}]})]});
  await tick();
  assert.strictEqual(got.length, 2);
  const [notice, plain] = got;
  assert.strictEqual(notice.isSystemMessage, true);
  assert.strictEqual(notice.type, TYPES.MSG_CUSTOM);
  assert.deepStrictEqual(notice.payload, CUSTOM.payload);
  assert.strictEqual(JSON.parse(notice.payload.data).action, 'refresh-config');
  assert.strictEqual(plain.isSystemMessage, false);
  // A server that leaves the field out (an older one) gives false, never undefined.
  ws.frame({event: 'MESSAGE_RECEIVED', data: [wire({ID: '43-1700000002-4', seq: 6,
    elements: [CUSTOM]})]});
  await tick();
  assert.strictEqual(got[2].isSystemMessage, false);
  chat.logout();
});

test('history keeps the mark; my own new messages are not notices', async () => {
  const {chat, ws} = await loggedIn();
  const page = chat.getMessageList({conversationID: 'C2Cadministrator'});
  const req = last(ws.ops('getMessageList'));
  ws.reply(req, {messageList: [wire({elements: [CUSTOM], isSystem: true})],
    nextReqMessageID: '', isCompleted: true});
  const {data} = await page;
  assert.strictEqual(data.messageList[0].isSystemMessage, true);
  const mine = chat.createTextMessage({to: 'alice', conversationType: 'C2C',
    payload: {text: 'hello'}});
  assert.strictEqual(mine.isSystemMessage, false);
  chat.logout();
});
