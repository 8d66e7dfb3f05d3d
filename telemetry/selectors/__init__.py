"""The one read surface, by subject: every interface (CLI, admin, API, MCP server, dashboard) reads here.

traces.py (raw events and units), sessions.py, usage.py (tokens and cost), ccusage.py (the same in
ccusage's JSON shapes, built by ccusage_shapes.py from rows the ORM or ccusage_readonly.py's sqlite3
sums alike), tools.py, errors.py (tool errors by message hash, data issues by kind),
activity.py (activity totals, the productivity score, acceptance of AI edits), derived.py (lists of
derived rows, projects and models with their totals), timeline.py (a session's rows merged in time
order), keyset.py (pages of any ordered list by position, never by offset), export.py (tables for
export, read from a cursor; export_formats.py writes them as JSON, JSON Lines, CSV, Markdown or Parquet), deadletters.py, system.py (database, Redis, stream and pipeline state),
blocks.py (ccusage's 5-hour blocks), ratelimits.py (the official rate limits the status line saw), and
for the status line and `report` without Django: sqlitefile.py and readonly.py (the store opened with
sqlite3), glance.py (the status line's figures); session_analysis.py (one session taken apart),
breakdown.py (a session by tool, file extension and kind of turn), similar.py (past sessions like
one), current.py (today's and the current session's figures, for `watch`), health.py and metrics.py
(/healthz and /metrics).
Lists come back as QuerySets (an API filters and paginates them); sums and reports as typed records
(TypedDicts) that serialize to JSON as they are, money as Decimal USD (the CLI and API write it as a
JSON number). Selectors never write.
"""
