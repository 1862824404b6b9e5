"""The lesson decks: every notebook exports to reveal.js slides with Rust highlighting; every deck
renders in headless Chromium at a projector's size with no slide cut off and no request that
leaves the machine; one deck prints to PDF (one page per slide).

The decks are exported as ``make slides`` does (``jupyter nbconvert --config
scripts/nbconvert_slides.py --to slides``) from executed notebooks, since outputs are what
overflows a slide: the executed copies test_notebooks.py keeps in tests/artifacts/notebooks/
when they are newer than the lesson and hold the same cells (pytest runs that file first),
otherwise the lessons are executed here, in the real kernel, once. reveal.js and RequireJS come
from local copies (scripts/web-assets.sh). Chromium is Debian's, driven by Playwright; one
screenshot per slide (and one scrolled to the end of a slide that scrolls) goes to
tests/artifacts/slides/<lesson>/, the PDF to tests/artifacts/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pypdf
import pytest


REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
ARTIFACTS = REPO / "tests" / "artifacts"
EXECUTED = ARTIFACTS / "notebooks"  # written by test_notebooks.py
# The deck opened in Chromium: the first lesson with processes in it, else whatever exists.
PREFERRED_DECK = "02-ProcessesBasics"

# reveal.js reads configuration from the query string too: print one page per slide, with
# fragments shown together and overlong slides clipped instead of continued on a new page.
PRINT_QUERY = "?print-pdf&pdfSeparateFragments=false&pdfMaxPagesPerSlide=1"
# Set by reveal.js's "pdf-ready" event (registered before any page script runs).
PDF_READY_HOOK = "window.__pdfReady = false; document.addEventListener('pdf-ready', () => { window.__pdfReady = true; });"


def expected_slide_count(nb) -> int:
    """Slides (innermost reveal.js sections) nbconvert makes from a notebook's metadata: the first
    visible cell always starts one; after it every `slide` or `subslide` cell starts one."""
    count = 0
    for cell in nb.cells:
        kind = cell.metadata.get("slideshow", {}).get("slide_type", "-")
        if kind in ("skip", "notes"):
            continue
        if count == 0 or kind in ("slide", "subslide"):
            count += 1
    return count


def _same_cells(a, b) -> bool:
    return [(c.cell_type, c.source) for c in a.cells] == [(c.cell_type, c.source) for c in b.cells]


@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory, kernel_spec_dir) -> list[Path]:
    """Every lesson with its outputs: test_notebooks.py's executed copy where it is current,
    else executed here (one nbconvert run for all that need it, unattended: see conftest)."""
    fresh = tmp_path_factory.mktemp("executed")
    paths, missing = [], []
    for nb_path in NOTEBOOKS:
        copy = EXECUTED / nb_path.name
        if (copy.exists() and copy.stat().st_mtime >= nb_path.stat().st_mtime
                and _same_cells(nbformat.read(copy, as_version=4), nbformat.read(nb_path, as_version=4))):
            paths.append(copy)
        else:
            missing.append(nb_path)
            paths.append(fresh / nb_path.name)
    if missing:
        subprocess.run(
            [sys.executable, "-m", "jupyter", "nbconvert", "--config", str(REPO / "scripts" / "nbconvert_slides.py"),
             "--to", "notebook", "--execute", "--output-dir", str(fresh), *map(str, missing)],
            check=True,
        )
    return paths


@pytest.fixture(scope="session")
def deck_dir(tmp_path_factory, executed_notebooks) -> Path:
    """A folder with the local web assets and every lesson exported as a deck."""
    out = tmp_path_factory.mktemp("decks")
    subprocess.run(["bash", str(REPO / "scripts" / "web-assets.sh"), str(out)], check=True)
    if executed_notebooks:
        subprocess.run(
            [sys.executable, "-m", "jupyter", "nbconvert", "--config", str(REPO / "scripts" / "nbconvert_slides.py"),
             "--to", "slides", "--output-dir", str(out), *map(str, executed_notebooks)],
            check=True,
        )
    return out


def test_there_are_notebooks_to_export():
    assert NOTEBOOKS, "no notebooks/*.ipynb to export"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_deck_has_every_slide_and_rust_highlighting(path: Path, deck_dir: Path):
    deck = deck_dir / f"{path.stem}.slides.html"
    assert deck.exists(), f"nbconvert wrote no {deck.name}"
    html = deck.read_text()
    nb = nbformat.read(path, as_version=4)
    # Local assets, not the CDN defaults.
    assert 'src="lib/require.js"' in html and '"reveal.js/dist/reveal.js"' in html
    assert "unpkg.com/reveal.js" not in html
    # nbconvert marks each highlighted code cell with the lexer it used: the kernel's
    # language_info.pygments_lexer must be rust, and pygments must have tokenised the code.
    code_cells = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()
                  and c.metadata.get("slideshow", {}).get("slide_type") not in ("skip", "notes")]
    if code_cells:
        assert 'class="highlight hl-rust"' in html, "code cells are not highlighted as Rust"
        assert re.search(r'<span class="(k|kd|kt|nf|fm)">', html), "no Rust keyword/function tokens highlighted"
    innermost = len(re.findall(r"<section(?:\s[^>]*)?>\s*(?!\s*<section)", html))
    assert innermost == expected_slide_count(nb), "slide count differs from the notebook's slide metadata"


# A projector's size (16:9, 720p): reveal.js scales its 960x700 slide area to fit it.
PROJECTOR = {"width": 1280, "height": 720}
# URLs a deck may load: its own files. Anything else would fail in an offline lecture hall.
LOCAL_URL = ("file:", "data:", "blob:", "about:")
SHOTS = ARTIFACTS / "slides"

# Finds what an audience would not see on the slide reveal.js shows now; returns
# {title, problems, scrolls}. A slide may be taller than the slide area only if it scrolls,
# says so, and scrolling brings its last element into view; an element whose content is wider or
# taller than its box is clipped unless it scrolls; text in a pre or code box must fit its width
# (wrapped) unless the box scrolls sideways.
MEASURE_SLIDE = """async () => {
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    const S = document.querySelector('.slides > section.present > section.present')
        || document.querySelector('.slides > section.present');
    const area = document.querySelector('.reveal .slides').getBoundingClientRect();
    const view = {top: 0, left: 0, bottom: innerHeight, right: innerWidth};
    const title = (S.querySelector('h1, h2, h3') || S).textContent.trim().slice(0, 60);
    const problems = [];
    const px = v => Math.round(v) + ' px';
    const scrolls = v => v === 'auto' || v === 'scroll';
    const name = e => e === S ? 'the slide' : e.tagName.toLowerCase()
        + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\\s+/).join('.') : '')
        + ' "' + e.textContent.trim().slice(0, 40) + '"';
    const r = S.getBoundingClientRect();
    const bottom = Math.min(area.bottom, view.bottom), top = Math.max(area.top, view.top);
    if (r.bottom > bottom + 1 || r.top < top - 1)
        problems.push('the slide is ' + px(r.height) + ' tall on screen, its area ' + px(bottom - top)
            + ': its content is cut off');
    if (r.right > Math.min(area.right, view.right) + 1 || r.left < Math.max(area.left, view.left) - 1)
        problems.push('the slide is wider than its area');
    for (const e of [S, ...S.querySelectorAll('*')]) {
        const cs = getComputedStyle(e);
        if (cs.display === 'inline' || cs.display === 'none' || e.getClientRects().length === 0) continue;
        const wide = e.scrollWidth > e.clientWidth + 1, tall = e.scrollHeight > e.clientHeight + 1;
        if (wide && !scrolls(cs.overflowX) && (cs.overflowX !== 'visible' || e === S || e.matches('pre, code')))
            problems.push(name(e) + ' is cut off at the right: ' + px(e.scrollWidth) + ' of content in '
                + px(e.clientWidth) + ' (overflow-x: ' + cs.overflowX + ', white-space: ' + cs.whiteSpace + ')');
        if (tall && !scrolls(cs.overflowY) && cs.overflowY !== 'visible')
            problems.push(name(e) + ' is cut off at the bottom: ' + px(e.scrollHeight) + ' of content in '
                + px(e.clientHeight));
    }
    const scrolling = scrolls(getComputedStyle(S).overflowY) && S.scrollHeight > S.clientHeight + 1;
    // The template's hint at the bottom edge: shown while there is more below, gone at the end.
    const hint = () => getComputedStyle(S, '::after');
    if (scrolling) {
        if (!hint().content.includes('more below') || hint().opacity !== '1')
            problems.push('the slide scrolls but does not say "more below"');
        S.scrollTop = S.scrollHeight;
        await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
        if (hint().opacity !== '0') problems.push('scrolled to its end, the slide still says "more below"');
        const last = [...S.children].filter(c => c.getClientRects().length).pop();
        const end = last ? last.getBoundingClientRect().bottom : 0;
        if (end > S.getBoundingClientRect().bottom + 1)
            problems.push('scrolled to the end, the slide still hides ' + px(end - S.getBoundingClientRect().bottom));
    }
    return {title, problems, scrolls: scrolling};
}"""


def notebook_needs_a_cdn(nb) -> str | None:
    """What in a lesson's Markdown needs a library the offline decks do not load, if anything:
    TeX math (MathJax) or a mermaid diagram. Code spans and blocks do not count."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        if re.search(r"^\s*```\s*mermaid", cell.source, re.MULTILINE):
            return "a mermaid diagram"
        prose = re.sub(r"```.*?```|`[^`]*`", "", cell.source, flags=re.DOTALL)
        if re.search(r"\$[^$\s][^$\n]*\$|\\\(|\\\[", prose):
            return "TeX math"
    return None


def show_every_slide(browser, deck: Path, shots: Path) -> dict:
    """Opens a deck in Chromium at the projector's size, shows each slide and screenshots it
    into ``shots``. Returns what went wrong: {"slides": [a line per problem], "remote": [URLs
    that would leave the machine], "failed": [local requests that failed], "errors": [script
    errors]}, and "count", the number of slides."""
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    context = browser.new_context(viewport=PROJECTOR)
    requests, failed, errors = [], [], []
    # Every request is logged; one leaving the machine is answered with an error at once (as
    # offline, without waiting for a time-out) and reported.
    context.route(lambda url: not url.startswith(LOCAL_URL), lambda route: route.abort("internetdisconnected"))
    page = context.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    page.on("pageerror", lambda e: errors.append(str(e)))
    # fragments=false: every fragment shown, as at the end of its slide.
    page.goto(deck.as_uri() + "?fragments=false")
    page.wait_for_selector(".reveal.ready", timeout=30_000)
    # reveal.js is an AMD module here (RequireJS loaded it), not a global.
    slides = page.evaluate("() => { const R = require('reveal.js/dist/reveal.js');"
                           " return R.getSlides().map(s => { const i = R.getIndices(s); return [i.h, i.v || 0]; }); }")
    problems = []
    for n, (h, v) in enumerate(slides, start=1):
        page.evaluate(f"() => require('reveal.js/dist/reveal.js').slide({h}, {v})")
        page.screenshot(path=str(shots / f"{n:02d}.png"))
        seen = page.evaluate(MEASURE_SLIDE)
        if seen["scrolls"]:
            page.screenshot(path=str(shots / f"{n:02d}-end.png"))
        problems += [f"slide {n} ({h}/{v}) {seen['title']!r}: {p}" for p in seen["problems"]]
    context.close()
    remote = [u for u in requests if not u.startswith(LOCAL_URL)]
    local_failed = [f for f in failed if f.startswith("file:")]
    return {"count": len(slides), "slides": problems, "remote": remote, "failed": local_failed, "errors": errors}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_slide_fits_and_the_deck_stays_offline(path: Path, deck_dir: Path, browser):
    needs = notebook_needs_a_cdn(nbformat.read(path, as_version=4))
    assert needs is None, f"{path.name} has {needs}: the offline decks do not load it (scripts/slides-template)"
    deck = deck_dir / f"{path.stem}.slides.html"
    seen = show_every_slide(browser, deck, SHOTS / path.stem)
    assert seen["count"] == expected_slide_count(nbformat.read(path, as_version=4)), "reveal.js shows a different slide count"
    assert not seen["slides"], f"{deck.name} at {PROJECTOR['width']}x{PROJECTOR['height']}:\n" + "\n".join(seen["slides"])
    assert not seen["remote"], f"{deck.name} requested {seen['remote']}: the decks must work offline"
    assert not seen["failed"], f"{deck.name}: local files failed to load: {seen['failed']}"
    assert not seen["errors"], f"{deck.name}: script errors: {seen['errors']}"


def test_a_clicker_scrolls_a_tall_slide_to_its_end_before_moving_on(deck_dir: Path, browser):
    """Presenters use a clicker (page down/up or arrow keys), not a mouse: "next" on a slide that
    scrolls must scroll it, and only at its end move to the next slide."""
    page = browser.new_page(viewport=PROJECTOR)
    where = lambda: page.evaluate("() => { const R = require('reveal.js/dist/reveal.js'); const i = R.getIndices();"
                                  " const s = R.getCurrentSlide(); return [i.h, i.v || 0, s.scrollTop, s.scrollHeight - s.clientHeight]; }")
    tall = None
    for path in NOTEBOOKS:
        page.goto((deck_dir / f"{path.stem}.slides.html").as_uri())
        page.wait_for_selector(".reveal.ready", timeout=30_000)
        tall = page.evaluate("""() => { const R = require('reveal.js/dist/reveal.js');
            for (const s of R.getSlides()) {
                R.slide(R.getIndices(s).h, R.getIndices(s).v);
                if (s.scrollHeight > s.clientHeight + 1) { const i = R.getIndices(s); return [i.h, i.v || 0]; }
            }
            return null; }""")
        if tall:
            break
    assert tall, "no deck has a slide that scrolls (nothing to check)"
    if tall[1] > 0:
        # From the slide before it, "right" moves on (every slide of a lesson is in one column).
        page.evaluate(f"() => require('reveal.js/dist/reveal.js').slide({tall[0]}, {tall[1] - 1})")
        page.keyboard.press("ArrowRight")
        assert where()[:2] == tall, "the right arrow does not move to the next slide"
    assert where()[2] == 0, "a slide is not shown from its top"
    seen = [where()]
    for _ in range(30):
        page.keyboard.press("PageDown")
        seen.append(where())
        if seen[-1][:2] != tall:
            break
    scrolled = [w for w in seen if w[:2] == tall]
    assert len(scrolled) >= 2 and scrolled[1][2] > 0, f"page down did not scroll the slide: {seen}"
    assert scrolled[-1][2] >= scrolled[-1][3] - 1, f"the deck moved on before the end of the slide: {seen}"
    assert seen[-1][:2] != tall, f"page down never moved on from the scrolled slide: {seen}"
    page.keyboard.press("PageUp")
    assert where()[:2] == tall, "page up does not go back"
    page.close()


def _chosen_deck(deck_dir: Path) -> Path:
    assert NOTEBOOKS, "no notebooks/*.ipynb"
    stems = [p.stem for p in NOTEBOOKS]
    stem = PREFERRED_DECK if PREFERRED_DECK in stems else stems[0]
    return deck_dir / f"{stem}.slides.html"


def test_deck_renders_slides_with_code_in_chromium(deck_dir: Path, browser):
    deck = _chosen_deck(deck_dir)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(deck.as_uri())
    # reveal.js adds "ready" to the .reveal element once it initialised: proof that RequireJS
    # and reveal.js loaded from the local copies and ran.
    page.wait_for_selector(".reveal.ready", timeout=30_000)
    assert page.locator("section.present").count() >= 1, "no slide is shown"
    # The first slide with Rust code on it, as reveal.js indices (horizontal, vertical).
    where = page.evaluate("""() => {
        const tops = [...document.querySelectorAll('.slides > section')];
        for (let h = 0; h < tops.length; h++) {
            const inner = tops[h].querySelectorAll(':scope > section');
            const slides = inner.length ? [...inner] : [tops[h]];
            for (let v = 0; v < slides.length; v++)
                if (slides[v].querySelector('.highlight.hl-rust')) return [h, v];
        }
        return null;
    }""")
    assert where, "no slide has highlighted Rust code"
    # fragments=false shows every fragment at once, so the screenshot shows the code.
    page.goto(deck.as_uri() + f"?fragments=false#/{where[0]}/{where[1]}")
    page.wait_for_selector(".reveal.ready", timeout=30_000)
    code = page.locator("section.present .highlight.hl-rust").first
    code.wait_for(state="visible", timeout=30_000)
    assert code.locator("span").count() > 3, "the code on the slide is not tokenised"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"slides-{deck.name.removesuffix('.slides.html')}.png"
    page.screenshot(path=str(shot))
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5_000, "the screenshot is empty"
    page.close()


def test_deck_prints_one_pdf_page_per_slide(deck_dir: Path, browser):
    deck = _chosen_deck(deck_dir)
    stem = deck.name.removesuffix(".slides.html")
    nb = nbformat.read(REPO / "notebooks" / f"{stem}.ipynb", as_version=4)
    page = browser.new_page()
    page.add_init_script(PDF_READY_HOOK)
    page.goto(deck.as_uri() + PRINT_QUERY)
    page.wait_for_function("() => window.__pdfReady === true", timeout=30_000)
    assert page.locator(".pdf-page").count() == expected_slide_count(nb)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdf = ARTIFACTS / f"slides-{stem}.pdf"
    # As an instructor's "Save as PDF" from Chrome: the page size reveal.js chose, backgrounds on.
    page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    page.close()
    pages = len(pypdf.PdfReader(pdf).pages)
    assert pages == expected_slide_count(nb), f"{pages} PDF pages for {expected_slide_count(nb)} slides"


# A histogram as the kernel sends it, with outcomes longer than the ≈17 characters the decks'
# styles used to leave them (table-layout: fixed, `pre` at 90% of its cell and wrapping).
EXPLORE_IN_A_DECK = r"""
let outcomes = explore(6, || {
    if std::process::id() % 2 == 0 { "Process-1 greeted first\nthen Process-2 said hello" } else { "Process-2 greeted first, Process-1 second" }
});
"""

MEASURE_OUTCOMES = r"""() => Array.from(document.querySelectorAll('section.present .multiproc-explore pre')).map(p => {
  const cs = getComputedStyle(p);
  const inner = p.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom);
  const slide = p.closest('section').getBoundingClientRect(), r = p.getBoundingClientRect();
  return {text: p.textContent, lines: p.textContent.split('\n').length, shown: Math.round(inner / parseFloat(cs.lineHeight)),
          cut: p.scrollWidth - p.clientWidth, inside: r.left >= slide.left - 0.5 && r.right <= slide.right + 0.5};
})"""


def test_an_explore_histogram_keeps_its_outcomes_whole_in_a_deck(kernel, browser, tmp_path):
    """The kernel's own histogram HTML, exported as a deck and shown by reveal.js: every outcome
    shows its lines as written (none wrapped, none cut), inside the slide."""
    from conftest import run_cell

    km, kc = kernel
    res = run_cell(kc, EXPLORE_IN_A_DECK, timeout=300)
    assert res.status == "ok", res.errors
    shown = [m["content"] for m in res.displays if "multiproc-explore" in m["content"]["data"].get("text/html", "")]
    assert len(shown) == 1, res.displays
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "rust-concurrency", "display_name": "Rust (concurrency)", "language": "rust"},
                   "language_info": {"name": "rust"}}
    cell = nbformat.v4.new_code_cell(EXPLORE_IN_A_DECK.strip())
    cell.metadata = {"slideshow": {"slide_type": "slide"}}
    cell.outputs = [nbformat.v4.new_output("display_data", data=shown[0]["data"])]
    nb.cells = [cell]
    nbformat.write(nb, tmp_path / "explore.ipynb")
    subprocess.run(["bash", str(REPO / "scripts" / "web-assets.sh"), str(tmp_path)], check=True)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--config", str(REPO / "scripts" / "nbconvert_slides.py"),
                    "--to", "slides", "--output-dir", str(tmp_path), str(tmp_path / "explore.ipynb")], check=True)
    page = browser.new_page(viewport=PROJECTOR)
    try:
        page.goto((tmp_path / "explore.slides.html").as_uri())
        page.wait_for_selector(".reveal.ready", timeout=30_000)
        outcomes = page.evaluate(MEASURE_OUTCOMES)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "slides-explore-histogram.png"))
    finally:
        page.close()
    assert outcomes, "no outcome shown on the slide"
    for o in outcomes:
        assert o["shown"] == o["lines"] and o["cut"] <= 0 and o["inside"], f"outcome {o['text']!r} wrapped or cut: {outcomes}"
