"""Every message type on the chat page, in a real browser against a real server: sent
through the UI by one person, arriving live on the other's page and drawn there
(thumbnail loaded, players with a source, the file downloading with the same bytes,
sticker, map link, custom description, merged card opening its list), the actions on a
message (edit, delete for me, recall, forward), a refused send in words, and markup in
every text field shown as text.

Files are made by the test: a PNG (Pillow), a WAV (the wave module), a WebM (recorded
by Chromium's MediaRecorder from a canvas) and a text file.
"""

import base64
import io
import re
import struct
import wave

import pytest
from PIL import Image
from playwright.sync_api import expect

from accounts.models import User
from messaging.commands import Origin
from messaging.models import Message
from messaging.services import message_send
from relationships.blocklist import block_add
from tests.web.helpers import in_worker, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

HTTP = re.compile(r"^https?://")


# --- helpers -----------------------------------------------------------------------------

def open_chat(page, user_id):
    page.get_by_test_id("new-chat-input").fill(user_id)
    page.get_by_test_id("new-chat-input").press("Enter")
    expect(page.get_by_test_id("chat-title")).to_be_visible()


def messages(page):
    return page.get_by_test_id("message")


def last(page):
    return messages(page).last


def two_people(new_page, make_user):
    make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    alice, bob = new_page(), new_page()
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    open_chat(alice, "bob")
    open_chat(bob, "alice")
    return alice, bob


def send_as(sender_id, to_id, elements, random=1):
    sender = User.objects.get(user_id=sender_id)
    return in_worker(message_send, origin=Origin.USER, sender=sender, to=to_id,
                     random=random, elements=elements)


def png_bytes(width=320, height=200):
    image = Image.new("RGB", (width, height), (30, 120, 200))
    for x in range(0, width, 20):
        for y in range(0, height, 20):
            if (x + y) // 20 % 2:
                image.putpixel((x, y), (250, 200, 40))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def wav_bytes(seconds=1, rate=8000):
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", (i * 300) % 20000 - 10000)
                               for i in range(rate * seconds)))
    return out.getvalue()


WEBM_SCRIPT = """async ([w, h, slice]) => {
  const canvas = document.createElement('canvas');
  canvas.width = w; canvas.height = h;
  const g = canvas.getContext('2d');
  const stream = canvas.captureStream(10);
  const rec = new MediaRecorder(stream, {mimeType: 'video/webm'});
  const chunks = [];
  rec.ondataavailable = (e) => chunks.push(e.data);
  const done = new Promise((r) => { rec.onstop = r; });
  rec.start(slice || undefined);
  for (let i = 0; i < 8; i++) {
    g.fillStyle = `hsl(${i * 40}, 80%, 50%)`; g.fillRect(0, 0, w, h);
    await new Promise((r) => setTimeout(r, 60));
  }
  rec.stop();
  await done;
  const buf = new Uint8Array(await new Blob(chunks).arrayBuffer());
  let s = '';
  for (const b of buf) s += String.fromCharCode(b);
  return btoa(s);
}"""


def webm_bytes(page, width: int = 64, height: int = 48, timeslice: int = 0):
    """A short real WebM, recorded by the browser itself (no encoder on the machine).
    Recorded in `timeslice` ms pieces, as a recorder that uploads while it records
    does, its file states no duration: the browser then reads Infinity until it has
    read it through, unless it found the length on its own first (mostly, here)."""
    return base64.b64decode(page.evaluate(WEBM_SCRIPT, [width, height, timeslice]))


def attach(page, name, mime, data):
    page.get_by_test_id("attach-input").set_input_files(
        {"name": name, "mimeType": mime, "buffer": data})


def natural_width(locator):
    return locator.evaluate("img => img.complete ? img.naturalWidth : 0")


# --- every type, through the UI ------------------------------------------------------

UPLOAD_SCRIPT = """async ([kind, name, mime, b64, cover]) => {
  const file = (n, t, s) => new File([Uint8Array.from(atob(s), (c) => c.charCodeAt(0))], n, {type: t});
  const form = new FormData();
  form.append('kind', kind);
  form.append('file', file(name, mime, b64));
  if (cover) form.append('thumb', file('cover.png', 'image/png', cover));
  const csrf = decodeURIComponent(document.cookie.match(/csrftoken=([^;]+)/)[1]);
  const r = await fetch('/api/v1/files/', {method: 'POST', body: form,
                                           headers: {'X-CSRFToken': csrf}});
  if (r.status !== 201) throw new Error(`upload: ${r.status} ${await r.text()}`);
  return r.json();
}"""


def upload_element(page, kind, name, mime, data, cover=None):
    """The element of a file uploaded by the page's user (POST /api/v1/files/), to be
    sent in as many messages as a test likes."""
    b64 = base64.b64encode(data).decode()
    return page.evaluate(UPLOAD_SCRIPT, [kind, name, mime, b64,
                                         base64.b64encode(cover).decode() if cover else None])


def scroll_gap(page):
    """How far the message list's scroll is from its bottom, in pixels."""
    return page.evaluate("() => { const s = document.getElementById('message-scroll');"
                         " return s.scrollHeight - s.scrollTop - s.clientHeight; }")


