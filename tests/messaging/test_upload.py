"""File uploads (POST /api/v1/files/): stored files, thumbnails, limits, element payloads."""

import io
import time
from urllib.parse import unquote, urlparse

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from messaging.commands import Origin
from messaging.elements import check_elements
from messaging.services import message_send
from messaging.uploads import safe_filename

pytestmark = pytest.mark.django_db

FILES = "/api/v1/files/"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """A throwaway MEDIA_ROOT that the app's own /media/ route serves from."""
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


def image_bytes(size=(1440, 720), fmt="PNG", mode="RGBA", **save) -> bytes:
    image = Image.new(mode, size, (200, 30, 30, 255)[:len(mode)] if mode != "L" else 128)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def upload(client, kind, content, name="upload.bin", content_type="application/octet-stream",
           **fields):
    data = {"kind": kind, **fields}
    if content is not None:
        data["file"] = SimpleUploadedFile(name, content, content_type=content_type)
    return client.post(FILES, data, format="multipart")


def storage_name(url: str) -> str:
    """The storage name behind one of our absolute media URLs."""
    parsed = urlparse(url)
    assert parsed.scheme == "http" and parsed.netloc == "testserver"
    assert parsed.path.startswith("/media/")
    return unquote(parsed.path.removeprefix("/media/"))


def served(client, url: str) -> bytes:
    response = client.get(urlparse(url).path)
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def stored(url: str) -> bytes:
    with default_storage.open(storage_name(url)) as f:
        return f.read()


def assert_error(response, status, code):
    body = response.json()
    assert response.status_code == status, body
    assert body["code"] == code, body


# --- images ---------------------------------------------------------------------------

def test_image_gets_a_large_copy_and_a_thumbnail(client, alice, media):
    content = image_bytes((1440, 720))
    response = upload(client, "image", content, name="holiday photo.png",
                      content_type="image/png")
    assert response.status_code == 201
    element = response.json()
    assert element["type"] == "TIMImageElem"
    payload = element["payload"]
    assert payload["format"] == "PNG" and payload["uuid"]
    infos = payload["imageInfoArray"]
    assert [(i["type"], i["width"], i["height"]) for i in infos] == [
        (1, 1440, 720), (2, 720, 360), (3, 198, 99)]
    assert stored(infos[0]["url"]) == content
    for info in infos:
        name = storage_name(info["url"])
        assert name.startswith(f"uploads/{payload['uuid'][:2]}/{payload['uuid']}/")
        assert default_storage.exists(name)
        data = stored(info["url"])
        assert info["size"] == len(data)
        assert served(client, info["url"]) == data
        assert Image.open(io.BytesIO(data)).size == (info["width"], info["height"])
    assert storage_name(infos[0]["url"]).endswith("/holiday_photo.png")
    assert len({i["url"] for i in infos}) == 3
    assert all(path.is_file() for path in [media / storage_name(i["url"]) for i in infos])


