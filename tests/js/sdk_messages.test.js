// The JS SDK's message creators, file uploads, merged and forwarded messages, with the
// browser played by the test: a fake WebSocket and a fake XMLHttpRequest (the SDK's
// only two doors), Node's own Blob/File/FormData. Run: node --test tests/js/
'use strict';

const test = require('node:test');
const assert = require('node:assert');

const {FakeSocket, FakeXHR, loadSdk} = require('./browser_fakes.js');

const ParleyChat = loadSdk();
const {TYPES} = ParleyChat;

const MB = 1024 * 1024;
const tick = () => new Promise((resolve) => setImmediate(resolve));
const last = (list) => list[list.length - 1];

/** A Blob that says it is `size` bytes without holding them. */
function sized(size, type, name) {
  const blob = new File(['x'], name || 'f.bin', {type: type || ''});
  Object.defineProperty(blob, 'size', {value: size});
  return blob;
}

function png(name = 'cat.png') {
  return new File([Buffer.from('89504e470d0a1a0a', 'hex')], name, {type: 'image/png'});
}

async function loggedIn(loginOptions = {userID: 'bob', userSig: 'sig'}, createOptions = {}) {
  const chat = ParleyChat.create(Object.assign({url: 'ws://parley.test/ws/'}, createOptions));
  const login = chat.login(loginOptions);
  const ws = last(FakeSocket.all);
  ws.open();
  ws.reply(ws.ops('login')[0], {userID: 'bob', seq: 1});
  await login;
  return {chat, ws};
}

/** The message the server stores for a sendMessage frame. */
function stored(req, id, extra) {
  return Object.assign({ID: id, conversationID: `C2C${req.data.to}`, from: 'bob', to: req.data.to,
    flow: 'out', time: 1700000000, seq: 5, random: req.data.random,
    elements: req.data.elements, nick: 'Bob', avatar: '', cloudCustomData: ''}, extra || {});
}

/** A message as the SDK hands out a received one. */
async function received(chat, ws, m) {
  let got = null;
  const handler = (ev) => { got = ev.data[0]; };
  chat.on(ParleyChat.EVENT.MESSAGE_RECEIVED, handler);
  ws.frame({event: 'MESSAGE_RECEIVED', data: [Object.assign({conversationID: 'C2Calice',
    from: 'alice', to: 'bob', flow: 'in', time: 1700000000, seq: 3, random: 7,
    nick: 'Alice', avatar: '', cloudCustomData: '', isRevoked: false}, m)]});
  chat.off(ParleyChat.EVENT.MESSAGE_RECEIVED, handler);
  return got;
}

const IMAGE_ELEMENT = {type: 'TIMImageElem', payload: {uuid: 'u1', format: 'PNG', imageInfoArray: [
  {type: 1, size: 8, width: 1, height: 1, url: 'http://parley.test/media/u1/cat.png'}]}};

function codeOf(fn) {
  try {
    fn();
  } catch (err) {
    return err.code;
  }
  return 'no error';
}

async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('resolved');
}

// --- creation ----------------------------------------------------------------------

test('each file creator makes an unsent message at once, with a local preview', async () => {
  const {chat} = await loggedIn();
  const file = png();
  const image = chat.createImageMessage({to: 'alice', conversationType: 'C2C', payload: {file}});
  assert.strictEqual(image.type, TYPES.MSG_IMAGE);
  assert.strictEqual(image.status, 'unSend');
  assert.strictEqual(image.conversationID, 'C2Calice');
  assert.strictEqual(image.payload.imageInfoArray.length, 3);
  assert.match(image.payload.imageInfoArray[0].url, /^blob:/);
  assert.strictEqual(image.payload.imageInfoArray[0].size, file.size);
  assert.deepStrictEqual([image.payload.fileName, image.payload.fileSize], ['cat.png', file.size]);
  assert.deepStrictEqual(image.elements, [{type: TYPES.MSG_IMAGE, payload: image.payload}]);

  // An <input type=file>: its first file.
  const input = {files: [new File(['hello'], 'notes.txt', {type: 'text/plain'})]};
  const doc = chat.createFileMessage({to: 'alice', conversationType: 'C2C', payload: {file: input}});
  assert.strictEqual(doc.type, TYPES.MSG_FILE);
  assert.strictEqual(doc.payload.fileName, 'notes.txt');
  assert.strictEqual(doc.payload.fileSize, 5);
  assert.match(doc.payload.url, /^blob:/);

  const voice = chat.createAudioMessage({to: 'alice', conversationType: 'C2C',
    payload: {file: new Blob(['abc'], {type: 'audio/webm'}), second: 3}});
  assert.strictEqual(voice.type, TYPES.MSG_AUDIO);
  assert.deepStrictEqual([voice.payload.size, voice.payload.second, voice.payload.fileName], [3, 3, 'sound.webm']);

  const video = chat.createVideoMessage({to: 'alice', conversationType: 'C2C',
    payload: {file: new File(['vid'], 'clip.mp4', {type: 'video/mp4'}), second: 9, thumb: png()}});
  assert.strictEqual(video.type, TYPES.MSG_VIDEO);
  assert.deepStrictEqual([video.payload.videoSize, video.payload.videoSecond, video.payload.videoFormat],
    [3, 9, 'mp4']);
  assert.match(video.payload.thumbUrl, /^blob:/);
  // The file itself is not part of the message (it stays out of the wire).
  for (const m of [image, doc, voice, video]) {
    const values = [...Object.values(m), ...Object.values(m.payload)];
    assert.ok(values.every((v) => !(v instanceof Blob)));
  }
  assert.strictEqual(FakeXHR.all.length, 0);  // nothing is uploaded before sendMessage
  chat.logout();
});

