"""Image upload benchmark: what checking an uploaded image and making its copies costs.

    .venv/bin/python bench/uploads.py            # this checkout
    PYTHONPATH=/path/to/older/checkout .venv/bin/python bench/uploads.py --old
                                                 # an older checkout, for before/after

For each image it starts a fresh Python process (Django set up, nothing else done),
runs the upload's image work on it once (messaging.uploads.image_copies: the header
check, the decode, the 720 px and 198 px copies, encoded; storage is not involved),
and prints the outcome (ok, or the error code), the wall time and the peak memory the
work added (Linux: the peak resident size is reset before the work, then VmHWM minus
the resident size before; the process's own baseline is not counted).
--old runs the code before the decode bounds (open_image + _store_image, with a storage
that writes nothing). No database is needed.

Images (made in a temporary directory; the first run takes a few seconds):
- bomb: the issue's PNG, 9400 x 9400 of one colour (88 MP in 280 KB);
- photo: a 4000 x 3000 JPEG (12 MP, about 3.7 MB), noise blurred to look like a photo;
- limit: a 40 MP PNG (7300 x 5479, RGBA), the largest image the default limit admits;
- canvas: a 109-byte GIF whose canvas is 65535 x 65535 (4.3 GP) around a 1 x 1 frame;
- frames: a GIF of 3,000 frames of 200 x 200, and an animated WebP of 300;
  only the first frame is ever decoded.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_images(folder: Path) -> dict[str, Path]:
    from PIL import Image, ImageFilter

    out = {}

    def once(name: str, make) -> None:
        path = folder / name
        if not path.exists():
            make(path)
        out[name] = path

    once("bomb.png", lambda p: Image.new("RGB", (9400, 9400), (200, 30, 30)).save(p))

    def photo(path):
        noise = Image.frombytes("RGB", (1000, 750), os.urandom(1000 * 750 * 3))
        noise.resize((4000, 3000), Image.Resampling.BICUBIC) \
            .filter(ImageFilter.GaussianBlur(2)).save(path, quality=90)
    once("photo.jpg", photo)
    once("limit.png", lambda p: Image.new("RGBA", (7300, 5479), (10, 200, 30, 255)).save(p))

    def canvas(path):
        # GIF89a, logical screen 65535 x 65535, a 2-colour table, one 1 x 1 frame.
        data = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0x80, 0, 0)
        data += b"\x00\x00\x00\xff\xff\xff"
        data += b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00;"
        path.write_bytes(data)
    once("canvas.gif", canvas)

    def frames(path, fmt, count, mode):
        images = [Image.new(mode, (200, 200), 0) for _ in range(count)]
        for i, frame in enumerate(images):  # each differs, so none is merged away
            frame.putpixel((i % 200, i // 200 % 200), 1 + i % 250 if mode == "P"
                           else (255, i % 255, 0))
        images[0].save(path, format=fmt, save_all=True, append_images=images[1:],
                       duration=40)
    once("frames.gif", lambda p: frames(p, "GIF", 3000, "P"))
    once("frames.webp", lambda p: frames(p, "WEBP", 300, "RGB"))
    return out


def child(path: str, old: bool) -> dict:
    """Run in a fresh process: the image work on one file, measured."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")
    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile

    from chat_project.errors import ChatError
    from messaging import uploads

    upload = SimpleUploadedFile(os.path.basename(path), Path(path).read_bytes())
    # Linux: writing 5 to clear_refs resets the peak (VmHWM) to the current size.
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kb("VmRSS")
    start = time.perf_counter()
    try:
        if old:
            image = uploads.open_image(upload)
            uploads._store_image(image, upload, folder="x", name=upload.name, upload_id="u",
                                 store=lambda name, content: name)
        else:
            uploads.image_copies(upload)
        outcome = "ok"
    except ChatError as exc:
        outcome = f"refused {exc.code}"
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    return {"outcome": outcome, "seconds": seconds, "peak_mb": (peak - before) / 1024}


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", action="store_true", help="measure the older code path")
    parser.add_argument("--runs", type=int, default=3, help="runs per image (median shown)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.old)))
        return
    os.environ.setdefault("SECRET_KEY", "bench")
    folder = Path(tempfile.gettempdir()) / "parley-bench-uploads"
    folder.mkdir(exist_ok=True)
    images = make_images(folder)
    code = os.environ.get("PYTHONPATH", str(ROOT)).split(os.pathsep)[0]
    env = dict(os.environ, PYTHONPATH=code)
    print(f"{'image':<12} {'bytes':>10} {'outcome':<15} {'seconds':>8} {'peak MB':>8}")
    for name, path in images.items():
        runs = []
        for _ in range(args.runs):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(path)] + (["--old"] if args.old else []),
                env=env, cwd=code, capture_output=True, text=True, check=False)
            if proc.returncode:
                print(f"{name}: the child failed\n{proc.stderr[-2000:]}")
                break
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        if not runs:
            continue
        runs.sort(key=lambda r: r["seconds"])
        mid = runs[len(runs) // 2]
        peak = sorted(r["peak_mb"] for r in runs)[len(runs) // 2]
        print(f"{name:<12} {path.stat().st_size:>10,} {mid['outcome']:<15} "
              f"{mid['seconds']:>8.3f} {peak:>8.0f}")


if __name__ == "__main__":
    main()
