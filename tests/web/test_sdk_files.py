"""The JS SDK's file, merged and forwarded messages in Chromium against the live server:
a second SDK instance in each signed-in page (its session cookie and CSRF token
authenticate the upload), files made by the page itself (a canvas PNG, bytes)."""

import pytest

from messaging.models import Message, Upload
from tests.web.helpers import TIMEOUT_MS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

LISTEN = """() => {
  const chat = ParleyChat.create({});
  window.received = [];
  chat.on(ParleyChat.EVENT.MESSAGE_RECEIVED, (e) => window.received.push(...e.data));
  window.bobChat = chat;
  return new Promise((resolve) => {
    chat.on(ParleyChat.EVENT.SDK_READY, () => resolve(true));
    chat.login({userID: 'bob'});
  });
}"""

SEND = """async () => {
  const chat = ParleyChat.create({});
  const ready = new Promise((resolve) => chat.on(ParleyChat.EVENT.SDK_READY, resolve));
  await chat.login({userID: 'alice'});
  await ready;
  const to = {to: 'bob', conversationType: 'C2C'};
  const canvas = document.createElement('canvas');
  canvas.width = 400;
  canvas.height = 300;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#c33';
  ctx.fillRect(0, 0, 400, 300);
  const png = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  const progress = [];
  const image = chat.createImageMessage(Object.assign({payload: {file: new File([png], 'red.png',
    {type: 'image/png'})}, onProgress: (p) => progress.push(p)}, to));
  const before = {status: image.status, url: image.payload.imageInfoArray[0].url};
  const sent = (await chat.sendMessage(image)).data.message;

  const bytes = new Uint8Array(3000).map((_, i) => i % 251);
  const doc = chat.createFileMessage(Object.assign({payload: {file: new File([bytes], 'data.bin')}}, to));
  const sentDoc = (await chat.sendMessage(doc)).data.message;
  const back = new Uint8Array(await (await fetch(sentDoc.payload.url)).arrayBuffer());
  const thumb = sent.payload.imageInfoArray.find((i) => i.type === 3);
  const thumbType = (await fetch(thumb.url)).headers.get('content-type');

  const merged = chat.createMergerMessage(Object.assign({payload: {messageList: [sent, sentDoc],
    title: 'Alice and Bob', abstractList: ['Alice: [Image]', 'Alice: [File]'],
    compatibleText: '[Chat History]'}}, to));
  const sentMerged = (await chat.sendMessage(merged)).data.message;
  const listed = (await chat.downloadMergerMessage(sentMerged)).data.payload.messageList;
  const fwd = (await chat.sendMessage(chat.createForwardMessage(Object.assign({payload: sent}, to))))
    .data.message;
  chat.destroy();
  return {before, progress, status: sent.status, image: sent.elements[0], thumb, thumbType,
          doc: sentDoc.elements[0], same: back.length === bytes.length && back.every((b, i) => b === bytes[i]),
          mergedType: sentMerged.type,
          listed: listed.map((m) => [m.type, m.from, m.payload.uuid]),
          fwd: fwd.elements[0], fwdID: fwd.ID, imageID: sent.ID};
}"""


def test_files_merged_and_forwarded_through_the_sdk(new_page, make_user, transactional_db):
    make_user("alice")
    make_user("bob")
    alice, bob = new_page(), new_page()
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    assert bob.evaluate(LISTEN)

    r = alice.evaluate(SEND)
    assert r["before"]["status"] == "unSend"
    assert r["before"]["url"].startswith("blob:")
    assert r["progress"] and r["progress"][-1] == 1
    assert r["status"] == "success"
    image = r["image"]
    assert image["type"] == "TIMImageElem" and image["payload"]["format"] == "PNG"
    assert [i["width"] for i in image["payload"]["imageInfoArray"]] == [400, 400, 198]
    assert r["thumbType"] == "image/png"
    assert r["doc"]["payload"]["fileName"] == "data.bin" and r["doc"]["payload"]["fileSize"] == 3000
    assert r["same"]
    assert r["mergedType"] == "TIMRelayElem"
    assert r["listed"] == [["TIMImageElem", "alice", image["payload"]["uuid"]],
                           ["TIMFileElem", "alice", r["doc"]["payload"]["uuid"]]]
    assert r["fwd"] == image and r["fwdID"] != r["imageID"]
    # Two uploads stored, four messages sent.
    assert Upload.objects.filter(is_gone=False).count() == 2
    assert Message.objects.count() == 4

    bob.wait_for_function("window.received.length >= 4")
    got = bob.evaluate("window.received.map((m) => [m.type, m.from])")
    assert got == [["TIMImageElem", "alice"], ["TIMFileElem", "alice"],
                   ["TIMRelayElem", "alice"], ["TIMImageElem", "alice"]]
    listed = bob.evaluate("""async () => {
      const merged = window.received.find((m) => m.type === 'TIMRelayElem');
      const {data} = await window.bobChat.downloadMergerMessage(merged);
      return data.payload.messageList.map((m) => [m.type, m.flow]);
    }""")
    assert listed == [["TIMImageElem", "in"], ["TIMFileElem", "in"]]