test('file creators refuse with Tencent Web SDK codes, before any request', async () => {
  const {chat, ws} = await loggedIn();
  const xhrs = FakeXHR.all.length;
  const opts = (file, extra) => ({to: 'alice', conversationType: 'C2C',
                                   payload: Object.assign({file}, extra || {})});
  // image: 2251 no file, 2252 not an image, 2108 empty, 2253 over 28 MB
  assert.strictEqual(codeOf(() => chat.createImageMessage(opts(undefined))), 2251);
  assert.strictEqual(codeOf(() => chat.createImageMessage(opts({files: []}))), 2251);
  assert.strictEqual(codeOf(() => chat.createImageMessage(opts('cat.png'))), 2251);
  assert.strictEqual(codeOf(() => chat.createImageMessage(
    opts(new File(['%PDF'], 'a.pdf', {type: 'application/pdf'})))), 2252);
  assert.strictEqual(codeOf(() => chat.createImageMessage(
    opts(new File(['<svg/>'], 'a.svg', {type: 'image/svg+xml'})))), 2252);
  assert.strictEqual(codeOf(() => chat.createImageMessage(opts(new File([], 'a.png', {type: 'image/png'})))), 2108);
  assert.strictEqual(codeOf(() => chat.createImageMessage(opts(sized(28 * MB + 1, 'image/jpeg')))), 2253);
  assert.notStrictEqual(codeOf(() => chat.createImageMessage(opts(sized(28 * MB, 'image/jpeg')))), 2253);
  // No MIME type (some browsers, some files): the name decides.
  assert.strictEqual(codeOf(() => chat.createImageMessage(opts(sized(10, '', 'photo.JPG')))), 'no error');
  // audio: 2401 no file, 2301 over 28 MB
  assert.strictEqual(codeOf(() => chat.createAudioMessage(opts(null))), 2401);
  assert.strictEqual(codeOf(() => chat.createAudioMessage(opts(sized(28 * MB + 1, 'audio/mpeg')))), 2301);
  // video: 2352 not a video, 2351 over 100 MB; a thumb that is not an image: 2252
  assert.strictEqual(codeOf(() => chat.createVideoMessage(opts(png()))), 2352);
  assert.strictEqual(codeOf(() => chat.createVideoMessage(opts(sized(100 * MB + 1, 'video/mp4')))), 2351);
  assert.strictEqual(codeOf(() => chat.createVideoMessage(
    opts(sized(10, 'video/mp4'), {thumb: new Blob(['x'], {type: 'text/plain'})}))), 2252);
  // file: 2401 no file, 2108 empty, 2402 over 100 MB
  assert.strictEqual(codeOf(() => chat.createFileMessage(opts(undefined))), 2401);
  assert.strictEqual(codeOf(() => chat.createFileMessage(opts(new Blob([])))), 2108);
  assert.strictEqual(codeOf(() => chat.createFileMessage(opts(sized(100 * MB + 1)))), 2402);
  // options: `to`, second, onProgress
  assert.strictEqual(codeOf(() => chat.createFileMessage({payload: {file: png()}})), 910003);
  assert.strictEqual(codeOf(() => chat.createAudioMessage(opts(sized(5, 'audio/ogg'), {second: -1}))), 910003);
  assert.strictEqual(codeOf(() => chat.createAudioMessage(opts(sized(5, 'audio/ogg'), {second: 1.5}))), 910003);
  assert.strictEqual(codeOf(() => chat.createFileMessage(Object.assign(opts(png()), {onProgress: 'x'}))), 910003);
  assert.strictEqual(FakeXHR.all.length, xhrs);
  assert.strictEqual(ws.ops('sendMessage').length, 0);
  chat.logout();
});