def slow_media(page, ms):
    """Files under /media/ arrive `ms` late, as over a slow network: pictures and
    players get their size well after the chat has been drawn."""
    def slow(route):
        page.wait_for_timeout(ms)
        try:
            route.continue_()
        except Exception:  # noqa: BLE001 - the page went away meanwhile
            pass
    page.route("**/media/**", slow)



def test_a_chat_opened_on_a_video_shows_its_newest_message(new_page, make_user,
                                                            transactional_db):
    """A video's box is the cover's shape from the start, so learning the video's size
    moves nothing: the list was left 90 px short of the bottom when a 640 x 480 video
    grew from the player's default 300 x 150 after loading."""
    alice, bob = two_people(new_page, make_user)
    sender = User.objects.get(user_id="alice")
    for n in range(30):  # more than a screen: the newest is below the fold unless scrolled
        message_send(origin=Origin.USER, sender=sender, to="bob", random=n,
                     elements=[{"type": "TIMTextElem", "payload": {"text": f"line {n}"}}])
    attach(alice, "big.webm", "video/webm", webm_bytes(alice, 640, 480))
    expect(last(alice)).to_have_attribute("data-status", "success")
    for page, peer in ((bob, "alice"), (alice, "bob")):
        page.reload()  # the page opens the chat it showed
        expect(page.get_by_test_id("chat-title")).to_be_visible()
        video = last(page).get_by_test_id("msg-video")
        page.wait_for_function("v => v.readyState >= 1", arg=video.element_handle())
        page.wait_for_timeout(300)
        box = video.bounding_box()
        assert (round(box["width"]), round(box["height"])) == (320, 240), box
        gap = page.evaluate("() => { const s = document.getElementById('message-scroll');"
                            " return s.scrollHeight - s.scrollTop - s.clientHeight; }")
        assert gap < 2, (peer, gap)


def test_a_chat_of_every_type_opens_at_its_newest_and_stays_there_while_media_load(
        new_page, make_user, transactional_db):
    """Pictures and players that take their size after the chat is drawn kept pushing
    the newest message below the fold (120 to 145 px short of the bottom): while the
    view is at the bottom it stays there as they load; once the person scrolls up, a
    picture loading later does not pull them back down."""
    alice, bob = two_people(new_page, make_user)
    image = upload_element(alice, "image", "tall.png", "image/png", png_bytes(300, 420))
    wide = upload_element(alice, "image", "wide.png", "image/png", png_bytes(640, 200))
    sound = upload_element(alice, "sound", "voice.wav", "audio/wav", wav_bytes())
    clip = upload_element(alice, "video", "clip.webm", "video/webm", webm_bytes(alice, 64, 48),
                          cover=png_bytes(64, 48))
    doc = upload_element(alice, "file", "notes.txt", "text/plain", b"notes\n" * 50)
    kinds = [
        [{"type": "TIMTextElem", "payload": {"text": "look at this"}}],
        [image], [sound], [wide], [clip], [doc],
        [{"type": "TIMFaceElem", "payload": {"index": 1, "data": "laugh"}}],
        [{"type": "TIMLocationElem", "payload": {"description": "Harbour",
                                                 "latitude": 43.29, "longitude": 5.37}}],
        [{"type": "TIMCustomElem", "payload": {"data": "{}", "description": "Order shipped"}}],
    ]
    for n in range(30):  # newest last: an image, whose size comes last
        send_as("alice", "bob", kinds[(n + 8) % len(kinds)], random=n + 1)
    expect(messages(bob)).to_have_count(30)
    assert Message.objects.order_by("-id").first().elements[0]["type"] == "TIMImageElem"

    slow_media(bob, 400)
    bob.reload()  # the page opens the chat it showed
    expect(last(bob).get_by_test_id("msg-image")).to_be_visible()
    bob.wait_for_function("() => [...document.querySelectorAll('.msg-image')]"
                          ".every((i) => i.complete && i.naturalWidth > 0)")
    bob.wait_for_timeout(300)
    assert scroll_gap(bob) < 2
    box = last(bob).bounding_box()
    view = bob.get_by_test_id("message-scroll").bounding_box()
    assert box["y"] + box["height"] <= view["y"] + view["height"] + 1, (box, view)

    # Scrolled up by the person before the pictures arrive: they stay where they went.
    slow_media(bob, 1500)
    bob.reload()
    expect(last(bob).get_by_test_id("msg-image")).to_be_attached()
    bob.wait_for_timeout(200)
    scroll = bob.get_by_test_id("message-scroll")
    scroll.hover()
    bob.mouse.wheel(0, -250)
    bob.wait_for_function("() => { const s = document.getElementById('message-scroll');"
                          " return s.scrollHeight - s.scrollTop - s.clientHeight > 200; }")
    top = scroll.evaluate("s => s.scrollTop")
    bob.wait_for_function("() => [...document.querySelectorAll('.msg-image')]"
                          ".every((i) => i.complete && i.naturalWidth > 0)")
    bob.wait_for_timeout(300)
    assert scroll.evaluate("s => s.scrollTop") == top
    assert scroll_gap(bob) > 200