CANCEL = """async () => {
  const chat = ParleyChat.create({});
  const ready = new Promise((resolve) => chat.on(ParleyChat.EVENT.SDK_READY, resolve));
  await chat.login({userID: 'alice'});
  await ready;
  const bytes = new Uint8Array(600 * 1024).map((_, i) => i % 253);
  const progress = [];
  let cancelled = null;
  const message = chat.createFileMessage({to: 'bob', conversationType: 'C2C',
    payload: {file: new File([bytes], 'big.bin')},
    onProgress: (p) => {
      progress.push(p);
      if (p > 0.05 && cancelled === null) cancelled = chat.cancelUploadMessage(message);
    }});
  let code = null;
  try {
    await chat.sendMessage(message);
  } catch (err) { code = err.code; }
  window.cancelled = {cancelled, code, status: message.status, progress: progress.length};
  window.aliceChat = chat;
  window.bigMessage = message;
  return window.cancelled;
}"""


def test_a_slow_upload_reports_progress_and_can_be_cancelled(new_page, make_user, transactional_db):
    make_user("alice")
    make_user("bob")
    page = new_page()
    sign_in(page, "alice")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": 100 * 1024})
    r = page.evaluate(CANCEL)
    assert r == {"cancelled": True, "code": 910203, "status": "fail", "progress": r["progress"]}
    assert r["progress"] >= 1
    assert not Upload.objects.exists() and not Message.objects.exists()

    # Sent again at full speed: uploaded from the start, then sent.
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    again = page.evaluate("""async () => {
      const {data} = await window.aliceChat.sendMessage(window.bigMessage);
      return [data.message.status, data.message.payload.fileSize];
    }""")
    assert again == ["success", 600 * 1024]
    assert Upload.objects.count() == 1 and Message.objects.count() == 1


REFUSED = """async () => {
  const chat = ParleyChat.create({});
  const ready = new Promise((resolve) => chat.on(ParleyChat.EVENT.SDK_READY, resolve));
  await chat.login({userID: 'alice'});
  await ready;
  const message = chat.createImageMessage({to: 'bob', conversationType: 'C2C',
    payload: {file: new File(['not a picture'], 'fake.png', {type: 'image/png'})}});
  try {
    await chat.sendMessage(message);
    return null;
  } catch (err) {
    return [err.code, err.httpStatus, message.status];
  }
}"""


def test_the_servers_refusal_of_an_upload_keeps_its_code(browser, live_server_url, make_user,
                                                         transactional_db):
    make_user("alice")
    make_user("bob")
    # Its own context: Chromium logs the refused request as a console error, which the
    # new_page fixture counts as a fault of the page.
    context = browser.new_context(base_url=live_server_url)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(page, "alice")
        assert page.evaluate(REFUSED) == [910007, 400, "fail"]
    finally:
        context.close()
    assert not Message.objects.exists()


BIG_MERGE = """async () => {
  const chat = ParleyChat.create({});
  const ready = new Promise((resolve) => chat.on(ParleyChat.EVENT.SDK_READY, resolve));
  await chat.login({userID: 'alice'});
  await ready;
  const to = {to: 'bob', conversationType: 'C2C'};
  const sent = [];
  for (let i = 0; i < 30; i++) {
    const text = `line ${i} ` + 'x'.repeat(600);
    sent.push((await chat.sendMessage(chat.createTextMessage(Object.assign({payload: {text}}, to))))
      .data.message);
  }
  const merged = chat.createMergerMessage(Object.assign({payload: {messageList: sent,
    title: 'A long chat', abstractList: ['Alice: line 0'], compatibleText: '[Chat History]'}}, to));
  const big = (await chat.sendMessage(merged)).data.message;
  const inline = 'messageList' in big.elements[0].payload;
  // Shown at once: the list sent is the stored one's.
  const mine = (await chat.downloadMergerMessage(big)).data.payload.messageList.length;
  // A merged message holding the stored one: small, so inline; the inner one by its key.
  const nested = (await chat.sendMessage(chat.createMergerMessage(Object.assign({payload: {
    messageList: [big], title: 'Nested', compatibleText: '[Chat History]'}}, to)))).data.message;
  chat.destroy();
  return {key: big.payload.downloadKey || null, inline,
          mine, nestedInline: Array.isArray(nested.elements[0].payload.messageList)};
}"""