test('face, location and custom messages check their options', async () => {
  const {chat} = await loggedIn();
  const make = (fn, payload) => chat[fn]({to: 'alice', conversationType: 'C2C', payload});
  const face = make('createFaceMessage', {index: 3, data: 'tt01'});
  assert.deepStrictEqual(face.elements, [{type: 'TIMFaceElem', payload: {index: 3, data: 'tt01'}}]);
  assert.deepStrictEqual(make('createFaceMessage', {index: 0}).payload, {index: 0, data: ''});
  for (const index of [-1, 1.5, '3', undefined, NaN, 2 ** 53]) {
    assert.strictEqual(codeOf(() => make('createFaceMessage', {index})), 910003, String(index));
  }
  assert.strictEqual(codeOf(() => make('createFaceMessage', {index: 1, data: 5})), 910003);

  const place = make('createLocationMessage', {description: 'Pier 39', longitude: -122.41, latitude: 37.81});
  assert.deepStrictEqual(place.payload, {description: 'Pier 39', longitude: -122.41, latitude: 37.81});
  assert.strictEqual(make('createLocationMessage', {longitude: 180, latitude: -90}).payload.description, '');
  for (const [longitude, latitude] of [[181, 0], [0, 90.5], [-180.01, 0], ['1', 2], [0, NaN],
    [Infinity, 0], [undefined, 0], [0, null]]) {
    assert.strictEqual(codeOf(() => make('createLocationMessage', {longitude, latitude})), 910003,
      `${longitude},${latitude}`);
  }
  assert.strictEqual(codeOf(() => make('createLocationMessage', {description: 1, longitude: 0, latitude: 0})), 910003);

  const custom = make('createCustomMessage', {data: '{"kind":"order"}', description: 'Order 7'});
  assert.deepStrictEqual(custom.payload, {data: '{"kind":"order"}', description: 'Order 7', extension: ''});
  assert.strictEqual(codeOf(() => make('createCustomMessage', {})), 910003);
  assert.strictEqual(codeOf(() => make('createCustomMessage', {data: {a: 1}})), 910003);
  assert.strictEqual(codeOf(() => make('createCustomMessage', {data: 'x', extension: 2})), 910003);

  // Every creator wants a receiver and a C2C conversation.
  assert.strictEqual(codeOf(() => chat.createFaceMessage({payload: {index: 1}})), 910003);
  assert.strictEqual(codeOf(() => chat.createFaceMessage({to: 'g', conversationType: 'GROUP',
                                                         payload: {index: 1}})), 910003);
  const text = make('createTextMessage', {text: 'hi'});
  assert.strictEqual(text.type, 'TIMTextElem');
  assert.strictEqual(codeOf(() => make('createTextMessage', {text: ''})), 910003);
  chat.logout();
});

// --- uploads -----------------------------------------------------------------------

test('sendMessage uploads the file with progress, then sends the element the server made', async () => {
  const {chat, ws} = await loggedIn();
  const seen = [];
  const file = png();
  const message = chat.createImageMessage({to: 'alice', conversationType: 'C2C', payload: {file},
                                           onProgress: (p) => seen.push(p)});
  const sent = chat.sendMessage(message);
  const xhr = last(FakeXHR.all);
  assert.strictEqual(xhr.method, 'POST');
  assert.strictEqual(xhr.url, 'http://parley.test/api/v1/files/');
  assert.strictEqual(xhr.headers.Authorization, 'UserSig bob:sig');
  assert.strictEqual(xhr.body.get('kind'), 'image');
  assert.strictEqual(xhr.body.get('file').name, 'cat.png');
  assert.strictEqual(xhr.body.get('file').size, file.size);
  assert.strictEqual(ws.ops('sendMessage').length, 0);  // not before the upload is done
  xhr.progress(25, 100);
  xhr.progress(100, 100);
  xhr.respond(201, IMAGE_ELEMENT);
  await tick();
  const req = last(ws.ops('sendMessage'));
  assert.deepStrictEqual(req.data.elements, [IMAGE_ELEMENT]);
  assert.strictEqual(req.data.random, message.random);
  ws.reply(req, stored(req, 'm-img'));
  const {data} = await sent;
  assert.strictEqual(data.message, message);
  assert.strictEqual(message.status, 'success');
  assert.strictEqual(message.ID, 'm-img');
  assert.deepStrictEqual(message.payload, IMAGE_ELEMENT.payload);
  assert.deepStrictEqual(seen, [0.25, 1, 1]);
  chat.logout();
});

test('each kind is posted with its fields: a voice its seconds, a video its cover', async () => {
  const {chat} = await loggedIn();
  const voice = chat.createAudioMessage({to: 'alice', conversationType: 'C2C',
    payload: {file: new Blob(['abc'], {type: 'audio/webm'}), second: 4}});
  chat.sendMessage(voice).catch(() => {});
  let xhr = last(FakeXHR.all);
  assert.deepStrictEqual([xhr.body.get('kind'), xhr.body.get('second'), xhr.body.get('file').name],
    ['sound', '4', 'sound.webm']);
  const cover = png('cover.png');
  const video = chat.createVideoMessage({to: 'alice', conversationType: 'C2C',
    payload: {file: new File(['v'], 'clip.webm', {type: 'video/webm'}), thumb: cover}});
  chat.sendMessage(video).catch(() => {});
  xhr = last(FakeXHR.all);
  assert.deepStrictEqual([xhr.body.get('kind'), xhr.body.get('second'), xhr.body.get('thumb').name],
    ['video', null, 'cover.png']);
  // The answer must be the element of the kind asked for.
  xhr.respond(201, IMAGE_ELEMENT);
  const err = await rejection(chat.sendMessage(video));
  assert.strictEqual(err.code, 2350);
  chat.logout();
});

