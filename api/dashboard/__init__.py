"""The web dashboard at `/`: Django templates, one page per subject, drawn by the browser from the page's
figures (a JSON object the view embeds, and that /ws/metrics pushes again when the slow path changes
what they are made of).

- filters.py   the page filters a URL (and a /ws/metrics connection) holds: zone, period, platform, ...
- pages/       one module per page: figures(PageFilters) -> dict, read through telemetry.selectors only
- views.py     thin: parse the filters, call the page's figures, render its template
- templates/dashboard/, static/dashboard/ (dashboard.js: formatting, colours, charts with their tables,
  the live connection; vendor/: Chart.js with its licence, so nothing comes from a CDN)
"""