BOB_READS = """async () => {
  const chat = window.bobChat;
  const big = window.received.find((m) => m.type === 'TIMRelayElem' && m.payload.title === 'A long chat');
  const nested = window.received.find((m) => m.type === 'TIMRelayElem' && m.payload.title === 'Nested');
  const list = (await chat.downloadMergerMessage(big)).data.payload.messageList;
  const inner = (await chat.downloadMergerMessage(nested)).data.payload.messageList[0];
  const innerList = (await chat.downloadMergerMessage(inner)).data.payload.messageList;
  const fwd = (await chat.sendMessage(chat.createForwardMessage({to: 'carol', conversationType: 'C2C',
    payload: big}))).data.message;
  return {hasKey: !!big.payload.downloadKey, count: list.length, first: list[0].payload.text.slice(0, 6),
          flow: list[0].flow, innerCount: innerList.length,
          fwdKey: fwd.elements[0].payload.downloadKey, fwdInline: 'messageList' in fwd.elements[0].payload};
}"""

OTHER_READS = """async (key) => {
  const chat = ParleyChat.create({});
  const ready = new Promise((resolve) => chat.on(ParleyChat.EVENT.SDK_READY, resolve));
  await chat.login({});
  await ready;
  const message = {ID: '1-1-1', from: 'alice', to: 'bob', status: 'success', elements: [
    {type: 'TIMRelayElem', payload: {title: 't', abstractList: [], compatibleText: 'c', downloadKey: key}}]};
  let code = null;
  try {
    await chat.downloadMergerMessage(message);
  } catch (err) { code = err.code; }
  chat.destroy();
  return code;
}"""


def test_a_long_merged_list_goes_by_downloadkey(new_page, make_user, transactional_db):
    """Needs the server's stored lists (messaging/merged.py, helper `merged`)."""
    pytest.importorskip("messaging.merged")
    for user_id in ("alice", "bob", "carol", "dave"):
        make_user(user_id)
    alice, bob, carol, dave = new_page(), new_page(), new_page(), new_page()
    for page, user_id in ((alice, "alice"), (bob, "bob"), (carol, "carol"), (dave, "dave")):
        sign_in(page, user_id)
    assert bob.evaluate(LISTEN)
    r = alice.evaluate(BIG_MERGE)
    assert r["key"] and not r["inline"]
    assert r["mine"] == 30
    assert r["nestedInline"]
    bob.wait_for_function("window.received.length >= 32")
    b = bob.evaluate(BOB_READS)
    assert b == {"hasKey": True, "count": 30, "first": "line 0", "flow": "in", "innerCount": 30,
                 "fwdKey": r["key"], "fwdInline": False}
    # Carol got the forward: she may read it. Dave has nothing with that key: 20022.
    assert carol.evaluate(OTHER_READS, r["key"]) is None
    assert dave.evaluate(OTHER_READS, r["key"]) == 20022


USERSIG_UPLOAD = """async ([userSig]) => {
  const chat = ParleyChat.create({});
  const ready = new Promise((resolve) => chat.on(ParleyChat.EVENT.SDK_READY, resolve));
  await chat.login({userID: 'carol', userSig});
  await ready;
  const message = chat.createFileMessage({to: 'bob', conversationType: 'C2C',
    payload: {file: new File(['from an app'], 'app.txt', {type: 'text/plain'})}});
  const {data} = await chat.sendMessage(message);
  chat.destroy();
  return [data.message.from, data.message.payload.fileName, data.message.payload.fileSize];
}"""


def test_an_sdk_logged_in_by_usersig_uploads_with_it(browser, live_server_url, make_user, usersig,
                                                     transactional_db):
    """No session (a page of another app, say): the upload carries the login's UserSig."""
    make_user("bob")
    context = browser.new_context(base_url=live_server_url)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto("/accounts/signin/")
        page.add_script_tag(url="/static/parley/sdk.js")
        assert page.evaluate(USERSIG_UPLOAD, [usersig("carol")]) == ["carol", "app.txt", 11]
    finally:
        context.close()
    assert Upload.objects.get().uploader.user_id == "carol"
