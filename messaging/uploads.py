"""File uploads: store the file a message will carry and build that element's payload.

A client uploads first, then sends a message whose element is the payload returned
here (PROTOCOL.md "Messages"). Files go to Django's default storage (local disk, or
S3-compatible through django-storages) under upload_folder's uploads/<ab>/<uuid>/.
Nothing the client says about the file is trusted: its name is rebuilt from safe characters, its
content type is ignored, and an image is whatever Pillow finds it to be.

What an upload may cost is bounded before it costs it:
- a user's uploads per minute (CHAT_UPLOAD_RATE, 910005) and bytes per day
  (CHAT_UPLOAD_DAILY_BYTES, 910011), both HTTP 429, counted in the database under a
  per-user lock, so they hold across server processes;
- an image's pixels (CHAT_MAX_IMAGE_PIXELS, 910012), read from its header before
  anything is decoded; a JPEG is then decoded at a fraction of its size (libjpeg's
  1/2, 1/4, 1/8 scaling, Image.draft) when only copies are needed, other formats once,
  and the copies are made from the one decoded image, shrunk in place (bench/uploads.py
  has the figures). Only an image's first frame is ever decoded.

Each upload is an Upload row recording every storage name it fills, so its files are
deleted when no message refers to it any more (messaging/upload_refs.py).
"""

from __future__ import annotations

import io
import mimetypes
import re
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from PIL import ExifTags, Image

from accounts.models import User
from chat_project.errors import ChatError

from .image_meta import jpeg_scans, without_metadata
from .models import Upload
from .upload_refs import QUOTA_WINDOW

# kind -> the setting that bounds its size (DESIGN.md "Limits").
KINDS = {
    "image": "CHAT_MAX_IMAGE_BYTES",
    "sound": "CHAT_MAX_SOUND_BYTES",
    "file": "CHAT_MAX_FILE_BYTES",
    "video": "CHAT_MAX_VIDEO_BYTES",
}

# Pillow format -> (the element's `format`, the stored file's extension). Only formats
# every browser shows; Pillow's other decoders (EPS calls Ghostscript) are never tried.
IMAGE_FORMATS = {
    "JPEG": ("JPG", "jpg"),
    "PNG": ("PNG", "png"),
    "GIF": ("GIF", "gif"),
    "BMP": ("BMP", "bmp"),
    "WEBP": ("WEBP", "webp"),
}
# A progressive JPEG has about 10 scans; each is a pass over the whole image, so
# thousands of tiny ones cost minutes of CPU (messaging/image_meta.jpeg_scans).
MAX_JPEG_SCANS = 100
# imageInfoArray: type 1 is the original; 2 and 3 are scaled to fit these sides.
LARGE_SIDE = 720
THUMB_SIDE = 198
# A thumbnail shows at most this long a slice of an image (the middle of a longer one):
# scaled whole, a 20 x 2000 image gave a 2 x 198 thumbnail, a sliver no one could see.
THUMB_MAX_RATIO = 4

MAX_NAME_CHARS = 100
# A file system allows 255 bytes in a name, and 100 CJK characters are 300 in UTF-8:
# the name is cut to this many bytes too, leaving room for inert_name's `.txt`.
MAX_NAME_BYTES = 200
UINT32_MAX = 2**32 - 1

# Pillow's own bomb check as a second line: Image.open raises DecompressionBombError
# past twice this, before our check (open_image) could even run.
Image.MAX_IMAGE_PIXELS = settings.CHAT_MAX_IMAGE_PIXELS

RATE_WINDOW = timedelta(minutes=1)
# pg_advisory_xact_lock(class, user): the two-key space, apart from accounts.locks' one.
_UPLOAD_LOCK_CLASS = 0x55504C44  # "UPLD"


