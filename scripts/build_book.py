#!/usr/bin/env python3
"""Build the book strictly, never from a stale execution cache.

Jupyter Book caches executed notebooks keyed on the notebook text only: a
change in ``src/actbook`` or in the committed results under ``data/`` would
not re-execute anything. This script hashes those trees and, when the hash
differs from the one recorded at the last successful build, drops the
execution cache and Sphinx's saved environment before building. With
nothing changed, a rebuild re-executes nothing.

    python scripts/build_book.py            # strict build into _build/html
    python scripts/build_book.py --force    # drop every cache first
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
STAMP = BUILD / ".inputs-sha256"
HASHED = ["src/actbook", "data", "_ext", "references.bib", "_config.yml", "_toc.yml"]


def inputs_hash() -> str:
    """sha256 over every file under the trees the notebooks depend on."""
    h = hashlib.sha256()
    for rel in HASHED:
        path = ROOT / rel
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if "__pycache__" in f.parts or not f.exists():
                continue
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="drop every cache and re-execute all chapters")
    args = parser.parse_args(argv)

    digest = inputs_hash()
    previous = STAMP.read_text().strip() if STAMP.exists() else None
    if args.force or previous != digest:
        reason = "--force" if args.force else ("first build" if previous is None else "src/ or data/ changed")
        print(f"build_book: dropping execution cache ({reason})", flush=True)
        for stale in (BUILD / ".jupyter_cache", BUILD / ".doctrees", BUILD / "html", BUILD / "jupyter_execute"):
            shutil.rmtree(stale, ignore_errors=True)
        STAMP.unlink(missing_ok=True)

    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(ROOT), "-W", "-n", "--keep-going"]
    print("build_book:", " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=ROOT)
    if rc == 0:
        STAMP.write_text(digest + "\n")
        print(f"build_book: done, open {BUILD / 'html' / 'index.html'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