def test_each_type_sent_through_the_page_arrives_live_and_renders(
        new_page, make_user, transactional_db):
    alice, bob = two_people(new_page, make_user)

    # Image: thumbnail in the bubble on both sides, loaded; a click opens the original.
    png = png_bytes()
    attach(alice, "picture.png", "image/png", png)
    expect(last(alice)).to_have_attribute("data-status", "success")
    got = last(bob).get_by_test_id("msg-image")
    expect(got).to_be_visible()
    bob.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=got.element_handle())
    assert natural_width(got) > 0
    link = last(bob).get_by_test_id("msg-image-link")
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in link.get_attribute("rel")
    with bob.expect_popup() as popup:
        link.click()
    original = popup.value
    original.wait_for_load_state()
    assert original.url == link.get_attribute("href")
    original.close()

    # Audio: a player with the source, and its length (read by the sender's browser).
    attach(alice, "voice.wav", "audio/wav", wav_bytes(seconds=2))
    expect(last(alice)).to_have_attribute("data-status", "success")
    audio = last(bob).get_by_test_id("msg-audio")
    expect(audio).to_have_attribute("src", HTTP)
    assert audio.evaluate("a => a.controls")
    expect(audio).to_have_attribute("title", "Voice message, 0:02")
    bob.wait_for_function("a => a.readyState >= 1 && a.duration > 1.9", arg=audio.element_handle())

    # Video: a player with the source, its first frame (made by the sender) as poster.
    attach(alice, "clip.webm", "video/webm", webm_bytes(alice, timeslice=100))
    expect(last(alice)).to_have_attribute("data-status", "success")
    video = last(bob).get_by_test_id("msg-video")
    expect(video).to_have_attribute("src", HTTP)
    expect(video).to_have_attribute("poster", HTTP)

    # File: name, size in human units, and a download of the same bytes.
    text = ("notes for bob\n" * 200).encode()
    attach(alice, "notes.txt", "text/plain", text)
    expect(last(alice)).to_have_attribute("data-status", "success")
    card = last(bob).get_by_test_id("msg-file")
    expect(card.get_by_test_id("msg-file-name")).to_have_text("notes.txt")
    expect(card.get_by_test_id("msg-file-size")).to_have_text("2.7 KB")
    with bob.expect_download() as download:
        card.get_by_test_id("msg-file-download").click()
    path = download.value.path()
    with open(path, "rb") as fh:
        assert fh.read() == text

    stored = [m.elements[0] for m in Message.objects.order_by("id")]
    assert [e["type"] for e in stored] == [
        "TIMImageElem", "TIMSoundElem", "TIMVideoFileElem", "TIMFileElem"]
    assert stored[1]["payload"]["second"] == 2
    assert stored[2]["payload"]["thumbWidth"] == 64 and stored[2]["payload"]["thumbUrl"]
    # A recording in pieces states no duration (Infinity until read through): its
    # length was stored as 0.
    assert stored[2]["payload"]["videoSecond"] == 1


def test_a_very_tall_image_shows_a_thumbnail_one_can_see_and_click(new_page, make_user,
                                                                    transactional_db):
    """A 2 x 198 picture (its own thumbnail) was drawn 2 px wide, and a 20 x 2000 one
    from a 2 x 198 thumbnail: slivers. Now a box of at least 48 px a side, at most 240,
    filled from the picture's middle, that opens the original."""
    alice, bob = two_people(new_page, make_user)
    for name, size in (("sliver.png", (2, 198)), ("tower.png", (20, 2000)),
                       ("wide.png", (640, 200))):
        attach(alice, name, "image/png", png_bytes(*size))
        expect(last(alice)).to_have_attribute("data-status", "success")
        img = last(bob).get_by_test_id("msg-image")
        bob.wait_for_function("img => img.complete && img.naturalWidth > 0",
                              arg=img.element_handle())
        box = img.bounding_box()
        assert 48 <= box["width"] <= 240 and 48 <= box["height"] <= 240, (name, box)
        if name == "wide.png":  # an ordinary picture keeps its shape: 198 x 62
            assert abs(box["width"] / box["height"] - 640 / 200) < 0.05, box
        link = last(bob).get_by_test_id("msg-image-link")
        with bob.expect_popup() as popup:
            img.click()
        original = popup.value
        original.wait_for_load_state()
        assert original.url == link.get_attribute("href")
        assert original.evaluate("document.images[0].naturalWidth") == size[0]
        original.close()