def upload_store(*, user: User, kind, file, second=0, thumb=None,
                 absolute_url: Callable[[str], str] = lambda url: url) -> dict:
    """Store an uploaded file; return the message element that carries it.

    `kind` is image, sound, file or video; `second` the duration of a sound or video;
    `thumb` a video's cover image. `absolute_url` turns the storage's URL (a path,
    for local disk) into the one clients use. Raises ChatError: 910003 bad request,
    910006 too large (HTTP 413), 910007 an image Pillow cannot read, 910012 an image
    of too many pixels, 910005 too many uploads this minute and 910011 the day's bytes
    used up (HTTP 429).
    """
    if kind not in KINDS:
        raise ChatError(910003, f"kind must be one of {sorted(KINDS)}")
    check_upload(file, limit=getattr(settings, KINDS[kind]))
    if isinstance(second, bool) or not isinstance(second, int) \
            or not 0 <= second <= UINT32_MAX:
        raise ChatError(910003, "second must be a whole number of seconds")
    if thumb is not None and kind != "video":
        raise ChatError(910003, "only a video has a thumb")
    if thumb is not None:
        check_upload(thumb, limit=settings.CHAT_MAX_IMAGE_BYTES)

    # Counted before any decoding, so a flood of images is refused cheaply too.
    upload = upload_reserve(user=user, kind=kind,
                            size=file.size + (thumb.size if thumb is not None else 0))
    try:
        files, element = _prepare(upload.uuid, kind, file, second, thumb,
                                  folder=upload_folder(upload.uuid))
    except ChatError:
        # Nothing stored; the attempt still counts toward the rate until the sweep.
        Upload.objects.filter(pk=upload.pk).update(size=0, is_gone=True)
        raise
    # The names are recorded before anything is written: a crash midway leaves files
    # the sweep knows about.
    Upload.objects.filter(pk=upload.pk).update(
        names=[name for name, _ in files], size=sum(content.size for _, content in files))
    urls = {}
    saved = []
    for name, content in files:
        stored = default_storage.save(name, content)
        saved.append(stored)
        urls[name] = absolute_url(default_storage.url(stored))
    if saved != [name for name, _ in files]:  # the storage picked other names
        Upload.objects.filter(pk=upload.pk).update(names=saved)
    return _with_urls(element, urls)


def upload_folder(upload_uuid: str) -> str:
    """Where an upload's files go: uploads/<its uuid's first 2 characters>/<uuid>. The
    random uuid keeps the URL unguessable; the 256 folders of the first level keep a
    local disk's directories small. Nothing in it tells who uploaded the file or how
    many accounts there are (files uploaded before are under uploads/<user pk>/<uuid>
    and stay there: messaging/upload_refs.py reads both)."""
    return f"uploads/{upload_uuid[:2]}/{upload_uuid}"


def upload_reserve(*, user: User, kind: str, size: int) -> Upload:
    """Count an upload toward its user's rate and daily bytes, or refuse it (429).

    One short transaction under a per-user lock, so two server processes cannot both
    admit the upload that goes over. Returns the Upload row, to be filled once stored.
    """
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":  # SQLite: one writer at a time already
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)",
                               [_UPLOAD_LOCK_CLASS, user.pk % 2**31])
        mine = Upload.objects.filter(uploader=user)
        rate = settings.CHAT_UPLOAD_RATE
        if mine.filter(created_at__gt=now - RATE_WINDOW).count() >= rate:
            raise ChatError(910005, f"at most {rate} uploads a minute; wait a little",
                            http_status=429)
        used = mine.filter(created_at__gt=now - QUOTA_WINDOW).aggregate(n=Sum("size"))["n"] or 0
        daily = settings.CHAT_UPLOAD_DAILY_BYTES
        if used + size > daily:
            raise ChatError(910011, f"{used} of the {daily} bytes a day allowed are used;"
                                    f" this upload needs {size}", http_status=429)
        return Upload.objects.create(
            uuid=uuid.uuid4().hex, uploader=user, kind=kind, size=size, created_at=now,
            delete_after=now + timedelta(seconds=settings.CHAT_UPLOAD_UNSENT_SECONDS))