test('a browser signed in by its session sends its CSRF token, no UserSig', async () => {
  const {chat} = await loggedIn({}, {csrfToken: 'tok-1', uploadUrl: '/api/v1/files/'});
  chat.sendMessage(chat.createFileMessage({to: 'alice', conversationType: 'C2C',
                                           payload: {file: png()}})).catch(() => {});
  const xhr = last(FakeXHR.all);
  assert.strictEqual(xhr.url, '/api/v1/files/');
  assert.strictEqual(xhr.headers['X-CSRFToken'], 'tok-1');
  assert.strictEqual(xhr.headers.Authorization, undefined);
  chat.logout();

  // Without the option: Django's csrftoken cookie, as the page has it.
  globalThis.document = {cookie: 'theme=dark; csrftoken=from-cookie'};
  try {
    const second = await loggedIn({}, {url: 'wss://chat.example/base/ws/'});
    second.chat.sendMessage(second.chat.createFileMessage({to: 'alice', conversationType: 'C2C',
                                                           payload: {file: png()}})).catch(() => {});
    const x2 = last(FakeXHR.all);
    assert.strictEqual(x2.url, 'https://chat.example/base/api/v1/files/');
    assert.strictEqual(x2.headers['X-CSRFToken'], 'from-cookie');
    second.chat.logout();
  } finally {
    delete globalThis.document;
  }
});

test("the server's upload errors reject sendMessage with its code and message", async () => {
  const {chat, ws} = await loggedIn();
  const cases = [
    ['createFileMessage', 413, {code: 910006, message: 'the file is 5 bytes; at most 4'}, 910006],
    ['createImageMessage', 429, {code: 910005, message: 'at most 30 uploads a minute'}, 910005],
    ['createImageMessage', 429, {code: 910011, message: 'quota'}, 910011],
    ['createImageMessage', 400, {code: 910012, message: 'too many pixels'}, 910012],
    ['createImageMessage', 400, {code: 910007, message: 'not an image'}, 910007],
    ['createFileMessage', 403, {code: 910009, message: 'CSRF Failed'}, 910009],
    // A proxy's page instead of JSON: the kind's own codes.
    ['createImageMessage', 413, '<html>413</html>', 2253],
    ['createFileMessage', 502, '<html>bad gateway</html>', 2400],
    ['createImageMessage', 201, '{"not": "an element"}', 2400],
  ];
  for (const [creator, status, body, code] of cases) {
    const message = chat[creator]({to: 'alice', conversationType: 'C2C', payload: {file: png()}});
    const sent = chat.sendMessage(message);
    last(FakeXHR.all).respond(status, body);
    const err = await rejection(sent);
    assert.strictEqual(err.code, code, `${creator} ${status}`);
    if (typeof body === 'object') assert.strictEqual(err.message, body.message);
    assert.strictEqual(message.status, 'fail');
    assert.strictEqual(err.data.message, message);
  }
  // A network failure: the kind's "upload failed" code.
  const video = chat.createVideoMessage({to: 'alice', conversationType: 'C2C',
                                         payload: {file: sized(10, 'video/mp4')}});
  const sent = chat.sendMessage(video);
  last(FakeXHR.all).onerror();
  assert.strictEqual((await rejection(sent)).code, 2350);
  const voice = chat.createAudioMessage({to: 'alice', conversationType: 'C2C', payload: {file: sized(3, 'audio/ogg')}});
  const sentVoice = chat.sendMessage(voice);
  last(FakeXHR.all).onerror();
  assert.strictEqual((await rejection(sentVoice)).code, 2300);
  assert.strictEqual(ws.ops('sendMessage').length, 0);
  chat.logout();
});

test('an upload can be cancelled; sent again, it starts over', async () => {
  const {chat, ws} = await loggedIn();
  const message = chat.createFileMessage({to: 'alice', conversationType: 'C2C', payload: {file: png()}});
  assert.strictEqual(chat.cancelUploadMessage(message), false);  // nothing in flight yet
  const sent = chat.sendMessage(message);
  const first = last(FakeXHR.all);
  first.progress(10, 100);
  assert.strictEqual(chat.cancelUploadMessage(message), true);
  assert.ok(first.aborted);
  const err = await rejection(sent);
  assert.strictEqual(err.code, 910203);
  assert.strictEqual(message.status, 'fail');
  assert.strictEqual(ws.ops('sendMessage').length, 0);

  const again = chat.sendMessage(message);
  const second = last(FakeXHR.all);
  assert.notStrictEqual(second, first);
  second.respond(201, {type: 'TIMFileElem', payload: {uuid: 'f1', url: 'http://x/f', fileName: 'cat.png', fileSize: 8}});
  await tick();
  assert.strictEqual(chat.cancelUploadMessage(message), false);  // uploaded: too late
  const req = last(ws.ops('sendMessage'));
  ws.reply(req, stored(req, 'm-f'));
  assert.strictEqual((await again).data.message.status, 'success');
  chat.logout();
});

test('a message whose upload succeeded is not uploaded again when resent', async () => {
  const {chat, ws} = await loggedIn();
  const message = chat.createImageMessage({to: 'alice', conversationType: 'C2C', payload: {file: png()}});
  const first = chat.sendMessage(message);
  last(FakeXHR.all).respond(201, IMAGE_ELEMENT);
  await tick();
  const req = last(ws.ops('sendMessage'));
  ws.refuse(req, 20007, 'the receiver has blocked the sender');
  assert.strictEqual((await rejection(first)).code, 20007);
  assert.strictEqual(message.status, 'fail');
  const uploads = FakeXHR.all.length;

  const again = chat.resendMessage(message);
  await tick();
  assert.strictEqual(FakeXHR.all.length, uploads);
  const req2 = last(ws.ops('sendMessage'));
  assert.deepStrictEqual(req2.data.elements, [IMAGE_ELEMENT]);
  assert.strictEqual(req2.data.random, req.data.random);
  ws.reply(req2, stored(req2, 'm-2'));
  await again;
  assert.strictEqual(message.status, 'success');

  // Two sends while uploading share the one upload.
  const twice = chat.createFileMessage({to: 'alice', conversationType: 'C2C', payload: {file: png()}});
  const a = chat.sendMessage(twice);
  const b = chat.sendMessage(twice);
  assert.strictEqual(FakeXHR.all.length, uploads + 1);
  last(FakeXHR.all).respond(201, {type: 'TIMFileElem', payload: {uuid: 'f2', url: 'http://x/f2', fileName: 'cat.png', fileSize: 8}});
  await tick();
  const reqs = ws.ops('sendMessage').slice(-2);
  assert.strictEqual(reqs[0].data.random, reqs[1].data.random);
  for (const r of reqs) ws.reply(r, stored(r, 'm-3'));
  await Promise.all([a, b]);
  chat.logout();
});

