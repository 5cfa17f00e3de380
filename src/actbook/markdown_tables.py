"""Tables print as tables in every output of the book.

In the HTML a pandas frame renders from its own HTML. Jupyter Book's LaTeX
builder cannot use HTML and falls back to the frame's plain text, a block of
monospaced characters. :func:`register` gives every frame (and every
``Styler``, with its formatting applied) a Markdown representation as well:
a pipe table, which MyST-NB parses into a real table for LaTeX. The HTML
still prefers the frame's own HTML.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["markdown_table", "register"]

#: Characters that mean something to MyST inside a table cell (``$`` starts math here).
_ESCAPE = str.maketrans({"|": r"\|", "$": r"\$", "*": r"\*", "`": r"\`", "\\": "\\\\", "<": r"\<"})


def _cell(value) -> str:
    return " ".join(str(value).split()).translate(_ESCAPE)


def _display_strings(table) -> pd.DataFrame:
    """A frame of the strings a ``Styler`` shows (its formatters applied), or of a frame's own values."""
    from pandas.io.formats.style import Styler
    if not isinstance(table, Styler):  # a frame: the precision its HTML shows (plotting.setup sets it)
        table = table.style.format(precision=pd.get_option("display.precision"))
    data = table.data
    shown = data.astype(object).copy()
    funcs = getattr(table, "_display_funcs", {})
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            f = funcs.get((i, j))
            shown.iat[i, j] = f(data.iat[i, j]) if f else data.iat[i, j]
    return shown


def markdown_table(table) -> str:
    """A pipe table of a ``DataFrame`` or ``Styler``: the index as the first columns, then the columns."""
    frame = _display_strings(table)
    names = ["" if n is None else str(n) for n in frame.index.names]
    index = frame.index.to_frame(index=False)
    columns = [" / ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in frame.columns]
    header = [*names, *columns]
    rows = [[*map(_cell, index.iloc[r]), *map(_cell, frame.iloc[r])] for r in range(len(frame))]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def register() -> None:
    """Give frames and stylers a ``text/markdown`` representation in this IPython session (no-op elsewhere)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    from pandas.io.formats.style import Styler
    formatter = shell.display_formatter.formatters["text/markdown"]
    formatter.for_type(pd.DataFrame, markdown_table)
    formatter.for_type(Styler, markdown_table)
