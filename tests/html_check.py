"""What a reader must never see on a built page, found in the HTML.

- a list that Markdown made of a wrapped sentence: a source line that
  happened to begin with "1)", "+ " or "- " inside a paragraph (the paragraph
  before the list then stops mid-sentence);
- math that did not render or does not balance: TeX commands or dollar signs
  in the running text, unbalanced braces inside a formula;
- roles, directives or glue that did not render: ``{glue:text}``,
  ``{cite:t}``, a literal fence, or Markdown shown as typed (a backtick or
  a double asterisk in the running text: a glued text is not parsed);
- table cells that say NaN, None or <NA>, are cut short ("moment..."), or
  show an object's repr (``<LeakyReLU name=..., built=True>``).

:func:`page_problems` returns one line per problem, naming the page's text
around it, so a failing build check says where to look.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, NavigableString

#: Elements whose text is code or math, where TeX and braces are expected.
VERBATIM = {"code", "pre", "script", "style", "kbd", "samp", "textarea"}
MATH_CLASS = "math"
#: A paragraph that introduces a list ends in one of these (or in a closing bracket after one).
INTRODUCES = tuple(":.!?;")
UNRENDERED = re.compile(r"\{(?:glue|glue:text|glue:any|glue:figure|cite|cite:t|cite:p|ref|doc|numref|eq|math|"
                        r"term|download)[^}]*\}`|```\{")
TEX_IN_TEXT = re.compile(r"(?<![\w\\])\\(?:frac|sum|prod|mathrm|mathbf|sigma|alpha|beta|epsilon|partial|left|right|"
                         r"cdot|approx|leq|geq|infty|ln|exp|sqrt|operatorname)\b|\$")
#: Markdown that a glued text shows literally: a backtick, or a double asterisk meant as bold.
LITERAL_MARKDOWN = re.compile(r"`|\*\*")
BAD_CELL = re.compile(r"^(?:nan|NaN|None|<NA>|NaT)$|(?:\.\.\.|…)$|^<[A-Za-z_][\w.]* [^>]*>$|built=True")


def _in(node, names=(), css=None) -> bool:
    for parent in node.parents:
        if parent.name in names:
            return True
        if css and css in (parent.get("class") or []):
            return True
    return False


def _context(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width] + "..."


def _text_nodes(soup):
    """Text outside code, scripts and math."""
    for node in soup.find_all(string=True):
        if isinstance(node, NavigableString) and node.strip() and not _in(node, VERBATIM, MATH_CLASS):
            yield node


def wrapped_lists(soup) -> list[str]:
    """Lists that follow a paragraph ending mid-sentence (no blank line came between them in the source)."""
    out = []
    for lst in soup.find_all(["ol", "ul"]):
        if _in(lst, ("nav", "header", "footer")) or "toc" in " ".join(lst.get("class") or []):
            continue
        before = lst.find_previous_sibling()
        if before is None or before.name != "p":
            continue
        end = before.get_text().rstrip().rstrip(")]*_\"'”’")
        if end and not end.endswith(INTRODUCES):
            first = lst.find("li")
            out.append(f"a list made of a wrapped sentence after '...{_context(before.get_text()[-60:], 60)}' "
                       f"(first item '{_context(first.get_text() if first else '', 40)}')")
    return out


def unrendered(soup) -> list[str]:
    out = []
    for node in _text_nodes(soup):
        if UNRENDERED.search(node):
            out.append(f"unrendered role, directive or glue: '{_context(node)}'")
        elif TEX_IN_TEXT.search(node):
            out.append(f"TeX or a dollar sign outside math: '{_context(node)}'")
        elif LITERAL_MARKDOWN.search(node):
            out.append(f"Markdown shown as typed: '{_context(node)}'")
    return out


def unbalanced_math(soup) -> list[str]:
    out = []
    for node in soup.find_all(class_=MATH_CLASS):
        tex = re.sub(r"\\[{}]", "", node.get_text())
        depth = 0
        for ch in tex:
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth < 0:
                break
        if depth != 0:
            out.append(f"unbalanced braces in math: '{_context(node.get_text())}'")
        if len(re.findall(r"\\left(?![a-zA-Z])", tex)) != len(re.findall(r"\\right(?![a-zA-Z])", tex)):
            out.append(f"\\left without \\right in math: '{_context(node.get_text())}'")
    return out


def bad_cells(soup) -> list[str]:
    out = []
    for cell in soup.select("table td, table th"):
        text = " ".join(cell.get_text().split())
        if text and BAD_CELL.search(text):
            out.append(f"table cell '{_context(text, 50)}'")
    return out


def page_problems(html: str) -> list[str]:
    """Every problem of one built page (see the module's docstring)."""
    soup = BeautifulSoup(html, "html.parser")
    main = soup.find("main") or soup.find("article") or soup
    return wrapped_lists(main) + unrendered(main) + unbalanced_math(main) + bad_cells(main)
