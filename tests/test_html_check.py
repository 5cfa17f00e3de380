"""The build check finds what it is meant to find, and passes clean pages."""

import pytest

from html_check import page_problems

CLEAN = """<main>
<p>The rule has three parts:</p><ol><li>one</li><li>two</li></ol>
<p>A formula <span class="math notranslate nohighlight">\\(\\frac{1}{1 + e^{-x}}\\)</span> in a sentence.</p>
<div class="math notranslate nohighlight">\\[\\left(\\sum_i x_i\\right)\\]</div>
<pre><code>{glue:text}`kept in code` $x$ \\frac</code></pre>
<table><tr><th>activation</th><th>test error</th></tr><tr><td>ReLU</td><td>12.45%</td></tr></table>
</main>"""


def test_a_clean_page_has_no_problems():
    assert page_problems(CLEAN) == []


@pytest.mark.parametrize("html, found", [
    ("<main><p>one unit in the last place near</p><ol start='1'><li>and to rounding level</li></ol></main>",
     "wrapped sentence"),
    ("<main><p>the update is a sum</p><ul><li>epsilon times the gradient</li></ul></main>", "wrapped sentence"),
    ("<main><p>The slope is {glue:text}`tr_slope` here.</p></main>", "unrendered"),
    ("<main><p>As {cite:t}`xu2015empirical` say.</p></main>", "unrendered"),
    ("<main><p>the mean is $E[a] and then</p></main>", "dollar sign outside math"),
    ("<main><p>the ratio \\frac{1}{4} to the power</p></main>", "TeX"),
    ("<main><span class='math'>\\(\\frac{1}{4\\)</span></main>", "unbalanced braces"),
    ("<main><span class='math'>\\(\\left( x \\)</span></main>", "\\left without"),
    ("<main><table><tr><td>NaN</td></tr></table></main>", "table cell 'NaN'"),
    ("<main><table><tr><td>moment...</td></tr></table></main>", "table cell 'moment...'"),
    ("<main><table><tr><td>&lt;LeakyReLU name=leaky_re_lu, built=True&gt;</td></tr></table></main>", "table cell"),
    ("<main><p>what is left; `actbook.analysis.image_noise`) for</p></main>", "Markdown shown as typed"),
    ("<main><p>a **bold** word that a glued text did not parse</p></main>", "Markdown shown as typed"),
])
def test_each_fault_is_found(html, found):
    problems = page_problems(html)
    assert len(problems) == 1 and found in problems[0], problems


def test_backticks_and_asterisks_in_code_are_not_markdown_shown_as_typed():
    assert page_problems("<main><p>the power <code>2 ** 3</code> and <code>`x`</code></p><pre>**kw</pre></main>") == []


def test_arrows_are_not_taken_for_left_and_right():
    assert page_problems("<main><span class='math'>\\(a \\leftarrow b \\rightarrow c\\)</span></main>") == []