def _prepare(upload_id: str, kind: str, file, second: int, thumb, *,
             folder: str) -> tuple[list[tuple[str, File]], dict]:
    """What to store (storage name, content) and the element, with each URL given as
    the storage name it is for (_with_urls fills them in once stored)."""
    name = safe_filename(file.name)
    if kind == "image":
        copies = image_copies(file)
        stem = _stem(name)
        original = f"{folder}/{stem}.{copies.ext}"
        # Stored without where and when it was taken (GPS, XMP...), pixels untouched.
        file = without_metadata(file, copies.pillow_format, copies.orientation)
        files = [(original, file)]
        infos = [{"type": 1, "size": file.size, "width": copies.width,
                  "height": copies.height, "url": original}]
        by_type = {c.info_type: c for c in copies.copies}
        for info_type, subfolder in ((2, "large"), (3, "thumb")):
            copy = by_type.get(info_type)
            if copy is None:  # already small enough: the original serves
                infos.append(dict(infos[0], type=info_type))
                continue
            copy_name = f"{folder}/{subfolder}/{stem}.{copy.ext}"
            files.append((copy_name, ContentFile(copy.data)))
            infos.append({"type": info_type, "size": len(copy.data), "width": copy.width,
                          "height": copy.height, "url": copy_name})
        return files, {"type": "TIMImageElem",
                       "payload": {"uuid": upload_id, "format": copies.format,
                                   "imageInfoArray": infos}}
    stored = f"{folder}/{inert_name(name)}"
    if kind == "sound":
        return [(stored, file)], {"type": "TIMSoundElem", "payload": {
            "uuid": upload_id, "url": stored, "size": file.size, "second": second}}
    if kind == "file":
        return [(stored, file)], {"type": "TIMFileElem", "payload": {
            "uuid": upload_id, "url": stored, "fileName": name, "fileSize": file.size}}
    payload = {"videoUUID": upload_id, "videoUrl": stored,
               "videoSize": file.size, "videoSecond": second,
               "videoFormat": _extension(name) or "mp4",
               "thumbUUID": "", "thumbUrl": "", "thumbWidth": 0, "thumbHeight": 0}
    files = [(stored, file)]
    if thumb is not None:
        cover_format, orientation, width, height = check_cover(thumb)
        cover = f"{folder}/cover/{_stem(safe_filename(thumb.name))}.{IMAGE_FORMATS[cover_format][1]}"
        files.append((cover, without_metadata(thumb, cover_format, orientation)))
        payload.update(thumbUUID=uuid.uuid4().hex, thumbUrl=cover,
                       thumbWidth=width, thumbHeight=height)
    return files, {"type": "TIMVideoFileElem", "payload": payload}


def _with_urls(element: dict, urls: dict[str, str]) -> dict:
    payload = element["payload"]
    for key in ("url", "videoUrl", "thumbUrl"):
        if payload.get(key):
            payload[key] = urls[payload[key]]
    for info in payload.get("imageInfoArray", []):
        info["url"] = urls[info["url"]]
    return element


# --- checks ---------------------------------------------------------------------------

def check_upload(file, *, limit: int) -> None:
    if not isinstance(file, File):
        raise ChatError(910003, "file must be a file sent as multipart/form-data")
    if not file.size:
        raise ChatError(910003, "the file is empty")
    if file.size > limit:
        raise ChatError(910006, f"the file is {file.size} bytes; at most {limit} are allowed",
                        http_status=413)


def open_image(file) -> Image.Image:
    """Open an uploaded image, reading its header only (Image.open decodes nothing):
    910007 if it is not one Parley accepts, 910012 if it has too many pixels."""
    file.seek(0)
    try:
        image = Image.open(file, formats=list(IMAGE_FORMATS))
    except Image.DecompressionBombError:
        raise _too_many_pixels() from None
    except Exception:  # Pillow raises many kinds of errors on a damaged file
        raise _not_an_image() from None
    if image.format == "MPO":
        # A JPEG followed by more pictures its MPF segment names (phones' HDR gain maps
        # and previews, 3D cameras): Pillow's MPO is a JPEG whose first picture is the
        # one shown. Only that one is kept (image_meta cuts what follows its end).
        image.format = "JPEG"
    # A small file can inflate to gigabytes of pixels: refuse before decoding.
    if image.width * image.height > settings.CHAT_MAX_IMAGE_PIXELS:
        raise _too_many_pixels(image.width, image.height)
    if image.format == "JPEG" and jpeg_scans(file, MAX_JPEG_SCANS) > MAX_JPEG_SCANS:
        raise ChatError(910007, f"the JPEG has more than {MAX_JPEG_SCANS} scans")
    file.seek(0)
    return image


def _too_many_pixels(width: int | None = None, height: int | None = None) -> ChatError:
    limit = settings.CHAT_MAX_IMAGE_PIXELS
    size = f" ({width}x{height})" if width is not None else ""
    return ChatError(910012, f"the image has too many pixels{size}; at most {limit:,}"
                             " (width x height) are allowed")


def _not_an_image() -> ChatError:
    return ChatError(910007, "the file is not a JPEG, PNG, GIF, BMP or WebP image")


# --- names ----------------------------------------------------------------------------

