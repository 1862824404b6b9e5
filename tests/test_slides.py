"""The lesson decks: every notebook exports to reveal.js slides with Rust highlighting, and one
deck renders and prints to PDF (one page per slide) in headless Chromium.

The decks are exported exactly as ``make slides`` does (``jupyter nbconvert --config
scripts/nbconvert_slides.py --to slides``) but from the committed notebooks, without executing
them: test_notebooks.py already runs every notebook, and slide structure and code highlighting
do not depend on outputs. reveal.js, RequireJS and jQuery come from local copies
(scripts/web-assets.sh), so nothing needs a CDN. Chromium is Debian's, driven by Playwright;
the screenshot and the PDF are kept in tests/artifacts/.
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
# The deck opened in Chromium: the first lesson with processes in it, else whatever exists.
PREFERRED_DECK = "02-ProcessesBasics"

# Flags that let Debian's Chromium run headless, as root, on a machine without network.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
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


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, driven by Playwright (Chromium's own `--print-to-pdf` prints as soon as
    the page loaded, sometimes before reveal.js laid out the print pages: Playwright lets the test
    wait for reveal.js's own "ready" and "pdf-ready" signals instead)."""
    # A hard import: a missing package must fail the run, not skip the slides silently.
    import playwright.sync_api as sync_api
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert exe, "Chromium is needed for the slides tests (Debian: apt-get install chromium)"
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def deck_dir(tmp_path_factory) -> Path:
    """A folder with the local web assets and every notebook exported as a deck."""
    out = tmp_path_factory.mktemp("decks")
    subprocess.run(["bash", str(REPO / "scripts" / "web-assets.sh"), str(out)], check=True)
    if NOTEBOOKS:
        subprocess.run(
            [sys.executable, "-m", "jupyter", "nbconvert", "--config", str(REPO / "scripts" / "nbconvert_slides.py"),
             "--to", "slides", "--output-dir", str(out), *map(str, NOTEBOOKS)],
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
