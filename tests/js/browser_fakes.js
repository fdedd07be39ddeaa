// The browser, as far as the SDK touches it, played by the tests: a WebSocket whose
// frames the test reads and answers, and an XMLHttpRequest whose upload the test
// drives (progress, answer, network error). Node provides Blob, File, FormData and
// URL.createObjectURL itself. Not a test file (tests/js/*.test.js are).
'use strict';

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
  reply(req, data) { this.frame({id: req.id, ok: true, data}); }
  refuse(req, code, message) { this.frame({id: req.id, ok: false, code, message}); }
  drop() { this.readyState = 3; this.onclose({code: 1006}); }
}
FakeSocket.OPEN = 1;
FakeSocket.all = [];

class FakeXHR {
  constructor() {
    this.headers = {};
    this.upload = {};
    this.status = 0;
    this.responseText = '';
    FakeXHR.all.push(this);
  }
  open(method, url) { this.method = method; this.url = url; }
  setRequestHeader(name, value) { this.headers[name] = value; }
  send(body) { this.body = body; }
  abort() { this.aborted = true; this.onabort(); }
  progress(loaded, total) { this.upload.onprogress({lengthComputable: true, loaded, total}); }
  respond(status, body) {
    this.status = status;
    this.responseText = typeof body === 'string' ? body : JSON.stringify(body);
    this.onload();
  }
}
FakeXHR.all = [];

/** Install the fakes as the browser's globals and load the SDK; returns ParleyChat. */
function loadSdk() {
  globalThis.WebSocket = FakeSocket;
  globalThis.XMLHttpRequest = FakeXHR;
  // The SDK logs what logout() cuts short; not the tests' subject.
  console.error = console.warn = () => {};
  require(path.join(__dirname, '..', '..', 'static', 'parley', 'sdk.js'));
  return globalThis.ParleyChat;
}

module.exports = {FakeSocket, FakeXHR, loadSdk};