def safe_filename(name) -> str:
    """The client's file name reduced to letters, digits, `-`, `_` and `.`, at most
    MAX_NAME_CHARS characters and MAX_NAME_BYTES bytes of UTF-8."""
    base = str(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", base).strip().replace(" ", "_")
    base = re.sub(r"[^\w.-]", "", base).lstrip(".")
    stem, ext = _stem(base), _extension(base)
    stem = stem[:MAX_NAME_CHARS - len(ext) - 1]
    stem = stem.encode()[:MAX_NAME_BYTES - len(ext) - 1].decode(errors="ignore") or "file"
    return f"{stem}.{ext}" if ext else stem


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def _extension(name: str) -> str:
    """The lower-case extension if it is a plausible one (letters and digits, short)."""
    ext = name.rsplit(".", 1)[1].lower() if "." in name else ""
    return ext if re.fullmatch(r"[a-z0-9]{1,16}", ext) else ""


# Types a browser would render as a page of this site, running its scripts.
_ACTIVE_TYPE_PARTS = ("html", "xml", "svg", "javascript", "ecmascript", "xsl", "flash")


def inert_name(name: str) -> str:
    """The name to store a file under, so that opening its URL cannot run a script.

    Storage serves a file with the content type its extension implies; an uploaded
    page.html would be a page of this site. Such names get `.txt` appended (the
    element keeps the name the user sees).
    """
    content_type = mimetypes.guess_type(name)[0] or ""
    if any(part in content_type for part in _ACTIVE_TYPE_PARTS):
        return f"{name}.txt"
    return name


# --- images ---------------------------------------------------------------------------

# EXIF orientation -> the transpose that shows the picture upright (as browsers do).
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}
# Modes Pillow shrinks well as they are; others are converted first (a palette would be
# scaled by nearest neighbour).
_SCALABLE_MODES = {"RGB", "RGBA", "L", "LA", "CMYK", "RGBX"}


@dataclass
class ImageCopy:
    info_type: int  # 2 large, 3 thumbnail
    data: bytes
    width: int
    height: int
    ext: str


@dataclass
class ImageCopies:
    format: str  # the element's `format`
    ext: str  # the original's extension
    width: int  # as shown (EXIF orientation applied)
    height: int
    pillow_format: str = ""
    orientation: int | None = None  # EXIF's, kept in the stored original
    copies: list[ImageCopy] = field(default_factory=list)


def image_copies(file) -> ImageCopies:
    """Check an uploaded image and make its large (720 px) and thumbnail (198 px) copies,
    in memory, each only if the image is bigger. The thumbnail of an image more than
    THUMB_MAX_RATIO times as long as wide is its middle slice of that ratio.

    The image is decoded once, a JPEG at the smallest scale that still gives a sharp
    large copy (libjpeg decodes 1/2, 1/4 or 1/8 of it directly), and shrunk in place
    (reducing_gap: a cheap integer reduction first, then Lanczos), so the peak is one
    decoded frame. Raises ChatError 910007 / 910012 (open_image).
    """
    image = open_image(file)
    element_format, ext = IMAGE_FORMATS[image.format]
    try:
        # (A JPEG's EXIF is in its header; a PNG's may follow the pixels: decoded here.)
        transpose, (width, height) = _upright(image)
        result = ImageCopies(element_format, ext, width, height, image.format,
                             _orientation(image))
        if max(width, height) <= THUMB_SIDE:
            image.load()  # no copy to make, but the pixels must be an image's
            return result
        out_format = image.format if image.format in ("JPEG", "WEBP") else "PNG"
        if image.format == "JPEG":
            # Decode at 1/2, 1/4 or 1/8 scale, still at least the copies' size.
            image.draft(None, _least_size(image.size))
        if image.mode.startswith("I"):
            # 16-bit grey (Pillow's I;16 or I): converting straight to RGB would clip
            # every value past 255, a mid-grey picture turning white. Scaled to 8 bits.
            image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
        elif image.mode not in _SCALABLE_MODES:
            image = image.convert("RGBA" if image.has_transparency_data else "RGB")
        # Shrink by a whole factor first, leaving at least twice the copies' size (as
        # reducing_gap would), so Lanczos works on a small image.
        target = _least_size(image.size)
        factor = int(min(image.width / target[0], image.height / target[1]) / 2)
        if factor > 1:
            image = _reduce(image, factor)
        # The thumbnail's slice is cut before the large copy shrinks the image in place
        # (a part of the shrunk image, so the peak stays about one decoded frame).
        middle = _middle(image.size)
        thumb_source = image.crop(middle) if middle != (0, 0, *image.size) else None
        for info_type, side in ((2, LARGE_SIDE), (3, THUMB_SIDE)):
            if max(width, height) <= side:
                continue
            if info_type == 3 and thumb_source is not None:
                image = thumb_source
            # A square box: shrinking before turning upright gives the same sizes (and
            # the middle slice is the same either way up).
            image.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=2.0)
            copy = image.transpose(transpose) if transpose is not None else image
            data = _encode(copy, out_format)
            result.copies.append(ImageCopy(info_type, data, copy.width, copy.height,
                                           IMAGE_FORMATS[out_format][1]))
    except ChatError:
        raise
    except Image.DecompressionBombError:
        raise _too_many_pixels(width, height) from None
    except Exception:  # a damaged file fails while decoding
        raise _not_an_image() from None
    return result


