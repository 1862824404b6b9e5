# nbconvert configuration for the lesson decks (`make slides`, tests/test_slides.py):
#   jupyter nbconvert --config scripts/nbconvert_slides.py --to slides ...
# nbconvert's reveal template loads reveal.js, RequireJS, jQuery, MathJax and mermaid from CDNs
# by default; the decks load local copies of reveal.js and RequireJS instead
# (scripts/web-assets.sh puts them beside the decks) and our template (below) drops the rest, so
# they work in an offline lecture hall and print to PDF in CI.
c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)
c.SlidesExporter.reveal_url_prefix = "reveal.js"
c.SlidesExporter.require_js_url = "lib/require.js"
c.SlidesExporter.reveal_theme = "simple"
c.SlidesExporter.reveal_transition = "none"
c.SlidesExporter.reveal_number = "c/t"
# No "In [3]:" prompts: on a 960 px slide they take 110 px from the code beside them.
c.SlidesExporter.exclude_input_prompt = True
c.SlidesExporter.exclude_output_prompt = True
# Lessons run unattended and with short pauses when executed for the decks (see the Makefile).
c.ExecutePreprocessor.kernel_name = "rust-concurrency"
c.ExecutePreprocessor.timeout = 300
c.ExecutePreprocessor.startup_timeout = 180
# One output block per stream instead of one per stream message: consecutive stdout (or stderr)
# outputs of a cell are merged, in their order (a stdout, stderr, stdout run stays three blocks).
# nbconvert's own CoalesceStreamsPreprocessor runs before ExecutePreprocessor, so it would see no
# outputs with --execute; one listed here runs after it.
c.SlidesExporter.preprocessors = ["nbconvert.preprocessors.CoalesceStreamsPreprocessor"]
# Our template (scripts/slides-template/rc-slides) extends nbconvert's reveal template.
import os.path  # noqa: E402

c.SlidesExporter.extra_template_basedirs = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "slides-template")]
c.SlidesExporter.template_name = "rc-slides"