def test_a_photo_is_measured_upright(client):
    """A camera JPEG stored sideways with an EXIF orientation: sizes as it is shown."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    content = image_bytes((1000, 500), fmt="JPEG", mode="RGB", exif=exif.tobytes())
    payload = upload(client, "image", content, name="IMG_1.JPG").json()["payload"]
    assert payload["format"] == "JPG"
    infos = payload["imageInfoArray"]
    assert [(i["width"], i["height"]) for i in infos] == [(500, 1000), (360, 720), (99, 198)]
    assert Image.open(io.BytesIO(stored(infos[2]["url"]))).format == "JPEG"


def test_a_small_image_serves_as_its_own_thumbnail(client):
    content = image_bytes((120, 80), fmt="GIF", mode="L")
    infos = upload(client, "image", content, name="a.gif").json()["payload"]["imageInfoArray"]
    assert [i["type"] for i in infos] == [1, 2, 3]
    assert {(i["url"], i["width"], i["height"], i["size"]) for i in infos} == {
        (infos[0]["url"], 120, 80, len(content))}


def test_a_mid_sized_image_gets_only_a_thumbnail(client):
    infos = upload(client, "image", image_bytes((400, 200), fmt="BMP", mode="RGB"),
                   name="b.bmp").json()["payload"]["imageInfoArray"]
    assert [(i["width"], i["height"]) for i in infos] == [(400, 200), (400, 200), (198, 99)]
    assert infos[1]["url"] == infos[0]["url"] != infos[2]["url"]
    assert storage_name(infos[2]["url"]).endswith(".png")


def banded(size, horizontal: bool) -> bytes:
    """A JPEG, red at both ends of its long side and blue in the middle fifth."""
    image = Image.new("RGB", size, (220, 20, 20))
    width, height = size
    box = (width * 2 // 5, 0, width * 3 // 5, height) if horizontal \
        else (0, height * 2 // 5, width, height * 3 // 5)
    image.paste((20, 20, 220), box)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


@pytest.mark.parametrize("size,large,thumb", [
    ((20, 2000), (7, 720), (20, 80)),       # was a 2 x 198 sliver
    ((400, 4000), (72, 720), (49, 198)),    # was 20 x 198
    ((4000, 300), (720, 54), (198, 50)),    # a panorama: the middle, 4 to 1
    ((300, 1100), (196, 720), (54, 198)),   # under 4 to 1: the whole image, as before
])
def test_a_long_image_gets_its_middle_as_a_thumbnail_of_some_width(client, size, large, thumb):
    """Scaled whole to 198 px, a very tall or wide image gave a thumbnail a few pixels
    across; its thumbnail is now the middle of it, at most 4 times as long as wide."""
    horizontal = size[0] > size[1]
    infos = upload(client, "image", banded(size, horizontal), name="long.jpg") \
        .json()["payload"]["imageInfoArray"]
    assert [(i["type"], i["width"], i["height"]) for i in infos] == [
        (1, *size), (2, *large), (3, *thumb)]
    data = stored(infos[2]["url"])
    picture = Image.open(io.BytesIO(data)).convert("RGB")
    assert picture.size == thumb and infos[2]["size"] == len(data)
    # The middle: its centre is the blue band's, not the red of an end.
    red, _, blue = picture.getpixel((thumb[0] // 2, thumb[1] // 2))
    assert blue > 150 and red < 100


def test_the_image_type_comes_from_its_bytes_not_from_the_client(client):
    response = upload(client, "image", image_bytes((50, 50)), name="page.html",
                      content_type="text/html")
    url = response.json()["payload"]["imageInfoArray"][0]["url"]
    assert storage_name(url).endswith("/page.png")
    assert client.get(urlparse(url).path)["Content-Type"] == "image/png"


@pytest.mark.parametrize("content", [
    b"hello, not an image",
    image_bytes((64, 64))[:60],  # a truncated PNG
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
])
def test_a_file_that_is_not_an_accepted_image_is_refused(client, media, content):
    assert_error(upload(client, "image", content, name="x.png", content_type="image/png"),
                 400, 910007)
    assert not (media / "uploads").exists()


def test_a_video_cover_must_be_an_image(client, media):
    response = upload(client, "video", b"\x00" * 100, name="v.mp4",
                      thumb=SimpleUploadedFile("t.jpg", b"not a jpeg"))
    assert_error(response, 400, 910007)
    assert not (media / "uploads").exists()  # nothing stored before the check


# --- limits and bad requests ----------------------------------------------------------

@pytest.mark.parametrize(("kind", "setting"), [
    ("image", "CHAT_MAX_IMAGE_BYTES"), ("sound", "CHAT_MAX_SOUND_BYTES"),
    ("file", "CHAT_MAX_FILE_BYTES"), ("video", "CHAT_MAX_VIDEO_BYTES"),
])
def test_over_the_limit_is_413(client, settings, media, kind, setting):
    content = image_bytes((64, 64))
    setattr(settings, setting, len(content) - 1)
    assert_error(upload(client, kind, content, name="a.png"), 413, 910006)
    setattr(settings, setting, len(content))
    assert upload(client, kind, content, name="a.png").status_code == 201


def test_a_video_cover_has_the_image_limit(client, settings):
    cover = image_bytes((64, 64))
    settings.CHAT_MAX_IMAGE_BYTES = len(cover) - 1
    response = upload(client, "video", b"\x00" * 100, name="v.mp4",
                      thumb=SimpleUploadedFile("t.png", cover))
    assert_error(response, 413, 910006)


@pytest.mark.parametrize(("kind", "content", "fields"), [
    ("image", None, {}),  # no file
    ("picture", b"data", {}),
    ("", b"data", {}),
    ("file", b"", {}),  # empty
    ("sound", b"data", {"second": "long"}),
    ("sound", b"data", {"second": "-1"}),
    ("file", b"data", {"thumb": SimpleUploadedFile("t.png", image_bytes((8, 8)))}),
])
def test_bad_upload_requests_are_910003(client, media, kind, content, fields):
    assert_error(upload(client, kind, content, **fields), 400, 910003)
    assert not (media / "uploads").exists()


def test_a_file_field_sent_as_text_is_910003(client):
    response = client.post(FILES, {"kind": "file", "file": "just text"}, format="multipart")
    assert_error(response, 400, 910003)


def test_no_kind_is_910003(client):
    response = client.post(FILES, {"file": SimpleUploadedFile("a.txt", b"x")},
                           format="multipart")
    assert_error(response, 400, 910003)


# --- other kinds ----------------------------------------------------------------------

def test_sound(client, alice):
    content = b"ID3" + b"\x01" * 500
    response = upload(client, "sound", content, name="voice.mp3", second="12")
    assert response.status_code == 201
    element = response.json()
    assert element["type"] == "TIMSoundElem"
    payload = element["payload"]
    assert payload["size"] == len(content) and payload["second"] == 12
    assert storage_name(payload["url"]) == f"uploads/{payload['uuid'][:2]}/{payload['uuid']}/voice.mp3"
    assert served(client, payload["url"]) == content


def test_a_files_url_does_not_tell_who_uploaded_it(client, alice, make_user):
    """Nothing in it is an internal number: the uploader's pk told who sent the file
    (across messages) and about how many accounts there are."""
    for i in range(3):  # alice's pk is not the only one
        make_user(f"user{i}")
    for kind, content, name in (("sound", b"ID3" + b"\x01" * 50, "voice.mp3"),
                                ("file", b"%PDF-1.4", "a.pdf"),
                                ("image", image_bytes((400, 300)), "p.png")):
        payload = upload(client, kind, content, name=name).json()["payload"]
        url = payload.get("url") or payload["imageInfoArray"][0]["url"]
        folders = storage_name(url).split("/")[:-1]
        assert folders == ["uploads", payload["uuid"][:2], payload["uuid"]], url
        assert str(alice.pk) not in folders


def test_file_names_are_sanitised_and_pages_are_not_served_as_pages(client, alice):
    content = b"<html><script>alert(document.cookie)</script></html>"
    payload = upload(client, "file", content, name="../../etc/my page\u202e.html",
                     content_type="text/plain").json()["payload"]
    assert payload["fileName"] == "my_page.html" and payload["fileSize"] == len(content)
    name = storage_name(payload["url"])
    assert name == f"uploads/{payload['uuid'][:2]}/{payload['uuid']}/my_page.html.txt"
    response = client.get(urlparse(payload["url"]).path)
    assert response["Content-Type"].startswith("text/plain")
    assert response["Content-Disposition"] == "attachment"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == content


@pytest.mark.parametrize(("name", "expected"), [
    ("report 2024.pdf", "report_2024.pdf"),
    ("...", "file"),
    (".bashrc", "bashrc"),
    ("C:\\Users\\me\\notes.txt", "notes.txt"),
    ("x" * 300 + ".zip", "x" * 96 + ".zip"),
    ("照片.jpeg", "照片.jpeg"),
])
def test_file_name_rules(client, name, expected):
    payload = upload(client, "file", b"data", name=name).json()["payload"]
    assert payload["fileName"] == expected
    assert storage_name(payload["url"]).endswith(f"/{payload['uuid']}/{expected}")


@pytest.mark.parametrize("name", ["\u6f22" * 99 + ".txt", "\u6f22" * 99 + ".html",
                                  "\U00020000" * 120, "\u00e9" * 150 + ".mp4"])
@pytest.mark.parametrize("kind", ["file", "sound", "video"])
def test_a_long_name_in_wide_characters_is_stored_and_served(client, kind, name):
    """100 characters of 3 or 4 UTF-8 bytes each were past the 255 bytes a file system
    allows in a name: the upload answered 500 (OSError: File name too long)."""
    response = upload(client, kind, b"data", name=name)
    assert response.status_code == 201, response.content[:300]
    payload = response.json()["payload"]
    url = payload.get("url") or payload["videoUrl"]
    stored_name = storage_name(url).rsplit("/", 1)[1]
    assert len(stored_name.encode()) <= 255
    assert served(client, url) == b"data"
    if kind == "file":
        assert len(payload["fileName"].encode()) <= 200
        assert payload["fileName"][0] == name[0]


def test_a_file_without_a_name_is_called_file():
    # Multipart cannot carry a file part without a name; other doors might.
    assert safe_filename("") == safe_filename(None) == "file"


def test_video_with_and_without_cover(client):
    video = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200
    response = upload(client, "video", video, name="clip.MOV", second="31",
                      thumb=SimpleUploadedFile("cover.jpg", image_bytes(
                          (320, 180), fmt="JPEG", mode="RGB")))
    assert response.status_code == 201
    element = response.json()
    assert element["type"] == "TIMVideoFileElem"
    payload = element["payload"]
    assert payload["videoSize"] == len(video) and payload["videoSecond"] == 31
    assert payload["videoFormat"] == "mov"
    assert (payload["thumbWidth"], payload["thumbHeight"]) == (320, 180)
    assert payload["thumbUUID"] and payload["thumbUUID"] != payload["videoUUID"]
    assert Image.open(io.BytesIO(served(client, payload["thumbUrl"]))).size == (320, 180)
    assert served(client, payload["videoUrl"]) == video

    bare = upload(client, "video", video, name="clip").json()["payload"]
    assert bare["videoFormat"] == "mp4" and bare["videoSecond"] == 0
    assert (bare["thumbUUID"], bare["thumbUrl"], bare["thumbWidth"]) == ("", "", 0)


# --- the payload is ready to send -----------------------------------------------------

KIND_UPLOADS = {
    "image": ({"name": "p.png"}, image_bytes((800, 900))),
    "sound": ({"name": "s.m4a", "second": "3"}, b"\x01" * 300),
    "file": ({"name": "doc.pdf"}, b"%PDF-1.4" + b"\x01" * 300),
    "video": ({"name": "v.mp4", "second": "9",
               "thumb": lambda: SimpleUploadedFile("c.png", image_bytes((64, 48)))},
              b"\x01" * 300),
}


@pytest.mark.parametrize("kind", sorted(KIND_UPLOADS))
def test_every_kind_can_be_sent_as_returned(client, alice, make_user, kind):
    make_user("bob")
    fields, content = KIND_UPLOADS[kind]
    fields = {k: v() if callable(v) else v for k, v in fields.items()}
    element = upload(client, kind, content, **fields).json()
    assert check_elements([element]) == [element]
    sent = message_send(origin=Origin.USER, sender=alice, to="bob", elements=[element], random=1)
    assert sent["elements"] == [element]
    via_api = client.post("/api/v1/messages/", {"to": "bob", "elements": [element],
                                                "random": 2}, format="json")
    assert via_api.status_code == 201 and via_api.json()["elements"] == [element]


def camera_exif(orientation=6) -> Image.Exif:
    """What a phone writes: its make, the time, where the photo was taken."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    exif[0x0132] = "2026:12:06 04:20:00"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 30.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    return exif


XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
       b'exif:GPSLatitude="48,51.5N" exif:GPSLongitude="2,17.66E"/></rdf:RDF></x:xmpmeta>')


def assert_no_location(data: bytes, orientation):
    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    assert not exif.get_ifd(0x8825), "GPS left in the file"
    assert 0x010F not in exif and 0x0132 not in exif
    assert exif.get(0x0112, 1) == (orientation or 1)  # still shown upright
    assert b"GPS" not in data and b"PhoneMaker" not in data and b"xmpmeta" not in data


@pytest.mark.parametrize(("fmt", "mode", "save"), [
    ("JPEG", "RGB", {"xmp": XMP, "comment": b"PhoneMaker"}),
    ("JPEG", "L", {}),
    ("PNG", "RGBA", {}),
    ("WEBP", "RGB", {"xmp": XMP}),
    ("WEBP", "RGBA", {"lossless": True}),
])
@pytest.mark.parametrize("orientation", [6, 1])
def test_the_sent_photo_does_not_tell_where_it_was_taken(client, fmt, mode, save, orientation):
    """A phone's photo carries GPS coordinates in its EXIF (and XMP): the copies lost them,
    but the original was stored and served as uploaded, so whoever got the message
    learned where the sender was. The original keeps its pixels and its orientation."""
    content = image_bytes((1000, 500), fmt=fmt, mode=mode, exif=camera_exif(orientation),
                          **save)
    assert b"GPS" in content or Image.open(io.BytesIO(content)).getexif().get_ifd(0x8825)
    infos = upload(client, "image", content, name="IMG_2.bin").json()["payload"]["imageInfoArray"]
    original = served(client, infos[0]["url"])
    assert infos[0]["size"] == len(original) < len(content)
    assert_no_location(original, orientation)
    before, after = Image.open(io.BytesIO(content)), Image.open(io.BytesIO(original))
    assert after.format == before.format
    assert after.tobytes() == before.tobytes()  # the same pixels: nothing re-encoded
    assert (infos[0]["width"], infos[0]["height"]) == ((500, 1000) if orientation == 6
                                                       else (1000, 500))
    for info in infos[1:]:
        assert_no_location(served(client, info["url"]), None)