def _reduce(image: Image.Image, factor: int) -> Image.Image:
    """image.reduce(factor), without a second full-size copy: Pillow premultiplies an
    image with alpha before reducing it, so that one is reduced a band of rows at a
    time."""
    if image.mode not in ("RGBA", "LA"):
        return image.reduce(factor)
    rows = factor * 64
    out = Image.new(image.mode, (-(-image.width // factor), -(-image.height // factor)))
    for top in range(0, image.height, rows):
        band = image.crop((0, top, image.width, min(image.height, top + rows)))
        out.paste(band.reduce(factor), (0, top // factor))
    return out


def _upright(image: Image.Image) -> tuple[Image.Transpose | None, tuple[int, int]]:
    """The transpose that shows the image upright (EXIF orientation), and its size then."""
    transpose = _UPRIGHT.get(image.getexif().get(ExifTags.Base.Orientation))
    width, height = image.size
    if transpose in (Image.Transpose.TRANSPOSE, Image.Transpose.TRANSVERSE,
                     Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270):
        width, height = height, width
    return transpose, (width, height)


def _orientation(image: Image.Image) -> int | None:
    value = image.getexif().get(ExifTags.Base.Orientation)
    return value if value in _UPRIGHT else None


def _middle(size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box of an image's middle that is at most THUMB_MAX_RATIO times as long as
    wide (the whole image when it is not longer)."""
    width, height = size
    if width > height * THUMB_MAX_RATIO:
        keep = height * THUMB_MAX_RATIO
        left = (width - keep) // 2
        return left, 0, left + keep, height
    if height > width * THUMB_MAX_RATIO:
        keep = width * THUMB_MAX_RATIO
        top = (height - keep) // 2
        return 0, top, width, top + keep
    return 0, 0, width, height


def _least_size(size: tuple[int, int]) -> tuple[int, int]:
    """How small the decoded image may get before its copies are made: the large copy's
    size, or more where the thumbnail's middle slice needs more of its pixels."""
    left, top, right, bottom = _middle(size)
    scale = min(1.0, max(LARGE_SIDE / max(size), THUMB_SIDE / max(right - left, bottom - top)))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def check_cover(file) -> tuple[str, int | None, int, int]:
    """Check a video's cover image; return its Pillow format, its EXIF orientation and
    its size as shown."""
    image = open_image(file)
    try:
        _, (width, height) = _upright(image)
        orientation = _orientation(image)
        image_format = image.format
        image.draft(None, (THUMB_SIDE, THUMB_SIDE))  # a JPEG checked at 1/8 the cost
        image.load()
    except Exception:
        raise _not_an_image() from None
    return image_format, orientation, width, height


def _encode(image: Image.Image, out_format: str) -> bytes:
    """The copy in `out_format`: photos stay JPEG (or WebP); everything else becomes PNG
    (GIF and BMP lose nothing, and transparency survives)."""
    if out_format == "JPEG":
        mode = image.mode if image.mode in ("RGB", "L") else "RGB"
    elif out_format == "WEBP":
        mode = image.mode if image.mode in ("RGB", "RGBA") else "RGBA"
    else:
        mode = image.mode if image.mode in ("RGB", "RGBA", "L", "LA") else "RGBA"
    if mode != image.mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    # Nothing of the original's metadata: Pillow would copy a JPEG's comment along.
    image.save(buffer, format=out_format, comment=b"", exif=b"", xmp=b"")
    return buffer.getvalue()
