"""scripts/build_book.py drops the execution cache when src/ or data/ change."""

import importlib.util

import pytest

from conftest import ROOT, toc_files as _chapters


def _load():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_hash_follows_src_and_data(tmp_path, monkeypatch):
    bb = _load()
    (tmp_path / "src" / "actbook").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    module = tmp_path / "src" / "actbook" / "m.py"
    module.write_text("x = 1\n")
    monkeypatch.setattr(bb, "ROOT", tmp_path)
    monkeypatch.setattr(bb, "HASHED", ["src/actbook", "data"])
    h1 = bb.inputs_hash()
    module.write_text("x = 2\n")
    h2 = bb.inputs_hash()
    assert h2 != h1
    (tmp_path / "data" / "r.json").write_text("{}")
    assert bb.inputs_hash() != h2
    h3 = bb.inputs_hash()
    (tmp_path / "src" / "actbook" / "__pycache__").mkdir()
    (tmp_path / "src" / "actbook" / "__pycache__" / "m.pyc").write_bytes(b"junk")
    assert bb.inputs_hash() == h3  # byte code does not invalidate the book's cache


def test_stale_cache_is_dropped_before_building(tmp_path, monkeypatch):
    bb = _load()
    build = tmp_path / "_build"
    (build / ".jupyter_cache").mkdir(parents=True)
    (build / ".inputs-sha256").write_text("old\n")
    monkeypatch.setattr(bb, "ROOT", tmp_path)
    monkeypatch.setattr(bb, "BUILD", build)
    monkeypatch.setattr(bb, "STAMP", build / ".inputs-sha256")
    monkeypatch.setattr(bb, "HASHED", [])
    calls = []
    monkeypatch.setattr(bb.subprocess, "call", lambda cmd, cwd, **kw: calls.append(cmd) or 0)
    assert bb.main([]) == 0
    assert not (build / ".jupyter_cache").exists()
    assert calls and calls[0][1:] == ["build", str(tmp_path), "-W", "-n", "--keep-going"]
    assert (build / ".inputs-sha256").read_text().split()[0] == bb.inputs_hash()
    (build / ".jupyter_cache" / "executed" / "abc").mkdir(parents=True)
    (build / ".jupyter_cache" / "executed" / "abc" / "base.ipynb").write_text("{}")
    (build / ".inputs-sha256").write_text(f"{bb.inputs_hash()}\n{bb.cache_fingerprint()}\n")
    assert bb.main([]) == 0  # unchanged inputs and cache: the cache stays
    assert (build / ".jupyter_cache").exists()
    # a plain jupyter-book build executed a page into the cache since: dropped
    (build / ".jupyter_cache" / "executed" / "def").mkdir()
    (build / ".jupyter_cache" / "executed" / "def" / "base.ipynb").write_text("{}")
    assert bb.main([]) == 0
    assert not (build / ".jupyter_cache").exists()


def _in_empty_repo(tmp_path, monkeypatch, hashed):
    """build_book.py run in ``tmp_path`` as its repository, with an empty ``_build`` and these trees hashed."""
    bb = _load()
    build = tmp_path / "_build"
    build.mkdir()
    monkeypatch.setattr(bb, "ROOT", tmp_path)
    monkeypatch.setattr(bb, "BUILD", build)
    monkeypatch.setattr(bb, "STAMP", build / ".inputs-sha256")
    monkeypatch.setattr(bb, "HASHED", hashed)
    return bb


def test_a_change_during_the_build_is_warned_about_and_not_recorded(tmp_path, monkeypatch, capsys):
    bb = _in_empty_repo(tmp_path, monkeypatch, ["data"])
    build = tmp_path / "_build"
    (tmp_path / "data").mkdir()

    def build_that_sees_a_commit(cmd, cwd, env=None, **kw):
        (tmp_path / "data" / "new-cell.json").write_text("{}")  # a sweep cell committed mid-build
        return 0
    monkeypatch.setattr(bb.subprocess, "call", build_that_sees_a_commit)
    assert bb.main([]) == 0
    assert "changed during the build" in capsys.readouterr().err
    assert not (build / ".inputs-sha256").exists()


