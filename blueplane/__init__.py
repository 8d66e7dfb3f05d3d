"""Blueplane: local, privacy-first telemetry for AI-assisted coding.

The Celery app is not imported here, as Celery's Django guide suggests, but when Django's apps are
ready (telemetry.apps): importing the package must stay cheap, since `blueplane report` and the
statusline answer without Django or Celery (~0.15 s of imports). `celery -A blueplane` finds
blueplane/celery.py by itself.
"""
