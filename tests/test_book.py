"""The whole book builds strictly: every chapter executes, no warning."""

import pytest

from conftest import ROOT, toc_files as _chapters


@pytest.mark.slow
def test_book_builds_strictly(built_book):
    assert (built_book / "index.html").exists()
    for chapter in _chapters():
        assert (built_book / f"{chapter}.html").exists(), chapter


@pytest.mark.slow
def test_every_named_figure_is_executed(built_book):
    """Each figure a chapter names (``name: fig-...``) is in its page, with an image."""
    import re
    for chapter in _chapters():
        source = (ROOT / f"{chapter}.md").read_text()
        names = re.findall(r"^:\s+name: (fig-[\w-]+)", source, flags=re.M)
        html = (built_book / f"{chapter}.html").read_text()
        assert "Traceback" not in html, chapter
        for name in names:
            m = re.search(rf'<figure[^>]*id="{name}"[\s\S]*?</figure>', html)
            assert m and "<img" in m.group(0), f"{chapter}: figure {name} missing or has no image"


@pytest.mark.slow
def test_activation_chapters_have_two_figures_a_table_and_citations(built_book):
    import re
    for chapter in ["sigmoid", "relu", "leaky_relu", "prelu", "rrelu", "elu", "softmax", "after_2015"]:
        source = (ROOT / "chapters" / f"{chapter}.md").read_text()
        html = (built_book / "chapters" / f"{chapter}.html").read_text()
        assert len(re.findall(r"^:\s+name: fig-", source, flags=re.M)) >= 2, chapter
        assert "agreement_table(" in source and "max |diff| f" in html, chapter
        assert "{cite" in source, chapter


@pytest.mark.slow
def test_training_chapter_has_both_regimes_holm_and_figures(built_book):
    import re
    source = (ROOT / "chapters" / "training.md").read_text()
    html = (built_book / "chapters" / "training.html").read_text()
    assert len(re.findall(r"^:\s+name: fig-", source, flags=re.M)) >= 3
    for text in ("The answers, in one table", "Regime 1", "Regime 2", "p (Holm)", "per example and channel"):
        assert text in html, text
    assert 'href="earlier_sweeps.html#chapter-earlier"' in html  # the earlier design, linked from the prose


@pytest.mark.slow
def test_the_earlier_sweeps_keep_their_results_and_say_how_far_they_agree(built_book):
    html = (built_book / "chapters" / "earlier_sweeps.html").read_text()
    for text in ("bf16 (earlier)", "float32 (earlier)", "train error (inference mode)", "p (Holm)",
                 "data/earlier/bf16/overfit"):
        assert text in html, text


@pytest.mark.slow
def test_no_page_shows_a_rendering_fault(built_book):
    """No wrapped-sentence list, unrendered math, role or glue, NaN or cut-off table cell (tests/html_check.py)."""
    from html_check import page_problems
    problems = {}
    for chapter in ["intro", *_chapters()]:
        found = page_problems((built_book / f"{chapter}.html").read_text())
        if found:
            problems[chapter] = found
    assert not problems, "\n".join(f"{page}: {p}" for page, found in problems.items() for p in found)


@pytest.mark.slow
def test_glued_values_take_the_weight_of_their_text(built_book):
    """MyST-NB sets glued values in bold; the book's stylesheet undoes it."""
    html = (built_book / "chapters" / "training.html").read_text()
    assert "_static/actbook.css" in html
    css = (built_book / "_static" / "actbook.css").read_text()
    assert "span.pasted-text" in css and "font-weight: inherit" in css
