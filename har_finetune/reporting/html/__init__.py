"""The report as a folder of HTML pages (issue 28): `<report>/index.html`, written beside REPORT.md from the same
report value, with the test images behind every number. Opens from file://, offline, with JavaScript off.

- browse.py      the browsing views as values: confusion cells with their images, mistakes per class, all-wrong
- suspects.py    suspect labels: cleanlab over the runs' pooled test probabilities (test_probabilities.csv)
- thumbnails.py  one small JPEG per test image, named by a hash (never by the user's id)
- bundle.py      figures from the run folders copied in, so the folder stands alone
- inline.py      the report's inline Markdown as escaped HTML
- pages.py       Jinja2 (autoescape) rendering of templates/ into index.html, cells/, classes/, assets/
- site.py        `write_html_report`: all of the above, in order

docs/plots_and_report.md documents the page and its stable `data-*` attributes.
"""
