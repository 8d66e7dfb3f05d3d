"""The one ASGI application `blueplane up` serves (uvicorn, see `manage.py runweb`).

Static files (the admin's, Swagger UI's and ReDoc's) are served by Django's staticfiles handler straight
from the installed apps: no collectstatic step, nothing to set up on a fresh machine, and it streams them
asynchronously. They are a few hundred kilobytes for one local user, not a CDN's load.

Request bodies are capped before Django reads them (api/limits.py): Django's ASGI handler would read
any length to a temporary file first."""

import os

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blueplane.settings")
django_application = get_asgi_application()

from api.limits import BodyLimit  # noqa: E402  (imports DRF, which needs the apps loaded)

application = BodyLimit(ASGIStaticFilesHandler(django_application), max_bytes=settings.API_INGEST_MAX_BYTES)
