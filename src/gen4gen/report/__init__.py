"""``RUN_DIR/report.html``: one self-contained page a person reads to judge a run (``gen4gen report RUN_DIR``;
``gen4gen run`` and ``gen4gen curate`` write it too).

Thumbnails (with the boxes drawn) are embedded, each linking to its full image in the run folder; the
histograms are inline SVG; nothing is fetched from anywhere. See :func:`write_report`.
"""

from gen4gen.report.page import REPORT, write_report

__all__ = ["REPORT", "write_report"]
