"""The key-account report: one offline HTML file per publication (``published/report.html``).

``source`` reads the published marts only (the published DuckDB file, or the PostgreSQL
``analytics`` schema), never the working warehouse; ``figures`` draws them with plotly;
``page`` assembles one self-contained file (plotly.js embedded) with a month picker.
``write_report`` is what the publish step and ``kam report`` call.
"""

from kam.report.page import REPORT_NAME, write_report

__all__ = ["REPORT_NAME", "write_report"]
