"""The whole book builds strictly: every chapter executes, no warning."""

import pytest

from conftest import ROOT, toc_files as _chapters


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