def test_sticker_emoji_location_and_custom(new_page, make_user, transactional_db):
    alice, bob = two_people(new_page, make_user)

    # A sticker from the set: a face message naming it; drawn as its image.
    alice.get_by_test_id("face-button").click()
    alice.get_by_test_id("face-laugh").click()
    face = last(bob).get_by_test_id("msg-face")
    expect(face).to_have_attribute("data-face", "laugh")
    bob.wait_for_function("img => img.complete && img.naturalWidth > 0",
                          arg=face.element_handle())
    assert Message.objects.get().elements == [
        {"type": "TIMFaceElem", "payload": {"index": 1, "data": "laugh"}}]

    # The emoji picker inserts at the caret.
    box = alice.get_by_test_id("message-input")
    box.fill("hello ")
    alice.get_by_test_id("emoji-button").click()
    alice.get_by_test_id("emoji").first.click()
    expect(box).to_have_value("hello 😀")
    box.press("Enter")
    expect(last(bob).locator(".msg-bubble")).to_have_text("hello 😀")

    # A location: a typed place and coordinates; a map link in a new tab.
    alice.get_by_test_id("location-button").click()
    dialog = alice.get_by_test_id("location-dialog")
    dialog.get_by_test_id("location-place").fill("Café Central")
    dialog.get_by_test_id("location-coords").fill("nowhere")
    dialog.get_by_test_id("location-send").click()
    expect(dialog.get_by_test_id("location-status")).to_contain_text("latitude, longitude")
    dialog.get_by_test_id("location-coords").fill("48.2104, 16.3655")
    dialog.get_by_test_id("location-send").click()
    expect(dialog).to_have_count(0)
    place = last(bob).get_by_test_id("msg-location")
    expect(place.get_by_test_id("msg-location-desc")).to_have_text("Café Central")
    link = place.get_by_test_id("msg-location-link")
    assert link.get_attribute("href") == (
        "https://www.openstreetmap.org/?mlat=48.21040&mlon=16.36550#map=16/48.21040/16.36550")
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in link.get_attribute("rel")

    # A custom message (sent by another client): its description, data on demand.
    send_as("alice", "bob", [{"type": "TIMCustomElem", "payload": {
        "data": '{"order": 42}', "description": "Order #42 shipped", "extension": "ext-1"}}])
    custom = last(bob).get_by_test_id("msg-custom")
    expect(custom.get_by_test_id("msg-custom-desc")).to_have_text("Order #42 shipped")
    data = custom.get_by_test_id("msg-custom-data")
    expect(data).to_be_hidden()
    custom.get_by_test_id("msg-custom-toggle").click()
    expect(data).to_have_text('data: {"order": 42}\nextension: ext-1')

    # A sticker outside the set is a label, not a broken image.
    send_as("alice", "bob", [{"type": "TIMFaceElem", "payload": {"index": 99, "data": "yz00"}}],
            random=2)
    expect(last(bob).get_by_test_id("msg-face-unknown")).to_have_text("[Sticker yz00]")


def test_edit_delete_recall_copy(new_page, make_user, transactional_db):
    alice, bob = two_people(new_page, make_user)
    box = alice.get_by_test_id("message-input")
    for text in ("first try", "keep me", "oops"):
        box.fill(text)
        box.press("Enter")
        expect(last(alice)).to_have_attribute("data-status", "success")
    expect(messages(bob)).to_have_count(3)

    # Edit my own text: both sides show the new text, marked edited.
    first = messages(alice).nth(0)
    first.hover()
    first.get_by_test_id("edit-message").click()
    first.get_by_test_id("edit-input").fill("second try")
    first.get_by_test_id("edit-save").click()
    expect(messages(alice).nth(0).locator(".msg-bubble")).to_have_text("second try")
    expect(messages(alice).nth(0).get_by_test_id("msg-edited")).to_be_visible()
    expect(messages(bob).nth(0).locator(".msg-bubble")).to_have_text("second try")
    expect(messages(bob).nth(0).get_by_test_id("msg-edited")).to_be_visible()
    # Only one's own text can be edited; anyone can copy.
    expect(messages(bob).nth(0).get_by_test_id("edit-message")).to_have_count(0)
    alice.context.grant_permissions(["clipboard-read", "clipboard-write"])
    messages(alice).nth(1).get_by_test_id("copy-message").click()
    expect(messages(alice).nth(1).get_by_test_id("copy-message")).to_have_text("Copied")
    assert alice.evaluate("navigator.clipboard.readText()") == "keep me"

    # Recall (within the window): both see it recalled.
    messages(alice).nth(2).get_by_test_id("recall-message").click()
    expect(messages(bob).nth(2).locator(".msg-bubble")).to_have_text("[Message recalled]")
    expect(messages(alice).nth(2).get_by_test_id("recall-message")).to_have_count(0)

    # Delete for me: gone from bob's page, his other tab, and after a reload; alice
    # keeps it.
    other_tab = bob.context.new_page()
    other_tab.goto("/chat/#C2Calice")
    expect(messages(other_tab)).to_have_count(3)
    target = messages(bob).nth(1)
    target.get_by_test_id("delete-message").click()
    target.get_by_test_id("delete-message").click()  # the second click confirms
    expect(messages(bob)).to_have_count(2)
    expect(bob.get_by_text("keep me")).to_have_count(0)
    expect(messages(other_tab)).to_have_count(2)
    bob.reload()
    expect(messages(bob)).to_have_count(2)
    expect(alice.get_by_text("keep me")).to_have_count(1)

    # Deleting the newest message for me: the conversation's preview shows the one
    # before it at once (it kept showing the deleted one until a reload).
    preview = alice.get_by_test_id("conversation").filter(has_text="Bob") \
        .get_by_test_id("conversation-preview")
    box.fill("the newest")
    box.press("Enter")
    expect(preview).to_contain_text("the newest")
    newest = messages(alice).nth(3)
    newest.hover()
    newest.get_by_test_id("delete-message").click()
    newest.get_by_test_id("delete-message").click()
    expect(messages(alice)).to_have_count(3)
    expect(preview).to_contain_text("recalled")


def test_recall_is_offered_only_inside_the_window(new_page, make_user, transactional_db):
    alice, bob = two_people(new_page, make_user)
    old = send_as("alice", "bob", [{"type": "TIMTextElem", "payload": {"text": "old one"}}])
    Message.objects.filter(pk=Message.objects.get().pk).update(
        time=Message.objects.get().time - 3600)
    alice.reload()
    expect(last(alice).locator(".msg-bubble")).to_have_text("old one")
    expect(last(alice).get_by_test_id("copy-message")).to_have_count(1)
    expect(last(alice).get_by_test_id("recall-message")).to_have_count(0)
    assert old


