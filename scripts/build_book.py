#!/usr/bin/env python3
"""Build the book strictly, never from a stale execution cache.

Jupyter Book caches executed notebooks keyed on their code cells only: a
change in the package or the data would not re-execute anything. This
script hashes these files and settings that the pages read (not the
installed packages, the Keras backend or the machine): every file under
``src/actbook``, ``data/`` and ``_ext/``, ``references.bib``,
``_config.yml`` and ``_toc.yml``; the CIFAR-10 source named by
``ACTBOOK_CIFAR10`` (its path, size and modification time; passed on as an
absolute path); and the data folder and profiles file that ``ACTBOOK_DATA``
and ``ACTBOOK_PROFILES`` name (passed on as absolute paths). When that hash
differs from the one recorded at its last successful build, or when another
build (a plain ``jupyter-book build``) executed pages into the cache since,
it drops the execution cache and Sphinx's saved environment before
building. With nothing changed, a rebuild re-executes only the provenance
page, which runs in every build. When the
hash or the commit changed during the build, it warns and records nothing,
so the next build re-executes every page. It sets ``ACTBOOK_BUILT_BY`` for
the build, which the provenance page reports.

    python scripts/build_book.py            # strict build into _build/html
    python scripts/build_book.py --force    # drop every cache first
    python scripts/build_book.py --pdf      # also the whole book as one PDF, offered by the HTML

The PDF is Jupyter Book's LaTeX builder run with XeLaTeX; on Debian or
Ubuntu its tools come from ``apt-get install texlive-latex-extra
texlive-latex-recommended texlive-fonts-recommended texlive-fonts-extra
texlive-xetex latexmk xindy`` (about 80 s; ``texlive-fonts-extra`` only for
``bbm.sty``, which Jupyter Book's preamble loads; ``xindy`` sorts the index,
which Sphinx builds with it under XeLaTeX). It lands in
``_build/latex/actbook.pdf`` and, copied, in ``_build/html/actbook.pdf``,
which every page's download menu links.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
STAMP = BUILD / ".inputs-sha256"
PDF = "actbook.pdf"  # latex_documents.targetname in _config.yml, as a PDF
TEX_TOOLS = ("latexmk", "xelatex", "xindy")
TEX_PACKAGES = ("texlive-latex-extra texlive-latex-recommended texlive-fonts-recommended texlive-fonts-extra "
                "texlive-xetex latexmk xindy")
HASHED = ["src/actbook", "data", "_ext", "references.bib", "_config.yml", "_toc.yml"]


def data_source() -> str | None:
    """``ACTBOOK_CIFAR10`` as an absolute path: chapters execute from ``chapters/``,
    so a path relative to where the build was started would not be found there."""
    value = os.environ.get("ACTBOOK_CIFAR10")
    return str(Path(value).expanduser().resolve()) if value else None


def inputs_hash() -> str:
    """sha256 over every file under the trees the notebooks depend on, over the
    CIFAR-10 source the chapters read (its path, size and modification time), and
    over the data folder and profiles file that ``ACTBOOK_DATA`` and
    ``ACTBOOK_PROFILES`` send the chapters to instead of the repository's."""
    h = hashlib.sha256()
    for var in ("ACTBOOK_DATA", "ACTBOOK_PROFILES"):
        value = os.environ.get(var)
        if value:
            path = Path(value).expanduser().resolve()
            h.update(f"{var}={path}\n".encode())
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for f in files:
                if f.is_file():
                    h.update(str(f).encode())
                    h.update(f.read_bytes())
    source = data_source()
    if source:
        info = Path(source).stat() if Path(source).exists() else None
        h.update(f"ACTBOOK_CIFAR10={source} {info.st_size if info else '-'} {info.st_mtime_ns if info else '-'}\n"
                 .encode())
    for rel in HASHED:
        path = ROOT / rel
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if "__pycache__" in f.parts or not f.exists():
                continue
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _head() -> str | None:
    """The commit checked out at the start of the build (None outside a git clone)."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def cache_fingerprint() -> str:
    """sha256 over the execution cache's executed notebooks (name, size, modification time):
    a plain ``jupyter-book build`` that executed a page since this script's last build
    changes it. (The cache's database is left out: every build updates its access times.)"""
    h = hashlib.sha256()
    cache = BUILD / ".jupyter_cache" / "executed"
    for f in sorted(p for p in cache.rglob("*") if p.is_file()) if cache.is_dir() else []:
        info = f.stat()
        h.update(f"{f.relative_to(cache)} {info.st_size} {info.st_mtime_ns}\n".encode())
    return h.hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="drop every cache and re-execute all chapters")
    parser.add_argument("--pdf", action="store_true", help="also build the whole book as a PDF (needs TeX Live)")
    args = parser.parse_args(argv)

    digest = inputs_hash()
    # The stamp: the inputs of the last build this script finished, and the cache as it left it.
    previous = STAMP.read_text().split() if STAMP.exists() else []
    if args.force or previous != [digest, cache_fingerprint()]:
        reason = ("--force" if args.force else "first build" if not previous
                  else "its inputs changed" if previous[0] != digest
                  else "the cache was written by another build since")
        print(f"build_book: dropping execution cache ({reason})", flush=True)
        for stale in (BUILD / ".jupyter_cache", BUILD / ".doctrees", BUILD / "html", BUILD / "jupyter_execute"):
            shutil.rmtree(stale, ignore_errors=True)
        STAMP.unlink(missing_ok=True)

    jb = Path(sys.executable).with_name("jupyter-book")
    base = [str(jb) if jb.exists() else "jupyter-book", "build", str(ROOT), "-W", "-n", "--keep-going"]
    env = dict(os.environ)
    started_at = _head() or ""  # something may be committed during a build: checked again at its end
    env["ACTBOOK_BUILT_BY"] = "scripts/build_book.py"  # the provenance page says which kind of build made it
    for var in ("ACTBOOK_DATA", "ACTBOOK_PROFILES"):  # pages execute in chapters/: pass on what was hashed
        if env.get(var):
            env[var] = str(Path(env[var]).expanduser().resolve())
    if data_source():
        env["ACTBOOK_CIFAR10"] = data_source()
    if args.pdf:
        missing = [tool for tool in TEX_TOOLS if shutil.which(tool) is None]
        if missing:
            print(f"build_book: --pdf needs {', '.join(missing)}; install them with\n"
                  f"  apt-get install {TEX_PACKAGES}", file=sys.stderr)
            return 2
        cmd = [*base, "--builder", "pdflatex"]
        print("build_book:", " ".join(cmd), flush=True)
        rc = subprocess.call(cmd, cwd=ROOT, env=env)
        if rc != 0 or not (BUILD / "latex" / PDF).exists():
            print(f"build_book: the PDF build failed (rc {rc}); see _build/latex/", file=sys.stderr)
            return rc or 1
        env["ACTBOOK_PDF"] = PDF  # the HTML's download menu links the PDF (_ext/book_fixes.py)
    print("build_book:", " ".join(base), flush=True)
    rc = subprocess.call(base, cwd=ROOT, env=env)
    if rc == 0 and (inputs_hash(), _head() or "") != (digest, started_at):
        # Pages that ran after the change saw other inputs than those before it: not one coherent copy.
        print("build_book: warning: src/, data/, the configuration or the commit changed during the build; "
              "its pages may mix the two states, and the next build re-executes every page", file=sys.stderr)
        STAMP.unlink(missing_ok=True)
    elif rc == 0:
        STAMP.write_text(f"{digest}\n{cache_fingerprint()}\n")
        if args.pdf:
            shutil.copy2(BUILD / "latex" / PDF, BUILD / "html" / PDF)
            print(f"build_book: PDF at {BUILD / 'latex' / PDF}")
        print(f"build_book: done, open {BUILD / 'html' / 'index.html'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
