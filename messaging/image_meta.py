"""An uploaded picture without what the camera wrote about it: where (GPS), when, with
what device, the EXIF thumbnail, XMP and comments, removed without decoding or
re-encoding a pixel.

A phone's photo carries the place it was taken; a chat that forwards the file as
uploaded tells every recipient where its sender was. The large and thumbnail copies
are encoded afresh and carry nothing; the original is the uploaded file, so its
metadata is cut out here: the container is copied a block at a time, leaving out the
metadata segments (JPEG), chunks (PNG, WebP) and anything after the image's end. Only
the EXIF orientation is written back, so the picture still shows upright, as its
width and height in the element say. What draws it (ICC colour profile, Adobe APP14,
JFIF density, animation, a GIF's looping) is kept. A BMP carries none and is kept as
it is.
"""

from __future__ import annotations

import struct
import tempfile
import zlib

from django.conf import settings
from django.core.files import File
from PIL import Image

_BLOCK = 64 * 1024


def without_metadata(file, image_format: str, orientation: int | None) -> File:
    """`file` (an uploaded image of Pillow format `image_format`) without its metadata,
    keeping `orientation` (1-8) when it turns the picture. A file this cannot read as
    its format (Pillow read it, so rarely) is returned as it is."""
    strip = {"JPEG": _jpeg, "PNG": _png, "WEBP": _webp, "GIF": _gif}.get(image_format)
    if strip is None:
        return file
    out = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)
    file.seek(0)
    try:
        strip(file, out, orientation if orientation in range(2, 9) else None)
    except _NotAsExpected:
        out.close()
        file.seek(0)
        return file
    size = out.tell()
    out.seek(0)
    stripped = File(out, name=file.name)
    stripped.size = size
    return stripped


class _NotAsExpected(Exception):
    pass


def _read(src, n: int) -> bytes:
    data = src.read(n)
    if len(data) != n:
        raise _NotAsExpected
    return data


def _copy(src, out, n: int) -> None:
    while n > 0:
        block = _read(src, min(n, _BLOCK))
        out.write(block)
        n -= len(block)


