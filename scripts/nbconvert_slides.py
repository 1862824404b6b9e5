# nbconvert configuration for the lesson decks (`make slides`, tests/test_slides.py):
#   jupyter nbconvert --config scripts/nbconvert_slides.py --to slides ...
# nbconvert's reveal template loads reveal.js, RequireJS and jQuery from CDNs by default; the
# decks load local copies instead (scripts/web-assets.sh puts them beside the decks), so they
# work in an offline lecture hall and print to PDF in CI.
c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)
c.SlidesExporter.reveal_url_prefix = "reveal.js"
c.SlidesExporter.require_js_url = "lib/require.js"
c.SlidesExporter.jquery_url = "lib/jquery.min.js"
c.SlidesExporter.reveal_theme = "simple"
c.SlidesExporter.reveal_transition = "none"
c.SlidesExporter.reveal_number = "c/t"
# Lessons run unattended and with short pauses when executed for the decks (see the Makefile).
c.ExecutePreprocessor.kernel_name = "rust-concurrency"
c.ExecutePreprocessor.timeout = 300
c.ExecutePreprocessor.startup_timeout = 180
# Our template (scripts/slides-template/rc-slides) extends nbconvert's reveal template.
import os.path  # noqa: E402

c.SlidesExporter.extra_template_basedirs = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "slides-template")]
c.SlidesExporter.template_name = "rc-slides"