def test_a_video_cover_does_not_tell_where_it_was_taken(client):
    cover = image_bytes((320, 180), fmt="JPEG", mode="RGB", exif=camera_exif())
    payload = upload(client, "video", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200,
                     name="clip.mp4", thumb=SimpleUploadedFile("cover.jpg", cover)).json()["payload"]
    data = served(client, payload["thumbUrl"])
    assert_no_location(data, 6)
    assert (payload["thumbWidth"], payload["thumbHeight"]) == (180, 320)
    assert Image.open(io.BytesIO(data)).tobytes() == Image.open(io.BytesIO(cover)).tobytes()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_bytes_after_the_image_do_not_keep_its_location(client, fmt):
    """Whatever follows the image's end (a second file, junk) is left out, and does not
    stop the metadata from being cut."""
    content = image_bytes((400, 300), fmt=fmt, mode="RGB", exif=camera_exif())
    content += b"PK\x03\x04 appended GPS 48.85N"
    infos = upload(client, "image", content, name="x").json()["payload"]["imageInfoArray"]
    original = served(client, infos[0]["url"])
    assert_no_location(original, 6)
    assert b"appended" not in original


def test_a_16_bit_grey_picture_keeps_its_shades_in_its_copies(client):
    """A 16-bit greyscale PNG (a scan, an X-ray) was converted to RGB by clipping each
    value to 255: mid-grey (30000 of 65535) came out white in the large copy and the
    thumbnail."""
    image = Image.new("I;16", (800, 600), 30000)
    image.paste(Image.new("I;16", (400, 600), 60000), (400, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    infos = upload(client, "image", buffer.getvalue(), name="scan.png").json()["payload"][
        "imageInfoArray"]
    assert [i["type"] for i in infos] == [1, 2, 3]
    for info in infos[1:]:
        copy = Image.open(io.BytesIO(served(client, info["url"]))).convert("L")
        left, right = copy.getpixel((2, 2)), copy.getpixel((copy.width - 3, 2))
        assert abs(left - 30000 // 256) <= 2 and abs(right - 60000 // 256) <= 2, (left, right)


def progressive_jpeg_with_scans(extra: int) -> bytes:
    """A progressive JPEG whose smallest scan is repeated `extra` more times: each
    repeat is ~60 bytes, and libjpeg walks the whole image again for each one."""
    noise = Image.frombytes("L", (64, 64), bytes(range(256)) * 16).resize((2000, 2000))
    buffer = io.BytesIO()
    noise.save(buffer, format="JPEG", progressive=True, quality=50)
    data = buffer.getvalue()
    pos, scans = 2, []
    while data[pos + 1] != 0xD9:
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if data[pos + 1] != 0xDA:
            pos += 2 + length
            continue
        end = pos + 2 + length
        while True:
            end = data.index(b"\xff", end)
            if data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                end += 2
                continue
            break
        scans.append((pos, end))
        pos = end
    start, end = min(scans, key=lambda scan: scan[1] - scan[0])
    return data[:end] + data[start:end] * extra + data[end:]


def test_a_jpeg_of_thousands_of_scans_is_refused_before_it_is_decoded(client):
    """A 1 MB progressive JPEG of 2,000 scans took 10 s of a core to decode (a 28 MB one,
    about half an hour), at 30 uploads a minute per user: refused as not an image we
    accept, before decoding. An ordinary progressive JPEG (about 10 scans) is fine."""
    assert upload(client, "image", progressive_jpeg_with_scans(0), name="p.jpg"
                  ).status_code == 201
    started = time.monotonic()
    response = upload(client, "image", progressive_jpeg_with_scans(400), name="bomb.jpg")
    assert_error(response, 400, 910007)
    assert "scans" in response.json()["message"]
    assert time.monotonic() - started < 1


def test_media_is_served_in_byte_ranges(client):
    """Safari plays audio and video only from a server that answers byte ranges (it asks
    for bytes 0-1 first and wants 206); /media/ always answered 200 with the whole file,
    so voice and video messages did not play there, and no player could seek."""
    video = bytes(range(256)) * 40
    url = urlparse(upload(client, "video", video, name="clip.mp4").json()["payload"][
        "videoUrl"]).path
    whole = client.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    for header, start, end in (("bytes=0-1", 0, 1), ("bytes=100-", 100, len(video) - 1),
                               ("bytes=-10", len(video) - 10, len(video) - 1),
                               ("bytes=10000-99999", 10000, len(video) - 1)):
        response = client.get(url, HTTP_RANGE=header)
        assert response.status_code == 206, header
        assert response["Content-Range"] == f"bytes {start}-{end}/{len(video)}"
        assert int(response["Content-Length"]) == end - start + 1
        assert b"".join(response.streaming_content) == video[start:end + 1]
        assert response["Content-Type"] == "video/mp4"
        assert response["X-Content-Type-Options"] == "nosniff"
    # Numbers past Python's 4,300-digit int() limit answered 500 (ValueError): they are
    # past the end of any file.
    far = "9" * 5000
    for header, start, end in ((f"bytes=0-{far}", 0, len(video) - 1),
                               (f"bytes=-{far}", 0, len(video) - 1)):
        response = client.get(url, HTTP_RANGE=header)
        assert response.status_code == 206, header
        assert response["Content-Range"] == f"bytes {start}-{end}/{len(video)}"
    for header in ("bytes=20000-", "bytes=5-2", f"bytes={far}-", f"bytes={far}-{far}"):
        response = client.get(url, HTTP_RANGE=header)
        assert response.status_code == 416, header
        assert response["Content-Range"] == f"bytes */{len(video)}"
    # What is not one range of bytes gets the whole file.
    for header in ("bytes=0-1,5-6", "items=0-1", "bytes=x-"):
        response = client.get(url, HTTP_RANGE=header)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == video


def mpo_bytes(exif=None) -> bytes:
    """A JPEG followed by a second picture, named in an MPF segment (APP2), as phone
    cameras write them (an HDR gain map, a preview) and 3D cameras."""
    first, second = Image.new("RGB", (800, 600), (255, 0, 0)), Image.new("RGB", (400, 300))
    buffer = io.BytesIO()
    first.save(buffer, format="MPO", save_all=True, append_images=[second],
               **({"exif": exif} if exif is not None else {}))
    return buffer.getvalue()


def test_a_phone_photo_with_a_second_picture_is_a_jpeg(client):
    """Pillow opens such a JPEG as "MPO": the upload answered 500 (KeyError), for the
    photos of many Android phones. Now it is the JPEG it is, stored as its first picture
    alone."""
    content = mpo_bytes(camera_exif(orientation=1))
    assert Image.open(io.BytesIO(content)).format == "MPO"
    response = upload(client, "image", content, name="PXL_1.jpg")
    assert response.status_code == 201, response.content[:200]
    payload = response.json()["payload"]
    assert payload["format"] == "JPG"
    infos = payload["imageInfoArray"]
    assert [(i["width"], i["height"]) for i in infos] == [(800, 600), (720, 540), (198, 149)]
    original = served(client, infos[0]["url"])
    assert storage_name(infos[0]["url"]).endswith(".jpg")
    stored_image = Image.open(io.BytesIO(original))
    assert stored_image.format == "JPEG" and stored_image.getpixel((5, 5))[0] > 240
    assert len(original) < len(content)  # the second picture is not kept
    assert_no_location(original, None)
    cover = upload(client, "video", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200,
                   name="clip.mp4", thumb=SimpleUploadedFile("cover.jpg", mpo_bytes()))
    assert cover.status_code == 201, cover.content[:200]
    assert cover.json()["payload"]["thumbUrl"].endswith(".jpg")


def test_a_gif_keeps_its_frames_and_loop_but_not_its_comments_or_xmp(client):
    frames = [Image.new("P", (300, 200), i) for i in (1, 2, 3)]
    for frame in frames:
        frame.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] * 64)
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                   duration=100, comment=b"PhoneMaker at 48.85N 2.29E")
    content = buffer.getvalue()
    xmp = (b"!\xff\x0bXMP DataXMP" + bytes([len(XMP)]) + XMP + b"\x00")
    at = content.index(b"!\xff\x0bNETSCAPE2.0")
    content = content[:at] + xmp + content[at:] + b"trailing GPS"
    assert b"PhoneMaker" in content and b"xmpmeta" in content
    infos = upload(client, "image", content, name="a.gif").json()["payload"]["imageInfoArray"]
    original = served(client, infos[0]["url"])
    assert b"PhoneMaker" not in original and b"xmpmeta" not in original
    assert b"GPS" not in original
    kept, sent = Image.open(io.BytesIO(original)), Image.open(io.BytesIO(content))
    assert kept.format == "GIF" and kept.n_frames == sent.n_frames == 3
    assert kept.info.get("loop") == 0
    for index in range(3):
        kept.seek(index), sent.seek(index)
        assert kept.convert("RGB").tobytes() == sent.convert("RGB").tobytes()
