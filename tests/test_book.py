"""The whole book builds strictly: every chapter executes, no warning."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"


@pytest.fixture(scope="session")
def built_book():
    """Build once per session with the same script the README uses."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_book.py")],
                          cwd=ROOT, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    (ROOT / "_build").mkdir(exist_ok=True)
    (ROOT / "_build" / "build.log").write_text(log)
    assert proc.returncode == 0, "strict book build failed:\n" + log[-6000:]
    return HTML


def _chapters():
    toc = (ROOT / "_toc.yml").read_text().splitlines()
    return [line.split("file:")[1].strip() for line in toc if "file:" in line]


@pytest.mark.slow
def test_book_builds_strictly(built_book):
    assert (built_book / "index.html").exists()
    for chapter in _chapters():
        assert (built_book / f"{chapter}.html").exists(), chapter


@pytest.mark.slow
def test_chapters_have_executed_figures(built_book):
    for chapter in _chapters():
        source = (ROOT / f"{chapter}.md").read_text()
        if "code-cell" not in source:
            continue
        html = (built_book / f"{chapter}.html").read_text()
        assert html.count("<img") >= 1 or "<figure" in html, f"{chapter} has no executed figure"
        assert "Traceback" not in html, chapter