test('logout stops the uploads in flight: 910201', async () => {
  const {chat} = await loggedIn();
  const message = chat.createFileMessage({to: 'alice', conversationType: 'C2C', payload: {file: png()}});
  const sent = chat.sendMessage(message);
  const xhr = last(FakeXHR.all);
  chat.logout();
  assert.ok(xhr.aborted);
  assert.strictEqual((await rejection(sent)).code, 910201);
  assert.strictEqual(message.status, 'fail');
});

test('a copy of a file message is refused, not sent with its local element', async () => {
  const {chat, ws} = await loggedIn();
  const message = chat.createImageMessage({to: 'alice', conversationType: 'C2C', payload: {file: png()}});
  const copy = Object.assign({}, message);
  const uploads = FakeXHR.all.length;
  const err = await rejection(chat.sendMessage(copy));
  assert.strictEqual(err.code, 910003);
  assert.strictEqual(FakeXHR.all.length, uploads);
  assert.strictEqual(ws.ops('sendMessage').length, 0);
  chat.logout();
});

test('sendMessage of a file before login: 70002, no upload', async () => {
  const chat = ParleyChat.create({url: 'ws://parley.test/ws/'});
  const message = chat.createFileMessage({to: 'alice', conversationType: 'C2C', payload: {file: png()}});
  const uploads = FakeXHR.all.length;
  assert.strictEqual((await rejection(chat.sendMessage(message))).code, 70002);
  assert.strictEqual(FakeXHR.all.length, uploads);
});

// --- reconnect and resend ----------------------------------------------------------

test('a send in flight when the socket drops is sent again, same random, after the new login', async () => {
  const {chat, ws} = await loggedIn();
  const text = chat.createTextMessage({to: 'alice', conversationType: 'C2C', payload: {text: 'hi'}});
  const file = chat.createFileMessage({to: 'alice', conversationType: 'C2C', payload: {file: png()}});
  const sentText = chat.sendMessage(text);
  const sentFile = chat.sendMessage(file);
  last(FakeXHR.all).respond(201, {type: 'TIMFileElem', payload: {uuid: 'f3', url: 'http://x/f3', fileName: 'cat.png', fileSize: 8}});
  await tick();
  const before = ws.ops('sendMessage');
  assert.strictEqual(before.length, 2);
  const uploads = FakeXHR.all.length;
  ws.drop();
  assert.strictEqual(text.status, 'unSend');  // still waiting, not failed
  await new Promise((resolve) => setTimeout(resolve, 1100));  // the first backoff
  const ws2 = last(FakeSocket.all);
  assert.notStrictEqual(ws2, ws);
  ws2.open();
  assert.strictEqual(ws2.ops('sendMessage').length, 0);  // not before the login is answered
  ws2.reply(ws2.ops('login')[0], {userID: 'bob', seq: 1});
  await tick();
  const after = ws2.ops('sendMessage');
  assert.deepStrictEqual(after.map((f) => f.data.random), before.map((f) => f.data.random));
  assert.deepStrictEqual(after.map((f) => f.data.elements), before.map((f) => f.data.elements));
  assert.strictEqual(FakeXHR.all.length, uploads);  // the file is not uploaded again
  for (const [i, req] of after.entries()) ws2.reply(req, stored(req, `m-r${i}`));
  await Promise.all([sentText, sentFile]);
  assert.deepStrictEqual([text.status, file.status], ['success', 'success']);
  chat.logout();
});

test('a send during the upload waits for the socket when it is down', async () => {
  const {chat, ws} = await loggedIn();
  const file = chat.createFileMessage({to: 'alice', conversationType: 'C2C', payload: {file: png()}});
  const sent = chat.sendMessage(file);
  ws.drop();  // the REST upload goes on while the socket is away
  last(FakeXHR.all).respond(201, {type: 'TIMFileElem', payload: {uuid: 'f4', url: 'http://x/f4', fileName: 'cat.png', fileSize: 8}});
  await tick();
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const ws2 = last(FakeSocket.all);
  ws2.open();
  ws2.reply(ws2.ops('login')[0], {userID: 'bob', seq: 1});
  await tick();
  const req = last(ws2.ops('sendMessage'));
  assert.strictEqual(req.data.elements[0].payload.uuid, 'f4');
  ws2.reply(req, stored(req, 'm-w'));
  await sent;
  chat.logout();
});

