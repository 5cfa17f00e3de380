"""Small fixes to the HTML that Jupyter Book 1 produces, found by the browser test.

sphinx-thebe registers its configuration script twice under Jupyter Book
1.0.4, so every page declared ``const THEBE_JS_URL`` twice and the browser
logged a SyntaxError. Scripts with identical source and attributes are
dropped after the first.
"""


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


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
