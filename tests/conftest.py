import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"


def toc_files() -> list[str]:
    toc = (ROOT / "_toc.yml").read_text().splitlines()
    return [line.split("file:")[1].strip() for line in toc if "file:" in line]


@pytest.fixture(scope="session")
def built_book():
    """Build once per session with the same script the README uses; the log
    and the build time land in _build/ for CI to keep."""
    start = time.perf_counter()
    # With TeX Live installed (CI installs it) the same build makes the PDF too.
    pdf = ["--pdf"] if all(shutil.which(t) for t in ("xelatex", "latexmk", "xindy")) else []
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_book.py"), *pdf],
                          cwd=ROOT, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    (ROOT / "_build").mkdir(exist_ok=True)
    (ROOT / "_build" / "build.log").write_text(log)
    print(f"\nbook build: {time.perf_counter() - start:.0f} s (log in _build/build.log)")
    assert proc.returncode == 0, "strict book build failed:\n" + log[-6000:]
    return HTML


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run slow tests (strict book build, training runs)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
