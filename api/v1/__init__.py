"""Version 1 of the REST API: every derived fact over HTTP, read through telemetry.selectors.

errors (one JSON error shape), params (shared query parameters), access (who may call), and one
module of views per subject; urls.py puts them under /api/v1/."""