def test_a_refused_send_says_why_in_words_keeps_the_draft_and_can_be_dismissed(
        new_page, make_user, transactional_db):
    alice, bob = two_people(new_page, make_user)
    in_worker(block_add, owner=User.objects.get(user_id="bob"), user_ids=["alice"])
    box = alice.get_by_test_id("message-input")
    box.fill("are you there?")
    box.press("Enter")
    failed = last(alice)
    expect(failed).to_have_attribute("data-status", "fail")
    reason = failed.get_by_test_id("send-failed")
    expect(reason).to_have_text("Not sent: Bob has blocked you, so your messages are not delivered.")
    assert "20007" in reason.get_attribute("title")
    assert "20007" not in reason.inner_text()
    expect(alice.get_by_test_id("send-error")).to_contain_text("has blocked you")
    # Sending again can never succeed: no Retry. The draft is back in the box.
    expect(failed.get_by_test_id("retry-send")).to_have_count(0)
    expect(box).to_have_value("are you there?")
    failed.get_by_test_id("dismiss-failed").click()
    expect(messages(alice)).to_have_count(0)
    assert not Message.objects.exists()


def test_a_text_over_12_kb_is_refused_once_and_stays_in_the_box(new_page, make_user,
                                                                  transactional_db):
    """Typing and sending a text over 12 KB said it twice: a banner that the draft was
    not saved for other devices (its code's words), and the send's own refusal. Now
    the send's words, once, in the composer's line; the text stays in the box."""
    alice, bob = two_people(new_page, make_user)
    box = alice.get_by_test_id("message-input")
    box.fill("hello")
    box.press("Enter")
    expect(last(alice)).to_have_attribute("data-status", "success")  # a conversation now

    too_long = "é" * 6200  # 12,400 bytes in UTF-8: under 12,288 characters, over 12 KB
    box.fill(too_long)
    line = alice.get_by_test_id("send-error")
    words = "The message is too long (at most 12 KB). Shorten it or send it as a file."
    expect(line).to_have_text(words)
    alice.wait_for_timeout(1500)  # past the draft's save (800 ms after typing)
    box.press("Enter")
    expect(line).to_have_text(f"Could not send: {words}")
    assert line.get_attribute("title").startswith("93000")
    alice.wait_for_timeout(500)
    expect(alice.get_by_test_id("banner")).to_be_hidden()
    expect(messages(alice)).to_have_count(1)  # no failed bubble saying it again
    expect(box).to_have_value(too_long)
    assert Message.objects.count() == 1

    # Shortened: the line goes, and it is sent.
    box.fill("é" * 600)
    expect(line).to_be_hidden()
    box.press("Enter")
    expect(last(bob).locator(".msg-bubble")).to_have_text("é" * 600)


# --- markup is text ------------------------------------------------------------------

MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b>'


def test_markup_in_every_text_field_shows_as_text(new_page, make_user, transactional_db):
    alice, bob = two_people(new_page, make_user)
    evil_url = "javascript:window.__pwned=3"
    inner = [
        {"from": "alice", "nick": MARKUP, "time": 1700000000, "elements": [
            {"type": "TIMTextElem", "payload": {"text": MARKUP}},
            {"type": "TIMFileElem", "payload": {"fileName": MARKUP, "fileSize": 10,
                                                "url": evil_url, "uuid": "u"}},
            {"type": "TIMImageElem", "payload": {"uuid": "i", "imageInfoArray": [
                {"type": 3, "url": evil_url, "width": 10, "height": 10, "size": 1}]}},
        ]},
        {"From_Account": "bob", "MsgTimeStamp": 1700000001, "MsgBody": [
            {"MsgType": "TIMCustomElem", "MsgContent": {"Desc": MARKUP, "Data": MARKUP}}]},
    ]
    bodies = [
        [{"type": "TIMTextElem", "payload": {"text": MARKUP}}],
        [{"type": "TIMFileElem", "payload": {"uuid": "f1", "url": "/media/nothing.txt",
                                             "fileName": MARKUP, "fileSize": 5}}],
        [{"type": "TIMCustomElem", "payload": {"data": MARKUP, "description": MARKUP,
                                               "extension": MARKUP}}],
        [{"type": "TIMLocationElem", "payload": {"description": MARKUP,
                                                 "latitude": 1.5, "longitude": 2.5}}],
        [{"type": "TIMFaceElem", "payload": {"index": 500, "data": MARKUP}}],
        [{"type": "TIMRelayElem", "payload": {"title": MARKUP, "abstractList": [MARKUP],
                                              "compatibleText": MARKUP,
                                              "messageList": inner}}],
    ]
    for n, elements in enumerate(bodies, start=1):
        send_as("alice", "bob", elements, random=n)
    expect(messages(bob)).to_have_count(len(bodies))
    expect(messages(alice)).to_have_count(len(bodies))

    for page in (alice, bob):
        rows = messages(page)
        expect(rows.nth(0).locator(".msg-bubble")).to_have_text(MARKUP)
        expect(rows.nth(1).get_by_test_id("msg-file-name")).to_have_text(MARKUP)
        custom = rows.nth(2)
        expect(custom.get_by_test_id("msg-custom-desc")).to_have_text(MARKUP)
        custom.get_by_test_id("msg-custom-toggle").click()
        expect(custom.get_by_test_id("msg-custom-data")).to_have_text(
            f"data: {MARKUP}\nextension: {MARKUP}")
        expect(rows.nth(3).get_by_test_id("msg-location-desc")).to_have_text(MARKUP)
        expect(rows.nth(4).get_by_test_id("msg-face-unknown")).to_have_text(f"[Sticker {MARKUP}]")
        card = rows.nth(5).get_by_test_id("msg-merged")
        expect(card.get_by_test_id("msg-merged-title")).to_have_text(MARKUP)
        expect(card.get_by_test_id("msg-merged-line")).to_have_text(MARKUP)
        card.click()
        dialog = page.get_by_test_id("merged-dialog")
        items = dialog.get_by_test_id("merged-item")
        expect(items).to_have_count(2)
        expect(items.nth(0)).to_contain_text(MARKUP)
        expect(items.nth(0).get_by_test_id("msg-file-name")).to_have_text(MARKUP)
        # A URL that is not http(s) never reaches an href or a src.
        expect(items.nth(0).get_by_test_id("msg-file-download")).to_have_count(0)
        expect(items.nth(0).locator("img")).to_have_count(0)
        expect(items.nth(1).get_by_test_id("msg-custom-desc")).to_have_text(MARKUP)
        dialog.get_by_test_id("dialog-close").click()
        expect(dialog).to_have_count(0)

        page.wait_for_timeout(300)  # time for a stray onerror to fire
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#message-list script, #message-list b").count() == 0
        urls = page.evaluate("""() => [...document.querySelectorAll(
            '#message-list [href], #message-list [src], dialog [href], dialog [src]')]
            .map((n) => n.getAttribute('href') || n.getAttribute('src'))""")
        assert all(u.startswith(("http://", "https://", "/")) for u in urls), urls


