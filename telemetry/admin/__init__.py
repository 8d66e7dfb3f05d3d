"""The read-only admin: raw events and units (raw.py), derived data (derived.py), on shared paging that
never counts a table (base.py) and filters that never scan one for their choices (filters.py)."""

from django.contrib import admin

from . import derived, raw  # noqa: F401 - registers the model admins

admin.site.site_header = "Blueplane"
admin.site.site_title = "Blueplane"
admin.site.index_title = "Telemetry"
