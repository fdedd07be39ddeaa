"""The ASGI app, once built, hides what it set up from the garbage collector and collects
young objects less often (chat_project/asgi.py; bench/README.md "fifth round")."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_app_freezes_its_setup_and_collects_young_objects_less_often():
    made = subprocess.run(
        [sys.executable, "-c",
         "import gc, chat_project.asgi; print(gc.get_threshold()[0], gc.get_freeze_count())"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    threshold, frozen = map(int, made.stdout.split())
    assert threshold == 5000
    assert frozen > 50_000  # Django, Channels and the apps: set up before the freeze