# --- forwarding ----------------------------------------------------------------------

def forward_to(page, user_id):
    dialog = page.get_by_test_id("forward-dialog")
    dialog.get_by_test_id("forward-user").fill(user_id)
    dialog.get_by_test_id("forward-send").click()
    expect(dialog).to_have_count(0)


def test_forward_one_several_and_merged_and_open_nested_history(
        new_page, make_user, transactional_db):
    alice, bob = two_people(new_page, make_user)
    make_user("carol", nick="Carol")
    carol = new_page()
    sign_in(carol, "carol")
    open_chat(carol, "alice")
    # Long enough that the three merged go over 12 KB: the list is stored apart.
    texts = [f"part {n}: " + "x" * 5000 for n in (1, 2, 3)]
    box = alice.get_by_test_id("message-input")
    for text in texts:
        box.fill(text)
        box.press("Enter")
        expect(last(alice)).to_have_attribute("data-status", "success")

    # One message, to a UserID typed in the picker.
    messages(alice).nth(0).get_by_test_id("forward-message").click()
    forward_to(alice, "carol")
    expect(messages(carol)).to_have_count(1)
    expect(messages(carol).nth(0).locator(".msg-bubble")).to_have_text(texts[0])
    expect(alice.get_by_test_id("compose-toast")).to_have_text("Forwarded a message to carol.")

    # Several, one by one.
    messages(alice).nth(1).get_by_test_id("select-message").click()
    expect(alice.get_by_test_id("select-bar")).to_be_visible()
    messages(alice).nth(2).locator(".msg-bubble").click()  # a click selects too
    expect(alice.get_by_test_id("select-count")).to_have_text("2 selected")
    alice.get_by_test_id("select-forward-each").click()
    forward_to(alice, "carol")
    expect(alice.get_by_test_id("select-bar")).to_be_hidden()
    expect(messages(carol)).to_have_count(3)
    expect(messages(carol).nth(1).locator(".msg-bubble")).to_have_text(texts[1])
    expect(messages(carol).nth(2).locator(".msg-bubble")).to_have_text(texts[2])

    # All three as one chat history: a card, its list downloaded when opened.
    messages(alice).nth(0).get_by_test_id("select-message").click()
    messages(alice).nth(1).get_by_test_id("msg-select").check()
    messages(alice).nth(2).get_by_test_id("msg-select").check()
    alice.get_by_test_id("select-forward-merged").click()
    forward_to(alice, "carol")
    card = last(carol).get_by_test_id("msg-merged")
    expect(card.get_by_test_id("msg-merged-title")).to_have_text("Chat history of Alice and Bob")
    expect(card.get_by_test_id("msg-merged-line")).to_have_count(3)
    expect(card.get_by_test_id("msg-merged-line").nth(0)).to_contain_text("Alice: part 1:")
    stored = Message.objects.order_by("-id").first().elements[0]
    assert stored["type"] == "TIMRelayElem"
    assert stored["payload"]["downloadKey"] and "messageList" not in stored["payload"]
    card.click()
    dialog = carol.get_by_test_id("merged-dialog")
    expect(dialog.get_by_test_id("merged-item")).to_have_count(3)
    for n, text in enumerate(texts):
        expect(dialog.get_by_test_id("merged-item").nth(n)).to_contain_text(text)
    dialog.get_by_test_id("dialog-close").click()

    # Carol forwards the history, inside a new one, to bob: it opens there, nested too.
    last(carol).get_by_test_id("select-message").click()
    messages(carol).nth(0).get_by_test_id("msg-select").check()
    carol.get_by_test_id("select-forward-merged").click()
    forward_to(carol, "bob")
    open_chat(bob, "carol")
    outer = last(bob).get_by_test_id("msg-merged")
    expect(outer.get_by_test_id("msg-merged-title")).to_have_text("Chat history of Carol and Alice")
    outer.click()
    first = bob.get_by_test_id("merged-dialog")
    expect(first.get_by_test_id("merged-item")).to_have_count(2)
    first.get_by_test_id("merged-item").nth(1).get_by_test_id("msg-merged").click()
    inner = bob.get_by_test_id("merged-dialog").nth(1)
    expect(inner.get_by_test_id("merged-item")).to_have_count(3)
    expect(inner.get_by_test_id("merged-item").nth(2)).to_contain_text(texts[2])


