// The JS SDK's message reactions: the four methods as they go on the wire and what
// they resolve to, getMessageReactions asked 20 messages at a time, a refusal's code,
// and MESSAGE_REACTIONS_UPDATED handed out as it came. The server is played by the test
// (a fake WebSocket). Run: node --test tests/js/
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

const MESSAGE = {ID: '7-1700000000-9', conversationID: 'C2Calice'};
const THUMBS = {reactionID: '👍', totalUserCount: 1, reactedByMyself: true,
                partialUserList: [{userID: 'bob', nick: 'Bob', avatar: ''}]};

test('add and remove name the message and the reaction', async () => {
  const {chat, ws} = await loggedIn();
  let pending = chat.addMessageReaction(MESSAGE, '👍');
  let req = last(ws.ops('addMessageReaction'));
  assert.deepStrictEqual(req.data, {messageID: MESSAGE.ID, reactionID: '👍'});
  ws.reply(req, {});
  assert.deepStrictEqual(await pending, {code: 0, data: {}});
  pending = chat.removeMessageReaction(MESSAGE, '👍');
  req = last(ws.ops('removeMessageReaction'));
  assert.deepStrictEqual(req.data, {messageID: MESSAGE.ID, reactionID: '👍'});
  ws.refuse(req, 23008, 'you have not reacted with this reactionID');
  await assert.rejects(pending, (err) => err.code === 23008);
  chat.logout();
});

test('getMessageReactions asks 20 messages at a time and joins the answers', async () => {
  const {chat, ws} = await loggedIn();
  const list = Array.from({length: 21}, (_, i) => ({ID: `${i + 1}-1700000000-1`}));
  const pending = chat.getMessageReactions({messageList: list, maxUserCountPerReaction: 3});
  const [first, second] = ws.ops('getMessageReactions');
  assert.deepStrictEqual(first.data, {messageIDList: list.slice(0, 20).map((m) => m.ID),
                                      maxUserCountPerReaction: 3});
  assert.deepStrictEqual(second.data, {messageIDList: ['21-1700000000-1'],
                                       maxUserCountPerReaction: 3});
  ws.reply(second, {resultList: [{messageID: '21-1700000000-1', reactionList: [THUMBS]}]});
  ws.reply(first, {resultList: list.slice(0, 20).map((m) => ({messageID: m.ID, reactionList: []}))});
  const res = await pending;
  assert.strictEqual(res.data.resultList.length, 21);
  assert.deepStrictEqual(last(res.data.resultList), {messageID: '21-1700000000-1',
                                                     reactionList: [THUMBS]});
  const none = await chat.getMessageReactions({messageList: []});
  assert.deepStrictEqual(none, {code: 0, data: {resultList: []}});
  assert.strictEqual(ws.ops('getMessageReactions').length, 2);
  chat.logout();
});

test('getAllUserListOfMessageReaction pages with nextSeq', async () => {
  const {chat, ws} = await loggedIn();
  const pending = chat.getAllUserListOfMessageReaction({message: MESSAGE, reactionID: '👍',
                                                        nextSeq: 5, count: 2});
  const req = last(ws.ops('getAllUserListOfMessageReaction'));
  assert.deepStrictEqual(req.data, {messageID: MESSAGE.ID, reactionID: '👍', nextSeq: 5,
                                    count: 2});
  const page = {userList: [{userID: 'alice', nick: '', avatar: ''}], nextSeq: 0,
                isCompleted: true};
  ws.reply(req, page);
  assert.deepStrictEqual(await pending, {code: 0, data: page});
  chat.getAllUserListOfMessageReaction({message: MESSAGE, reactionID: '🎉'}).catch(() => {});
  assert.deepStrictEqual(last(ws.ops('getAllUserListOfMessageReaction')).data,
    {messageID: MESSAGE.ID, reactionID: '🎉', nextSeq: 0});
  chat.logout();
});

test('MESSAGE_REACTIONS_UPDATED is handed out as it came', async () => {
  const {chat, ws} = await loggedIn();
  const seen = [];
  chat.on(EVENT.MESSAGE_REACTIONS_UPDATED, (ev) => seen.push(ev.data));
  assert.strictEqual(EVENT.MESSAGE_REACTIONS_UPDATED, 'onMessageReactionsUpdated');
  const data = {messageID: MESSAGE.ID, reactionList: [THUMBS]};
  ws.frame({event: 'MESSAGE_REACTIONS_UPDATED', seq: 2, data});
  await tick();
  assert.deepStrictEqual(seen, [data]);
  chat.logout();
});
