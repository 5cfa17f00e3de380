"""Small fixes to the HTML that Jupyter Book 1 produces.

- sphinx-thebe registers its configuration script twice under Jupyter Book
  1.0.4, so every page declared ``const THEBE_JS_URL`` twice and the browser
  logged a SyntaxError. Scripts with identical source and attributes are
  dropped after the first.
- The launch buttons (Colab, Binder) of a MyST Markdown chapter point at its
  ``.md``, which Colab cannot open. They are pointed at the chapter's
  generated notebook, ``notebooks/<chapter>.ipynb`` (``scripts/build_notebooks.py``).
- The download button's ``.ipynb`` is the executed chapter; its first cell
  becomes the same install cell, so the download runs outside a clone too.
- The provenance page states the commit the build ran at, so Sphinx reads it
  again in every build, not only when its own text changed; its front matter
  (``execution_mode: force``) then executes it instead of taking the cache.
- With ``ACTBOOK_PDF=<file name>`` (set by ``scripts/build_book.py --pdf``,
  which builds the PDF first), the download menu offers the whole book's PDF.
"""

import os
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import build_notebooks  # noqa: E402  (the one definition of the notebooks and their install cell)


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        # the two copies differ only in filename None versus ""
        key = (getattr(js, "filename", str(js)) or "", tuple(sorted(getattr(js, "attributes", {}).items())))
        if key in seen:
            continue
        seen.add(key)
        unique.append(js)
    scripts[:] = unique


def _point_launch_buttons_at_notebooks(app, pagename, templatename, context, doctree):
    source = f"{pagename}.md"
    target = f"notebooks/{Path(pagename).name}.ipynb"
    if not (ROOT / target).exists():  # a chapter, or the introduction, that is a notebook
        return
    for group in context.get("header_buttons") or []:
        if group.get("label") != "launch-buttons":
            continue
        for button in group.get("buttons", []):
            if "url" in button:
                button["url"] = button["url"].replace(source, target)


def _install_cell_in_download(app, pagename, templatename, context, doctree):
    if not context.get("ipynb_source"):
        return
    path = Path(app.outdir) / "_sources" / context["ipynb_source"]
    if not path.exists():
        return
    nb = nbformat.read(path, as_version=4)
    if nb.cells and build_notebooks.INSTALL_TAG in nb.cells[0].get("metadata", {}).get("tags", []):
        return
    nb.cells.insert(0, build_notebooks.install_cell())
    nbformat.write(nb, path)


def _offer_the_pdf(app, pagename, templatename, context, doctree):
    name = os.environ.get("ACTBOOK_PDF")
    if not name:
        return
    for group in context.get("header_buttons") or []:
        if group.get("label") == "download-buttons":
            group["buttons"].append({"type": "link", "url": context["pathto"](name, 1), "text": "book (PDF)",
                                     "tooltip": "Download the whole book as a PDF", "icon": "fas fa-book",
                                     "label": "download-book-pdf-button"})


PROVENANCE = "chapters/provenance"


def _read_provenance_again(app, env, added, changed, removed):
    return [PROVENANCE] if PROVENANCE in env.found_docs and PROVENANCE not in added | changed else []


def setup(app):
    app.connect("env-get-outdated", _read_provenance_again)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    for hook in (_point_launch_buttons_at_notebooks, _install_cell_in_download, _offer_the_pdf):
        app.connect("html-page-context", hook, priority=600)  # after the theme's buttons (501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