def test_upload_progress_cancel_drop_paste_and_position(new_page, make_user, browser,
                                                        live_server_url, transactional_db):
    alice, bob = two_people(new_page, make_user)

    # A slow upload shows its progress and can be cancelled: nothing is sent.
    def slow(route):
        alice.wait_for_timeout(1500)
        try:
            route.continue_()
        except Exception:  # noqa: BLE001 - the page aborted it meanwhile (the point)
            pass
    alice.route("**/api/v1/files/", slow)
    attach(alice, "big.txt", "text/plain", b"y" * 200_000)
    pending = last(alice)
    expect(pending.get_by_test_id("upload-progress")).to_be_visible()
    pending.get_by_test_id("cancel-upload").click()
    expect(messages(alice)).to_have_count(0)
    alice.unroute("**/api/v1/files/")

    # An upload the network dropped can be retried: the same message, uploaded again.
    alice.route("**/api/v1/files/", lambda route: route.abort("internetdisconnected"))
    attach(alice, "retry.txt", "text/plain", b"second time lucky")
    failed = last(alice)
    expect(failed).to_have_attribute("data-status", "fail")
    expect(failed.get_by_test_id("send-failed")).to_have_text(
        "Not sent: The upload failed; check your connection and retry.")
    alice.unroute("**/api/v1/files/")
    failed.get_by_test_id("retry-send").click()
    expect(last(alice)).to_have_attribute("data-status", "success")
    expect(messages(alice)).to_have_count(1)
    expect(last(bob).get_by_test_id("msg-file-name")).to_have_text("retry.txt")
    assert Message.objects.get().elements[0]["payload"]["fileName"] == "retry.txt"

    # Dropped onto the chat: sent as its kind (an image).
    png = base64.b64encode(png_bytes(64, 64)).decode()
    alice.evaluate("""(b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'dropped.png', {type: 'image/png'}));
      const pane = document.getElementById('chat-pane');
      for (const type of ['dragenter', 'dragover', 'drop']) {
        pane.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
      }
    }""", png)
    expect(messages(bob)).to_have_count(2)
    expect(last(bob).get_by_test_id("msg-image")).to_be_visible()

    # Pasted into the text box: an image is sent as one.
    alice.evaluate("""(b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'pasted.png', {type: 'image/png'}));
      document.getElementById('message-input').dispatchEvent(
        new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
    }""", png)
    expect(messages(bob)).to_have_count(3)
    expect(messages(bob).nth(2).get_by_test_id("msg-image")).to_be_visible()
    images = Message.objects.filter(elements__0__type="TIMImageElem")
    assert images.count() == 2
    assert Message.objects.filter(elements__0__type="TIMFileElem").count() == 1  # retry.txt

    # The browser's position, when granted.
    context = browser.new_context(base_url=live_server_url, geolocation={
        "latitude": 59.3293, "longitude": 18.0686}, permissions=["geolocation"])
    try:
        page = context.new_page()
        sign_in(page, "alice")
        open_chat(page, "bob")
        page.get_by_test_id("location-button").click()
        dialog = page.get_by_test_id("location-dialog")
        dialog.get_by_test_id("location-here").click()
        expect(dialog.get_by_test_id("location-coords")).to_have_value("59.329300, 18.068600")
        dialog.get_by_test_id("location-send").click()
        link = last(bob).get_by_test_id("msg-location-link")
        expect(link).to_have_attribute("href", "https://www.openstreetmap.org/"
                                       "?mlat=59.32930&mlon=18.06860#map=16/59.32930/18.06860")
        expect(last(bob).get_by_test_id("msg-location-desc")).to_have_text("My position")
    finally:
        context.close()


# --- a phone ---------------------------------------------------------------------------