// --- merged and forwarded messages ---------------------------------------------------

test('createMergerMessage carries each message in its wire form', async () => {
  const {chat, ws} = await loggedIn();
  const a = await received(chat, ws, {ID: 'a1', seq: 3, random: 11,
    elements: [{type: 'TIMTextElem', payload: {text: 'hello'}}], cloudCustomData: 'cc'});
  const mine = chat.createTextMessage({to: 'alice', conversationType: 'C2C', payload: {text: 'yo'}});
  const sent = chat.sendMessage(mine);
  const req = last(ws.ops('sendMessage'));
  ws.reply(req, stored(req, 'b1', {seq: 4}));
  await sent;
  const merged = chat.createMergerMessage({to: 'carol', conversationType: 'C2C', payload: {
    messageList: [a, mine], title: 'Alice and Bob', abstractList: ['Alice: hello', 'Bob: yo'],
    compatibleText: '[Chat History]'}});
  assert.strictEqual(merged.type, TYPES.MSG_MERGER);
  assert.strictEqual(merged.status, 'unSend');
  assert.deepStrictEqual(merged.payload.messageList, [
    {ID: 'a1', from: 'alice', to: 'bob', time: 1700000000, seq: 3, random: 11, nick: 'Alice',
     avatar: '', cloudCustomData: 'cc', messageBody: [{type: 'TIMTextElem', payload: {text: 'hello'}}]},
    {ID: 'b1', from: 'bob', to: 'alice', time: 1700000000, seq: 4, random: req.data.random,
     nick: 'Bob', avatar: '', cloudCustomData: '', messageBody: [{type: 'TIMTextElem', payload: {text: 'yo'}}]},
  ]);
  const out = chat.sendMessage(merged);
  const mreq = last(ws.ops('sendMessage'));
  assert.deepStrictEqual(mreq.data.elements, [{type: 'TIMRelayElem', payload: merged.payload}]);
  ws.reply(mreq, stored(mreq, 'mm1'));
  await out;
  chat.logout();
});

test('createMergerMessage refuses what cannot be merged, with codes', async () => {
  const {chat, ws} = await loggedIn();
  const ok = await received(chat, ws, {ID: 'a1', elements: [{type: 'TIMTextElem', payload: {text: 'x'}}]});
  const revoked = await received(chat, ws, {ID: 'a2', isRevoked: true, elements: [{type: 'TIMTextElem', payload: {text: 'x'}}]});
  const unsent = chat.createTextMessage({to: 'alice', conversationType: 'C2C', payload: {text: 'draft'}});
  const failed = chat.createTextMessage({to: 'alice', conversationType: 'C2C', payload: {text: 'no'}});
  const sent = chat.sendMessage(failed);
  ws.refuse(last(ws.ops('sendMessage')), 20007, 'blocked');
  await rejection(sent);
  const merge = (messageList, extra) => () => chat.createMergerMessage({to: 'carol',
    conversationType: 'C2C', payload: Object.assign({messageList, title: 't', compatibleText: 'c'}, extra || {})});
  assert.strictEqual(codeOf(merge([ok])), 'no error');
  assert.strictEqual(codeOf(merge([ok, revoked])), 2453);
  assert.strictEqual(codeOf(merge([unsent])), 2453);
  assert.strictEqual(codeOf(merge([failed])), 2453);
  assert.strictEqual(codeOf(merge([ok, {}])), 2453);
  assert.strictEqual(codeOf(merge([])), 910003);
  assert.strictEqual(codeOf(merge(undefined)), 910003);
  assert.strictEqual(codeOf(merge(new Array(301).fill(ok))), 910013);
  assert.strictEqual(codeOf(merge(new Array(300).fill(ok))), 'no error');
  const big = await received(chat, ws, {ID: 'a3', elements: [{type: 'TIMTextElem', payload: {text: 'é'.repeat(4000)}}]});
  assert.strictEqual(codeOf(merge(new Array(30).fill(big))), 910014);  // 240 KB as UTF-8
  assert.strictEqual(codeOf(merge([ok], {title: ''})), 910003);
  assert.strictEqual(codeOf(merge([ok], {compatibleText: undefined})), 910003);
  assert.strictEqual(codeOf(merge([ok], {abstractList: 'a'})), 910003);
  assert.strictEqual(codeOf(merge([ok], {abstractList: ['a', 1]})), 910003);
  chat.logout();
});

