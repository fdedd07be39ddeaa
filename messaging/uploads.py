"""File uploads: store the file a message will carry and build that element's payload.

A client uploads first, then sends a message whose element is the payload returned
here (PROTOCOL.md "Messages"). Files go to Django's default storage (local disk, or
S3-compatible through django-storages) under uploads/<user pk>/<uuid>/. Nothing the
client says about the file is trusted: its name is rebuilt from safe characters, its
content type is ignored, and an image is whatever Pillow finds it to be.
"""

from __future__ import annotations

import io
import mimetypes
import re
import unicodedata
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageOps

from accounts.models import User
from chat_project.errors import ChatError

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
# imageInfoArray: type 1 is the original; 2 and 3 are scaled to fit these sides.
LARGE_SIDE = 720
THUMB_SIDE = 198

MAX_NAME_CHARS = 100
UINT32_MAX = 2**32 - 1


def upload_store(*, user: User, kind, file, second=0, thumb=None,
                 absolute_url: Callable[[str], str] = lambda url: url) -> dict:
    """Store an uploaded file; return the message element that carries it.

    `kind` is image, sound, file or video; `second` the duration of a sound or video;
    `thumb` a video's cover image. `absolute_url` turns the storage's URL (a path,
    for local disk) into the one clients use. Raises ChatError: 910003 bad request,
    910006 too large (HTTP 413), 910007 an image Pillow cannot read.
    """
    if kind not in KINDS:
        raise ChatError(910003, f"kind must be one of {sorted(KINDS)}")
    check_upload(file, limit=getattr(settings, KINDS[kind]))
    if isinstance(second, bool) or not isinstance(second, int) \
            or not 0 <= second <= UINT32_MAX:
        raise ChatError(910003, "second must be a whole number of seconds")
    if thumb is not None and kind != "video":
        raise ChatError(910003, "only a video has a thumb")

    upload_id = uuid.uuid4().hex
    folder = f"uploads/{user.pk}/{upload_id}"
    name = safe_filename(file.name)

    def store(path: str, content) -> str:
        return absolute_url(default_storage.url(default_storage.save(path, content)))

    if kind == "image":
        image = open_image(file)
        return {"type": "TIMImageElem",
                "payload": _store_image(image, file, folder=folder, name=name,
                                        upload_id=upload_id, store=store)}
    if kind == "sound":
        return {"type": "TIMSoundElem",
                "payload": {"uuid": upload_id, "url": store(f"{folder}/{inert_name(name)}", file),
                            "size": file.size, "second": second}}
    if kind == "file":
        return {"type": "TIMFileElem",
                "payload": {"uuid": upload_id, "url": store(f"{folder}/{inert_name(name)}", file),
                            "fileName": name, "fileSize": file.size}}

    cover = None
    if thumb is not None:
        check_upload(thumb, limit=settings.CHAT_MAX_IMAGE_BYTES)
        cover = open_image(thumb)  # before anything is stored
    payload = {"videoUUID": upload_id,
               "videoUrl": store(f"{folder}/{inert_name(name)}", file),
               "videoSize": file.size, "videoSecond": second,
               "videoFormat": _extension(name) or "mp4",
               "thumbUUID": "", "thumbUrl": "", "thumbWidth": 0, "thumbHeight": 0}
    if cover is not None:
        _, ext = IMAGE_FORMATS[cover.format]
        width, height = ImageOps.exif_transpose(cover).size
        payload.update(thumbUUID=uuid.uuid4().hex,
                       thumbUrl=store(f"{folder}/cover/{_stem(safe_filename(thumb.name))}.{ext}",
                                      thumb),
                       thumbWidth=width, thumbHeight=height)
    return {"type": "TIMVideoFileElem", "payload": payload}


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
    """Decode an uploaded image (910007 if it is not one Parley accepts)."""
    file.seek(0)
    try:
        image = Image.open(file, formats=list(IMAGE_FORMATS))
        # Refuse before decoding: a small file can inflate to gigabytes of pixels.
        if Image.MAX_IMAGE_PIXELS and image.width * image.height > Image.MAX_IMAGE_PIXELS:
            raise ChatError(910007, "the image has too many pixels")
        image.load()
    except ChatError:
        raise
    except Exception:  # Pillow raises many kinds of errors on a damaged file
        raise ChatError(910007, "the file is not a JPEG, PNG, GIF, BMP or WebP image") from None
    return image


# --- names ----------------------------------------------------------------------------

def safe_filename(name) -> str:
    """The client's file name reduced to letters, digits, `-`, `_` and `.`."""
    base = str(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", base).strip().replace(" ", "_")
    base = re.sub(r"[^\w.-]", "", base).lstrip(".")
    stem, ext = _stem(base), _extension(base)
    stem = stem[:MAX_NAME_CHARS - len(ext) - 1] or "file"
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

def _store_image(image: Image.Image, file, *, folder: str, name: str, upload_id: str,
                 store: Callable[[str, object], str]) -> dict:
    """The original as uploaded, plus a large and a thumbnail copy when it is bigger."""
    element_format, ext = IMAGE_FORMATS[image.format]
    stem = _stem(name)
    # Cameras store the pixels sideways plus an EXIF note; browsers show it upright.
    upright = ImageOps.exif_transpose(image)
    width, height = upright.size
    original = {"type": 1, "size": file.size, "width": width, "height": height,
                "url": store(f"{folder}/{stem}.{ext}", file)}
    infos = [original]
    for info_type, side, subfolder in ((2, LARGE_SIDE, "large"), (3, THUMB_SIDE, "thumb")):
        if max(width, height) <= side:  # already small enough: the original serves
            infos.append(dict(original, type=info_type))
            continue
        scaled, out_format, out_ext = _encodable(upright, image.format)
        scaled.thumbnail((side, side), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        scaled.save(buffer, format=out_format)
        infos.append({"type": info_type, "size": buffer.tell(),
                      "width": scaled.width, "height": scaled.height,
                      "url": store(f"{folder}/{subfolder}/{stem}.{out_ext}",
                                   ContentFile(buffer.getvalue()))})
    return {"uuid": upload_id, "format": element_format, "imageInfoArray": infos}


def _encodable(image: Image.Image, source_format: str) -> tuple[Image.Image, str, str]:
    """A copy of the image in a mode its scaled format can hold, and that format.

    Photos stay JPEG; everything else becomes PNG (GIF and BMP lose nothing, and
    transparency survives). Palette images are expanded first so scaling can blend.
    """
    if source_format in ("JPEG", "WEBP"):
        out_format = source_format
    else:
        out_format = "PNG"
    if out_format == "JPEG":
        mode = image.mode if image.mode in ("RGB", "L") else "RGB"
    else:
        mode = image.mode if image.mode in ("RGB", "RGBA", "L", "LA") else "RGBA"
    copy = image.convert(mode) if mode != image.mode else image.copy()
    return copy, out_format, IMAGE_FORMATS[out_format][1]