def test_on_a_phone_tools_fit_and_a_tap_shows_touch_sized_actions(
        browser, new_page, make_user, live_server_url, transactional_db):
    make_user("alice", nick="Alice")
    make_user("bob", nick="Bob")
    desk = new_page()
    sign_in(desk, "bob")
    open_chat(desk, "alice")
    context = browser.new_context(base_url=live_server_url, viewport={"width": 390, "height": 844},
                                  is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        phone = context.new_page()
        sign_in(phone, "alice")
        open_chat(phone, "bob")
        tools = ["attach-button", "emoji-button", "face-button", "location-button"]
        for testid in tools:
            box = phone.get_by_test_id(testid).bounding_box()
            assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 390, testid
        phone.get_by_test_id("emoji-button").tap()
        panel = phone.get_by_test_id("emoji-panel").bounding_box()
        assert panel["x"] >= 0 and panel["x"] + panel["width"] <= 390
        phone.get_by_test_id("emoji").nth(1).tap()
        phone.keyboard.press("Escape")
        expect(phone.get_by_test_id("emoji-panel")).to_be_hidden()
        phone.get_by_test_id("message-input").fill("from my phone 😂")
        phone.get_by_test_id("message-input").press("Enter")
        expect(last(phone)).to_have_attribute("data-status", "success")

        # Actions are out of the way until the message is tapped; then 44 px targets.
        sent = last(phone)
        expect(sent.get_by_test_id("edit-message")).to_be_hidden()
        # Bob has the chat open, so his read receipt comes and redraws the message (its
        # tapped state with it): wait for it before tapping, not race it.
        expect(sent.locator(".msg-meta")).to_contain_text("Read")
        sent.locator(".msg-bubble").tap()
        for testid in ["copy-message", "edit-message", "forward-message", "select-message",
                       "delete-message", "recall-message"]:
            action = sent.get_by_test_id(testid)
            expect(action).to_be_visible()
            box = action.bounding_box()
            assert box["height"] >= 44 and box["width"] >= 44, testid
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, testid
        sent.get_by_test_id("edit-message").tap()
        sent.get_by_test_id("edit-input").fill("edited on the phone")
        sent.get_by_test_id("edit-save").tap()
        expect(last(desk).locator(".msg-bubble")).to_have_text("edited on the phone")

        # A chat history opened on the phone fits its width.
        send_as("bob", "alice", [{"type": "TIMRelayElem", "payload": {
            "title": "Plans", "abstractList": ["Bob: lunch?"], "compatibleText": "[Chat history]",
            "messageList": [{"from": "bob", "time": 1700000000, "elements": [
                {"type": "TIMTextElem", "payload": {"text": "lunch at noon? " * 20}}]}]}}])
        last(phone).get_by_test_id("msg-merged").tap()
        dialog = phone.get_by_test_id("merged-dialog")
        expect(dialog.get_by_test_id("merged-item")).to_have_count(1)
        box = dialog.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()


def test_only_http_urls_and_paths_on_the_site_reach_src_or_href(new_page, make_user,
                                                                 transactional_db):
    make_user("alice")
    page = new_page()
    sign_in(page, "alice")
    origin = page.evaluate("location.origin")
    cases = {
        "https://media.example/a.png": "https://media.example/a.png",
        "HTTP://media.example/a.png": "http://media.example/a.png",
        "/media/uploads/a.png": f"{origin}/media/uploads/a.png",
        "javascript:alert(1)": "",
        " javascript:alert(1)": "",
        "JaVaScRiPt:alert(1)": "",
        "data:text/html,<script>alert(1)</script>": "",
        "vbscript:x": "",
        "//evil.example/a.png": "",
        "blob:https://evil.example/1": "",
        "file:///etc/passwd": "",
        "": "",
    }
    got = page.evaluate("(urls) => urls.map((u) => ParleyRender.safeUrl(u))", list(cases))
    assert dict(zip(cases, got, strict=True)) == cases
    # An object URL of this page passes only for a file being sent (local).
    local = page.evaluate("""() => {
      const url = URL.createObjectURL(new Blob(['x']));
      return [ParleyRender.safeUrl(url), ParleyRender.safeUrl(url, true) === url];
    }""")
    assert local == ["", True]
    assert page.evaluate("[0, 1023, 1024, 2800, 5 * 1048576, 3 * 2 ** 30].map("
                         "ParleyRender.humanSize)") == [
        "0 B", "1023 B", "1.0 KB", "2.7 KB", "5.0 MB", "3.0 GB"]


def test_files_that_can_never_be_sent_say_why(new_page, make_user, transactional_db):
    alice, bob = two_people(new_page, make_user)
    # Refused before any upload (the SDK's 2108): words, no bubble.
    attach(alice, "empty.txt", "text/plain", b"")
    expect(alice.get_by_test_id("send-error")).to_have_text("Could not send: The file is empty.")
    assert alice.get_by_test_id("send-error").get_attribute("title").startswith("2108")
    expect(messages(alice)).to_have_count(0)
    # Uploaded, then refused by the send (bob blocked her): a failed bubble, no Retry.
    in_worker(block_add, owner=User.objects.get(user_id="bob"), user_ids=["alice"])
    attach(alice, "notes.txt", "text/plain", b"some notes")
    failed = last(alice)
    expect(failed).to_have_attribute("data-status", "fail")
    expect(failed.get_by_test_id("send-failed")).to_have_text(
        "Not sent: Bob has blocked you, so your messages are not delivered.")
    assert "20007" in failed.get_by_test_id("send-failed").get_attribute("title")
    expect(failed.get_by_test_id("retry-send")).to_have_count(0)
    expect(failed.get_by_test_id("msg-file-name")).to_have_text("notes.txt")
    failed.get_by_test_id("dismiss-failed").click()
    expect(messages(alice)).to_have_count(0)
    expect(messages(bob)).to_have_count(0)
    assert not Message.objects.exists()