def test_the_hash_follows_the_data_and_profiles_the_chapters_are_sent_to(tmp_path, monkeypatch):
    bb = _load()
    monkeypatch.setattr(bb, "HASHED", [])
    monkeypatch.delenv("ACTBOOK_DATA", raising=False)
    monkeypatch.delenv("ACTBOOK_PROFILES", raising=False)
    plain = bb.inputs_hash()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "r.json").write_text("{}")
    monkeypatch.setenv("ACTBOOK_DATA", str(tmp_path / "elsewhere"))
    with_data = bb.inputs_hash()
    assert with_data != plain
    (tmp_path / "elsewhere" / "r.json").write_text("{ }")
    assert bb.inputs_hash() != with_data
    (tmp_path / "p.json").write_text("{}")
    monkeypatch.setenv("ACTBOOK_PROFILES", str(tmp_path / "p.json"))
    assert bb.inputs_hash() not in (plain, with_data)


def test_the_build_says_it_made_the_copy_and_passes_on_absolute_data_paths(tmp_path, monkeypatch):
    """The provenance page reads ACTBOOK_BUILT_BY; pages execute in chapters/, so relative paths would move."""
    bb = _in_empty_repo(tmp_path, monkeypatch, [])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    monkeypatch.setenv("ACTBOOK_DATA", "mine")
    monkeypatch.delenv("ACTBOOK_PROFILES", raising=False)
    envs = []
    monkeypatch.setattr(bb.subprocess, "call", lambda cmd, cwd, env=None, **kw: envs.append(env) or 0)
    assert bb.main([]) == 0
    assert envs[0]["ACTBOOK_BUILT_BY"] == "scripts/build_book.py"
    assert envs[0]["ACTBOOK_DATA"] == str((tmp_path / "mine").resolve())


def test_the_provenance_page_runs_in_every_build():
    """Its front matter forces execution, and the book's extension has Sphinx read it again every time."""
    text = (ROOT / "chapters" / "provenance.md").read_text()
    assert "mystnb:\n  execution_mode: force\n---" in text
    spec = importlib.util.spec_from_file_location("book_fixes", ROOT / "_ext" / "book_fixes.py")
    fixes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixes)

    class Env:
        found_docs = {"chapters/provenance", "intro"}
    assert fixes._read_provenance_again(None, Env(), set(), set(), set()) == ["chapters/provenance"]
    assert fixes._read_provenance_again(None, Env(), set(), {"chapters/provenance"}, set()) == []


@pytest.mark.slow
def test_the_pdf_holds_every_chapter_its_figures_and_real_tables(built_book):
    """scripts/build_book.py --pdf (run by the built_book fixture where TeX Live is installed)."""
    import re
    import shutil
    if not all(shutil.which(t) for t in ("xelatex", "latexmk")):
        pytest.skip("TeX Live is not installed (CI installs it): no PDF")
    latex = ROOT / "_build" / "latex"
    pdf = latex / "actbook.pdf"
    assert pdf.stat().st_size > 500_000 and (built_book / "actbook.pdf").exists()
    tex = (latex / "actbook.tex").read_text().replace("\\sphinxhyphen{}", "-")
    for chapter in ("foundations", "sigmoid", "relu", "softmax", "vanishing_gradient", "training"):
        title = re.search(r"^# (.+)$", (ROOT / "chapters" / f"{chapter}.md").read_text(), re.M)[1]
        assert title.split(":")[0].split("(")[0].strip()[:20] in tex, chapter
    figures = sum(len(re.findall(r"^:\s+name: fig-", (ROOT / f"{c}.md").read_text(), re.M)) for c in _chapters())
    assert tex.count("includegraphics") >= figures  # \\sphinxincludegraphics
    assert tex.count("\\begin{tabulary}") + tex.count("\\begin{longtable}") + tex.count("\\begin{tabular}") >= 20
    assert "Traceback" not in tex  # every chapter executed
    assert 'download-book-pdf-button' in (built_book / "chapters" / "relu.html").read_text()


def test_a_relative_data_source_reaches_the_chapters_absolute_and_a_new_one_drops_the_cache(tmp_path, monkeypatch):
    bb = _load()
    monkeypatch.setattr(bb, "HASHED", [])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.tar.gz").write_bytes(b"a")
    (tmp_path / "b.tar.gz").write_bytes(b"bb")
    monkeypatch.setenv("ACTBOOK_CIFAR10", "a.tar.gz")
    assert bb.data_source() == str(tmp_path / "a.tar.gz")
    h_a = bb.inputs_hash()
    monkeypatch.setenv("ACTBOOK_CIFAR10", "b.tar.gz")
    assert bb.inputs_hash() != h_a
