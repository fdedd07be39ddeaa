"""What an upload may cost: image pixels checked before decoding (910012), a user's
uploads per minute (910005) and bytes per day (910011), across server processes."""

from __future__ import annotations

import io
import struct
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.conf import settings as django_settings
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from messaging.models import Upload
from tests.conftest import start_server, stop_server
from tests.messaging.test_upload import assert_error, image_bytes, stored, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def client(alice, usersig):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"UserSig alice:{usersig('alice')}")
    return client


@pytest.fixture(scope="session")
def bomb_png() -> bytes:
    """The issue's image: 9400 x 9400 of one colour (88 MP) in a few hundred KB."""
    buffer = io.BytesIO()
    Image.new("RGB", (9400, 9400), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- pixels ---------------------------------------------------------------------------

def test_a_decompression_bomb_png_is_refused_before_decoding(client, alice, media, bomb_png):
    assert len(bomb_png) < 400_000
    response = upload(client, "image", bomb_png, name="bomb.png", content_type="image/png")
    assert_error(response, 400, 910012)
    assert "40,000,000" in response.json()["message"]
    assert not (media / "uploads").exists()
    # The attempt counts toward the rate, not toward the bytes of the day.
    attempt = Upload.objects.get(uploader=alice)
    assert attempt.is_gone and attempt.size == 0 and attempt.names == []


def test_the_pixel_limit_is_the_setting_and_pillows_own(client, settings):
    assert Image.MAX_IMAGE_PIXELS == django_settings.CHAT_MAX_IMAGE_PIXELS == 40_000_000
    settings.CHAT_MAX_IMAGE_PIXELS = 300 * 200
    assert upload(client, "image", image_bytes((300, 200)), name="a.png").status_code == 201
    assert_error(upload(client, "image", image_bytes((301, 200)), name="b.png"), 400, 910012)
    # A JPEG too: refused from its header, whatever its reduced decoding could do.
    jpeg = image_bytes((200, 301), fmt="JPEG", mode="RGB")
    assert_error(upload(client, "image", jpeg, name="c.jpg"), 400, 910012)


def test_a_gif_with_a_huge_canvas_around_a_tiny_frame_is_refused(client, media):
    # 65535 x 65535 logical screen (4.3 GP), one 1 x 1 frame: 35 bytes.
    gif = (b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0x80, 0, 0)
           + b"\x00\x00\x00\xff\xff\xff"
           + b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00;")
    assert_error(upload(client, "image", gif, name="canvas.gif"), 400, 910012)
    assert not (media / "uploads").exists()


def test_an_animation_is_shown_by_its_first_frame(client):
    frames = [Image.new("RGB", (800, 400), colour) for colour in
              ((250, 0, 0), (0, 250, 0), (0, 0, 250))]
    for fmt in ("GIF", "WEBP"):
        buffer = io.BytesIO()
        frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:],
                       duration=50)
        response = upload(client, "image", buffer.getvalue(), name=f"a.{fmt.lower()}")
        assert response.status_code == 201, response.json()
        infos = response.json()["payload"]["imageInfoArray"]
        assert [(i["width"], i["height"]) for i in infos] == [(800, 400), (720, 360), (198, 99)]
        thumb = Image.open(io.BytesIO(stored(infos[2]["url"]))).convert("RGB")
        red, green, blue = thumb.getpixel((99, 50))
        assert red > 200 and green < 50 and blue < 50, (fmt, thumb.getpixel((99, 50)))


def test_a_big_photo_is_copied_from_a_reduced_decode(client):
    """A 12 MP JPEG: its copies have the sizes and the colour of the photo."""
    photo = Image.new("RGB", (4000, 3000), (30, 120, 200))
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=90)
    infos = upload(client, "image", buffer.getvalue(), name="p.jpg") \
        .json()["payload"]["imageInfoArray"]
    assert [(i["width"], i["height"]) for i in infos] == [(4000, 3000), (720, 540), (198, 149)]
    for info in infos[1:]:
        copy = Image.open(io.BytesIO(stored(info["url"])))
        assert copy.format == "JPEG" and copy.size == (info["width"], info["height"])
        assert all(abs(a - b) < 6 for a, b in zip(copy.getpixel((10, 10)), (30, 120, 200),
                                                   strict=True))


# --- rate and quota -------------------------------------------------------------------

def test_uploads_per_minute(client, alice, make_user, usersig, settings):
    settings.CHAT_UPLOAD_RATE = 3
    assert_error(upload(client, "image", b"not an image", name="x.png"), 400, 910007)
    for n in range(2):  # the refused image counted as the first of three
        assert upload(client, "file", b"data", name=f"{n}.txt").status_code == 201
    assert_error(upload(client, "file", b"data", name="late.txt"), 429, 910005)

    bob = APIClient()
    make_user("bob")
    bob.credentials(HTTP_AUTHORIZATION=f"UserSig bob:{usersig('bob')}")
    assert upload(bob, "file", b"data", name="bob.txt").status_code == 201

    # A minute later alice may again.
    Upload.objects.filter(uploader=alice).update(
        created_at=timezone.now() - timedelta(seconds=61))
    assert upload(client, "file", b"data", name="later.txt").status_code == 201


def test_bytes_per_day_count_every_stored_copy(client, alice, settings):
    content = image_bytes((1440, 720))
    first = upload(client, "image", content, name="a.png").json()["payload"]
    stored_bytes = sum(i["size"] for i in first["imageInfoArray"])
    assert stored_bytes > len(content)  # the original plus its two copies
    assert Upload.objects.get(uuid=first["uuid"]).size == stored_bytes

    settings.CHAT_UPLOAD_DAILY_BYTES = stored_bytes + 100
    assert upload(client, "file", b"x" * 100, name="fits.txt").status_code == 201
    response = upload(client, "file", b"x", name="one-too-many.txt")
    assert_error(response, 429, 910011)

    # A day later the bytes of yesterday no longer count.
    Upload.objects.filter(uploader=alice).update(
        created_at=timezone.now() - timedelta(days=1, seconds=1))
    assert upload(client, "file", b"x" * 100, name="tomorrow.txt").status_code == 201


@pytest.mark.e2e
def test_the_rate_holds_across_two_server_processes(transactional_db, make_user, usersig):
    """Twelve uploads at once, spread over two servers: exactly the rate passes."""
    make_user("alice")
    servers = [start_server(CHAT_UPLOAD_RATE="5") for _ in range(2)]
    try:
        headers = {"Authorization": f"UserSig alice:{usersig('alice')}"}

        def one(n: int) -> int:
            url = servers[n % 2][1] + "/api/v1/files/"
            response = requests.post(url, headers=headers, timeout=30,
                                     data={"kind": "file"},
                                     files={"file": (f"{n}.txt", b"data %d" % n)})
            assert response.status_code in (201, 429), response.text
            if response.status_code == 429:
                assert response.json()["code"] == 910005
            return response.status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            codes = list(pool.map(one, range(12)))
    finally:
        for proc, _ in servers:
            stop_server(proc)
    assert sorted(codes) == [201] * 5 + [429] * 7
    assert Upload.objects.count() == 5