def _orientation_exif(orientation: int) -> bytes:
    """A TIFF-format EXIF block holding only the orientation (no `Exif\\0\\0` prefix)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()[6:]


# --- JPEG -----------------------------------------------------------------------------

# Segments kept before the image data: JFIF/JFXX (APP0), ICC profiles (APP2
# "ICC_PROFILE"), Adobe (APP14, the colour transform of CMYK/YCCK), and every non-APP
# segment (tables, frame headers). Left out: APP1 (EXIF, XMP), the other APPn (MPF's
# pointers to the images after the end, Photoshop/IPTC, maker data) and comments.
_APP0, _APP2, _APP14, _COM, _SOS = 0xE0, 0xE2, 0xEE, 0xFE, 0xDA


def _jpeg(src, out, orientation: int | None) -> None:
    if _read(src, 2) != b"\xff\xd8":
        raise _NotAsExpected
    out.write(b"\xff\xd8")
    if orientation is not None:
        exif = b"Exif\x00\x00" + _orientation_exif(orientation)
        out.write(b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif)
    while True:
        if _read(src, 1) != b"\xff":
            raise _NotAsExpected
        marker = _read(src, 1)[0]
        while marker == 0xFF:  # fill bytes
            marker = _read(src, 1)[0]
        (length,) = struct.unpack(">H", _read(src, 2))
        if length < 2:
            raise _NotAsExpected
        body = _read(src, length - 2)
        keep = not (0xE0 <= marker <= 0xEF or marker == _COM) or marker in (
            _APP0, _APP14) or (marker == _APP2 and body.startswith(b"ICC_PROFILE\x00"))
        if keep:
            out.write(bytes((0xFF, marker)) + struct.pack(">H", length) + body)
        if marker == _SOS:
            break
    # The image data, up to and with its end (FFD9, which cannot occur inside it: a data
    # byte FF is always followed by 00). Anything after it (MPF images, a second EXIF)
    # is left out.
    tail = b""
    while True:
        block = src.read(_BLOCK)
        if not block:
            out.write(tail)  # a truncated file (Pillow opened it): kept as it is
            return
        data = tail + block
        end = data.find(b"\xff\xd9")
        if end >= 0:
            out.write(data[:end + 2])
            return
        out.write(data[:-1])
        tail = data[-1:]


# --- PNG ------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_DROPPED = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}


def _png(src, out, orientation: int | None) -> None:
    if _read(src, 8) != _PNG_SIGNATURE:
        raise _NotAsExpected
    out.write(_PNG_SIGNATURE)
    exif_written = orientation is None
    while True:
        length, kind = struct.unpack(">I4s", _read(src, 8))
        if kind in (b"IDAT", b"IEND") and not exif_written:  # eXIf goes before IDAT
            exif = _orientation_exif(orientation)
            out.write(struct.pack(">I", len(exif)) + b"eXIf" + exif
                      + struct.pack(">I", zlib.crc32(b"eXIf" + exif)))
            exif_written = True
        if kind in _PNG_DROPPED:
            src.seek(length + 4, 1)
        else:
            out.write(struct.pack(">I4s", length, kind))
            _copy(src, out, length + 4)  # data and CRC
        if kind == b"IEND":
            return  # anything after the end is left out


# --- WebP -----------------------------------------------------------------------------

_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def _webp(src, out, orientation: int | None) -> None:
    riff, riff_size, webp = struct.unpack("<4sI4s", _read(src, 12))
    if riff != b"RIFF" or webp != b"WEBP":
        raise _NotAsExpected
    # First pass: the chunks (fourcc, offset of the data, size), reading headers only,
    # within the RIFF's size (anything after it is left out).
    chunks = []
    while src.tell() + 8 <= 8 + riff_size and (header := src.read(8)):
        if len(header) != 8:
            break
        fourcc, size = struct.unpack("<4sI", header)
        chunks.append((fourcc, src.tell(), size))
        src.seek(size + (size & 1), 1)
    if not chunks or chunks[0][0] != b"VP8X":
        # A simple WebP (one VP8/VP8L chunk) has no room for metadata.
        if orientation is not None or any(c[0] in (b"EXIF", b"XMP ") for c in chunks):
            raise _NotAsExpected
        src.seek(0)
        _copy(src, out, 12 + sum(8 + s + (s & 1) for _, _, s in chunks))
        return
    kept = [c for c in chunks if c[0] not in (b"EXIF", b"XMP ")]
    exif = _orientation_exif(orientation) if orientation is not None else b""
    exif_chunk = (b"EXIF" + struct.pack("<I", len(exif)) + exif
                  + b"\x00" * (len(exif) & 1)) if exif else b""
    total = 4 + sum(8 + s + (s & 1) for _, _, s in kept) + len(exif_chunk)
    out.write(struct.pack("<4sI4s", b"RIFF", total, b"WEBP"))
    for index, (fourcc, offset, size) in enumerate(kept):
        src.seek(offset)
        out.write(struct.pack("<4sI", fourcc, size))
        if index == 0:  # VP8X: its flags say which metadata follows
            flags = _read(src, 1)[0] & ~(_VP8X_EXIF | _VP8X_XMP)
            out.write(bytes((flags | (_VP8X_EXIF if exif else 0),)))
            _copy(src, out, size - 1 + (size & 1))
        else:
            _copy(src, out, size + (size & 1))
    out.write(exif_chunk)


# --- GIF ------------------------------------------------------------------------------

# Application extensions kept: looping (Netscape's, and its older twin) and colour.
_GIF_APPS_KEPT = (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012")


def _gif(src, out, orientation: int | None) -> None:
    """Comments and application extensions (XMP, maker data) left out; a GIF has no
    orientation."""
    header = _read(src, 13)
    if header[:3] != b"GIF":
        raise _NotAsExpected
    out.write(header)
    if header[10] & 0x80:  # the global colour table
        _copy(src, out, 3 * 2 ** ((header[10] & 0x07) + 1))
    while True:
        introducer = _read(src, 1)
        if introducer == b"\x3b":  # the trailer: anything after it is left out
            out.write(introducer)
            return
        if introducer == b"\x2c":  # an image: descriptor, local colour table, data
            descriptor = _read(src, 9)
            out.write(introducer + descriptor)
            if descriptor[8] & 0x80:
                _copy(src, out, 3 * 2 ** ((descriptor[8] & 0x07) + 1))
            out.write(_read(src, 1))  # LZW minimum code size
            _gif_blocks(src, out)
        elif introducer == b"\x21":
            label = _read(src, 1)
            if label == b"\xfe":  # a comment
                _gif_blocks(src, None)
            elif label == b"\xff":
                first = _read(src, 1)
                identifier = _read(src, first[0])
                keep = identifier[:11] in _GIF_APPS_KEPT
                if keep:
                    out.write(introducer + label + first + identifier)
                _gif_blocks(src, out if keep else None)
            else:  # graphic control, plain text
                out.write(introducer + label)
                _gif_blocks(src, out)
        else:
            raise _NotAsExpected


def _gif_blocks(src, out) -> None:
    """Data sub-blocks up to and with their terminator, copied to `out` or skipped."""
    while True:
        size = _read(src, 1)
        data = _read(src, size[0])
        if out is not None:
            out.write(size + data)
        if not size[0]:
            return


# --- JPEG scans -----------------------------------------------------------------------

def jpeg_scans(file, stop_after: int) -> int:
    """How many scans (SOS segments) a JPEG has, counting no further than `stop_after`
    + 1. libjpeg decodes a progressive JPEG scan by scan, each over the whole image, so
    a file of thousands of tiny scans costs minutes of CPU; an ordinary one has about
    10. Walks the segments by their lengths and the scan data by its markers (a data
    byte FF is followed by 00, a restart marker by D0-D7), a block at a time."""
    file.seek(0)
    reader = _Blocks(file)
    if reader.take(2) != b"\xff\xd8":
        return 0
    scans = 0
    while True:
        byte = reader.take(1)
        if byte != b"\xff":
            return scans  # damaged or ended: Pillow's decoder says what it is
        marker = reader.take(1)
        while marker == b"\xff":
            marker = reader.take(1)
        if not marker or marker == b"\xd9":
            return scans
        if 0xD0 <= marker[0] <= 0xD7 or marker[0] == 0x01:
            continue
        length = reader.take(2)
        if len(length) != 2:
            return scans
        reader.skip(int.from_bytes(length, "big") - 2)
        if marker == b"\xda":
            scans += 1
            if scans > stop_after:
                return scans
            if not reader.skip_scan_data():
                return scans


class _Blocks:
    def __init__(self, file):
        self.file = file
        self.block = b""
        self.pos = 0

    def _fill(self) -> bool:
        more = self.file.read(_BLOCK)
        if not more:
            return False
        self.block = self.block[self.pos:] + more
        self.pos = 0
        return True

    def take(self, n: int) -> bytes:
        while len(self.block) - self.pos < n and self._fill():
            pass
        data = self.block[self.pos:self.pos + n]
        self.pos += len(data)
        return data

    def skip(self, n: int) -> None:
        available = len(self.block) - self.pos
        if n <= available:
            self.pos += n
            return
        self.file.seek(n - available, 1)
        self.block, self.pos = b"", 0

    def skip_scan_data(self) -> bool:
        """Up to the next marker that is not data or a restart; False at the end."""
        while True:
            found = self.block.find(b"\xff", self.pos)
            if found < 0 or found + 1 >= len(self.block):
                self.pos = len(self.block) if found < 0 else found
                if not self._fill():
                    return False
                continue
            following = self.block[found + 1]
            if following == 0 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                self.pos = found + (1 if following == 0xFF else 2)
                continue
            self.pos = found
            return True
