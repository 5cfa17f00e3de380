"""The built book in a real browser, offline: pages load, math is typeset,
figures load, the console is clean, nothing is fetched from the network."""

import re
import shutil

import pytest

from conftest import ROOT, toc_files

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")]


def _pages(html_root):
    pages = ["index"] + toc_files()
    return [html_root / f"{p}.html" for p in pages if p != "intro"]


def test_no_external_scripts_or_stylesheets(built_book):
    external = re.compile(r'<(script|link)\b[^>]*(src|href)="(https?:)?//', re.I)
    for page in built_book.rglob("*.html"):
        for tag in re.finditer(r"<(?:script|link)\b[^>]*>", page.read_text()):
            t = tag.group(0)
            if t.lower().startswith("<link") and "stylesheet" not in t and "preload" not in t:
                continue  # plain hyperlinks to other sites are fine
            assert not external.search(t), f"{page.relative_to(built_book)} loads {t}"


def test_pages_in_headless_chromium(built_book):
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        # Offline: anything that is not a local file is blocked and reported.
        requested_remote = []

        def route(r):
            if r.request.url.startswith("file://") or r.request.url.startswith("data:"):
                return r.continue_()
            requested_remote.append(r.request.url)
            return r.abort()
        context.route("**/*", route)
        for path in _pages(built_book):
            assert path.exists(), path
            page = context.new_page()
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri(), wait_until="load")
            # Wait for MathJax only where the page loads it; the configuration object
            # (window.MathJax without .startup) can exist before the library has run.
            page.wait_for_function("() => !document.querySelector('script[src*=\"mathjax\"]') || "
                                   "(window.MathJax && MathJax.startup && MathJax.startup.promise)",
                                   timeout=30_000)
            page.evaluate("() => (window.MathJax && MathJax.startup) ? MathJax.startup.promise : null")
            source = path.read_text()
            has_math = 'class="math' in source
            typeset = page.evaluate("() => document.querySelectorAll('mjx-container').length")
            raw = page.evaluate("() => document.querySelector('article') ? "
                                "document.querySelector('article').innerText.includes('$$') : false")
            broken = page.evaluate("""() => Array.from(document.images)
                .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)""")
            name = path.relative_to(built_book)
            if has_math and typeset == 0:
                problems.append(f"{name}: math not typeset")
            if raw:
                problems.append(f"{name}: raw $$ left in the text")
            if broken:
                problems.append(f"{name}: images not loaded: {broken}")
            if errors:
                problems.append(f"{name}: console errors: {errors}")
            if path.stem == "relu":
                shots = ROOT / "_build" / "screenshots"
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / "relu.png"), full_page=True)
            page.close()
        browser.close()
    assert not requested_remote, f"pages tried to reach the network: {sorted(set(requested_remote))[:10]}"
    assert not problems, "\n".join(problems)
    assert (ROOT / "_build" / "screenshots" / "relu.png").stat().st_size > 10_000
