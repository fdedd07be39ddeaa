"""The JS SDK's own tests (tests/js/*.test.js), run with Node's test runner."""

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_sdk_js():
    files = sorted(str(p) for p in HERE.glob("*.test.js"))
    run = subprocess.run(["node", "--test", *files], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