test('createForwardMessage copies a stored message; a stored merged list goes by its key', async () => {
  const {chat, ws} = await loggedIn();
  const image = await received(chat, ws, {ID: 'i1', elements: [IMAGE_ELEMENT], cloudCustomData: 'meta'});
  const fwd = chat.createForwardMessage({to: 'carol', conversationType: 'C2C', payload: image});
  assert.strictEqual(fwd.to, 'carol');
  assert.strictEqual(fwd.type, TYPES.MSG_IMAGE);
  assert.deepStrictEqual(fwd.elements, [IMAGE_ELEMENT]);
  assert.notStrictEqual(fwd.elements[0].payload, image.elements[0].payload);  // a copy
  assert.strictEqual(fwd.cloudCustomData, 'meta');
  assert.notStrictEqual(fwd.random, image.random);
  assert.strictEqual(fwd.status, 'unSend');
  assert.strictEqual(chat.createForwardMessage({to: 'carol', conversationType: 'C2C', payload: image,
                                                cloudCustomData: ''}).cloudCustomData, '');

  const keyed = await received(chat, ws, {ID: 'k1', elements: [{type: 'TIMRelayElem', payload: {
    title: 't', abstractList: ['a'], compatibleText: 'c', downloadKey: 'K'.repeat(32)}}]});
  // Even after its list was downloaded, it is forwarded by its key.
  const dl = chat.downloadMergerMessage(keyed);
  const op = last(ws.ops('downloadMergerMessage'));
  ws.reply(op, {messageList: [{from: 'alice', to: 'bob', time: 1, messageBody: [{type: 'TIMTextElem', payload: {text: 'x'}}]}]});
  await dl;
  const fwdKeyed = chat.createForwardMessage({to: 'carol', conversationType: 'C2C', payload: keyed});
  assert.deepStrictEqual(fwdKeyed.elements, [{type: 'TIMRelayElem', payload: {
    title: 't', abstractList: ['a'], compatibleText: 'c', downloadKey: 'K'.repeat(32)}}]);
  const out = chat.sendMessage(fwdKeyed);
  assert.ok(!('messageList' in last(ws.ops('sendMessage')).data.elements[0].payload));
  out.catch(() => {});

  const revoked = await received(chat, ws, {ID: 'r1', isRevoked: true, elements: []});
  assert.strictEqual(codeOf(() => chat.createForwardMessage({to: 'carol', conversationType: 'C2C', payload: revoked})), 2453);
  const unsent = chat.createTextMessage({to: 'alice', conversationType: 'C2C', payload: {text: 'x'}});
  assert.strictEqual(codeOf(() => chat.createForwardMessage({to: 'carol', conversationType: 'C2C', payload: unsent})), 2453);
  assert.strictEqual(codeOf(() => chat.createForwardMessage({to: 'carol', conversationType: 'C2C'})), 2453);
  assert.strictEqual(codeOf(() => chat.createForwardMessage({conversationType: 'C2C', payload: image})), 910003);
  chat.logout();
});

test('merging and forwarding merged messages: inline lists in wire form, stored ones by key', async () => {
  const {chat, ws} = await loggedIn();
  const key = 'E'.repeat(32);
  const keyed = await received(chat, ws, {ID: 'k1', elements: [{type: 'TIMRelayElem', payload: {
    title: 'old', abstractList: [], compatibleText: 'c', downloadKey: key}}]});
  const inline = await received(chat, ws, {ID: 'n1', elements: [
    {type: 'TIMRelayElem', payload: {title: 'small', abstractList: ['a'], compatibleText: 'c',
      messageList: [{ID: 'x1', from: 'alice', time: 5, messageBody: [{type: 'TIMTextElem', payload: {text: 'hi'}}]}]}},
    {type: 'TIMCustomElem', payload: {data: 'd', description: '', extension: ''}}]});
  await chat.downloadMergerMessage(inline);  // its items become message objects locally
  const dl = chat.downloadMergerMessage(keyed);
  ws.reply(last(ws.ops('downloadMergerMessage')), {messageList: [{from: 'alice', time: 1, messageBody: []}]});
  assert.strictEqual((await dl).data.payload.messageList.length, 1);
  // Forwarded: every element, the inline list back in its wire form.
  const fwd = chat.createForwardMessage({to: 'carol', conversationType: 'C2C', payload: inline});
  assert.deepStrictEqual(fwd.elements, [
    {type: 'TIMRelayElem', payload: {title: 'small', abstractList: ['a'], compatibleText: 'c',
      messageList: [{ID: 'x1', from: 'alice', time: 5, messageBody: [{type: 'TIMTextElem', payload: {text: 'hi'}}]}]}},
    {type: 'TIMCustomElem', payload: {data: 'd', description: '', extension: ''}}]);
  // Merged: the stored one goes by its key inside the new list.
  const outer = chat.createMergerMessage({to: 'carol', conversationType: 'C2C', payload: {
    messageList: [keyed, inline], title: 'both', compatibleText: 'c'}});
  assert.deepStrictEqual(outer.payload.messageList[0].messageBody, [{type: 'TIMRelayElem', payload: {
    title: 'old', abstractList: [], compatibleText: 'c', downloadKey: key}}]);
  assert.deepStrictEqual(outer.payload.messageList[1].messageBody, fwd.elements);
  chat.logout();
});

