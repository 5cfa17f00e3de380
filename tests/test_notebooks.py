"""Chapters as notebooks that run anywhere (scripts/build_notebooks.py), and launch buttons that open them."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import build_notebooks  # noqa: E402


def test_committed_notebooks_are_what_the_script_generates():
    assert build_notebooks.main(["--check"]) == 0


def test_the_install_cell_names_the_configured_repository_and_does_nothing_when_actbook_is_there(monkeypatch):
    spec = build_notebooks.install_spec()
    url = re.search(r"^  url: (\S+)", (ROOT / "_config.yml").read_text(), re.M)[1]
    assert spec.startswith("actbook[book,tensorflow] @ git+" + url + "@")
    source = build_notebooks.install_cell().source
    assert spec in source

    def refuse(*args, **kwargs):
        raise AssertionError("the install cell ran pip although actbook is importable")

    monkeypatch.setattr(subprocess, "run", refuse)
    exec(source, {})  # actbook is installed here: nothing happens


@pytest.mark.slow
def test_no_launch_button_points_at_a_markdown_file(built_book):
    pages = [p for p in built_book.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts]
    launches = 0
    for page in pages:
        for url in re.findall(r'href="(https://(?:colab\.research\.google\.com|mybinder\.org)[^"]+)"', page.read_text()):
            launches += 1
            assert ".md" not in url and "notebooks/" in url and ".ipynb" in url, (page.name, url)
    assert launches >= 2 * 10  # Colab and Binder on every chapter


@pytest.mark.slow
@pytest.mark.parametrize("chapter", ["relu", "training"])
def test_a_downloaded_chapter_runs_outside_the_repository(built_book, chapter, tmp_path):
    """The notebook the download button serves, copied elsewhere, runs to the end (actbook installed here)."""
    downloaded = built_book / "_sources" / "chapters" / f"{chapter}.ipynb"
    nb = json.loads(downloaded.read_text())
    assert build_notebooks.INSTALL_TAG in nb["cells"][0]["metadata"]["tags"]
    shutil.copy2(downloaded, tmp_path / downloaded.name)
    proc = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                           "--ExecutePreprocessor.timeout=1200", "--output", "out.ipynb", downloaded.name],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_binder_opens_markdown_chapters_as_notebooks():
    post = (ROOT / "postBuild").read_text()
    assert "jupytext-config set-default-viewer" in post and (ROOT / "postBuild").stat().st_mode & 0o111
    assert "jupytext==" in (ROOT / "requirements.txt").read_text()  # what provides jupytext-config on Binder


def test_no_chapter_reads_the_repository_by_a_relative_path():
    """Chapters read committed results through actbook.data_folder, so their notebooks run outside a clone."""
    for chapter in sorted((ROOT / "chapters").glob("*.md")):
        assert "../data" not in chapter.read_text(), chapter.name