test('downloadMergerMessage: an inline list at once, a stored one asked once per key', async () => {
  const {chat, ws} = await loggedIn();
  const inline = await received(chat, ws, {ID: 'n1', elements: [{type: 'TIMRelayElem', payload: {
    title: 't', abstractList: [], compatibleText: 'c', messageList: [
      {ID: 'x1', from: 'bob', to: 'alice', time: 5, messageBody: [{type: 'TIMTextElem', payload: {text: 'mine'}}]}]}}]});
  const got = await chat.downloadMergerMessage(inline);
  assert.strictEqual(got.data, inline);
  const [item] = inline.payload.messageList;
  assert.deepStrictEqual([item.type, item.payload.text, item.flow, item.elements.length],
    ['TIMTextElem', 'mine', 'out', 1]);
  assert.strictEqual(ws.ops('downloadMergerMessage').length, 0);
  // Merged again, the items go back to their wire form.
  const again = chat.createMergerMessage({to: 'carol', conversationType: 'C2C', payload: {
    messageList: [inline], title: 'nested', compatibleText: 'c'}});
  assert.deepStrictEqual(again.payload.messageList[0].messageBody[0].payload.messageList,
    [{ID: 'x1', from: 'bob', to: 'alice', time: 5, messageBody: [{type: 'TIMTextElem', payload: {text: 'mine'}}]}]);

  const key = 'A'.repeat(32);
  const relay = {type: 'TIMRelayElem', payload: {title: 't', abstractList: [], compatibleText: 'c', downloadKey: key}};
  const one = await received(chat, ws, {ID: 'k1', elements: [relay]});
  const two = await received(chat, ws, {ID: 'k2', elements: [JSON.parse(JSON.stringify(relay))]});
  const p1 = chat.downloadMergerMessage(one);
  const p2 = chat.downloadMergerMessage(two);  // the same key: the same request
  const ops = ws.ops('downloadMergerMessage');
  assert.deepStrictEqual(ops.map((f) => f.data), [{downloadKey: key}]);
  ws.reply(ops[0], {messageList: [{ID: 'y1', from: 'alice', to: 'bob', time: 6,
                                   elements: [{type: 'TIMTextElem', payload: {text: 'hers'}}]}]});
  const [r1, r2] = await Promise.all([p1, p2]);
  assert.strictEqual(r1.data.payload.messageList[0].payload.text, 'hers');
  assert.strictEqual(r2.data.payload.messageList[0].flow, 'in');
  await chat.downloadMergerMessage(one);  // kept: no new request
  assert.strictEqual(ws.ops('downloadMergerMessage').length, 1);

  // Refused (no access): the server's code; not kept, so asked again next time.
  const other = await received(chat, ws, {ID: 'k3', elements: [{type: 'TIMRelayElem', payload: {
    title: 't', abstractList: [], compatibleText: 'c', downloadKey: 'B'.repeat(32)}}]});
  const p3 = chat.downloadMergerMessage(other);
  ws.refuse(last(ws.ops('downloadMergerMessage')), 910004, 'not found');
  assert.strictEqual((await rejection(p3)).code, 910004);
  chat.downloadMergerMessage(other).catch(() => {});
  assert.strictEqual(ws.ops('downloadMergerMessage').length, 3);

  const text = await received(chat, ws, {ID: 't1', elements: [{type: 'TIMTextElem', payload: {text: 'x'}}]});
  assert.strictEqual((await rejection(chat.downloadMergerMessage(text))).code, 2450);
  assert.strictEqual((await rejection(chat.downloadMergerMessage(null))).code, 2450);
  const keyless = await received(chat, ws, {ID: 'k4', elements: [{type: 'TIMRelayElem', payload: {
    title: 't', abstractList: [], compatibleText: 'c'}}]});
  assert.strictEqual((await rejection(chat.downloadMergerMessage(keyless))).code, 2451);
  chat.logout();
});

test('a merged list the server stored apart is shown without a download', async () => {
  const {chat, ws} = await loggedIn();
  const a = await received(chat, ws, {ID: 'a1', elements: [{type: 'TIMTextElem', payload: {text: 'hello'}}]});
  const merged = chat.createMergerMessage({to: 'carol', conversationType: 'C2C', payload: {
    messageList: [a], title: 't', compatibleText: 'c'}});
  const sent = chat.sendMessage(merged);
  const req = last(ws.ops('sendMessage'));
  const key = 'C'.repeat(32);
  ws.reply(req, stored(req, 'mm', {elements: [{type: 'TIMRelayElem', payload: {
    title: 't', abstractList: [], compatibleText: 'c', downloadKey: key}}]}));
  await sent;
  assert.strictEqual(merged.payload.downloadKey, key);
  assert.ok(!('messageList' in merged.payload));
  const {data} = await chat.downloadMergerMessage(merged);
  assert.strictEqual(data.payload.messageList[0].payload.text, 'hello');
  assert.strictEqual(ws.ops('downloadMergerMessage').length, 0);
  chat.logout();
});

test('the merged lists kept are bounded: past 50 keys the least recently used is asked again', async () => {
  const {chat, ws} = await loggedIn();
  const keyed = (n) => ({ID: `k${n}`, from: 'alice', to: 'bob', elements: [{type: 'TIMRelayElem',
    payload: {title: 't', abstractList: [], compatibleText: 'c', downloadKey: String(n).padStart(32, 'k')}}]});
  const download = async (n) => {
    const asked = ws.ops('downloadMergerMessage').length;
    const p = chat.downloadMergerMessage(keyed(n));
    const ops = ws.ops('downloadMergerMessage');
    if (ops.length > asked) ws.reply(last(ops), {messageList: [{from: 'alice', time: n, messageBody: []}]});
    await p;
    return ws.ops('downloadMergerMessage').length > asked;
  };
  for (let n = 0; n < 50; n++) assert.strictEqual(await download(n), true);
  assert.strictEqual(await download(0), false);  // kept, and now the most recent
  assert.strictEqual(await download(50), true);  // 51 keys: key 1 goes
  assert.strictEqual(await download(0), false);
  assert.strictEqual(await download(1), true);
  chat.logout();
});
