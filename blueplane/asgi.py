"""The one ASGI application `blueplane up` serves (uvicorn, see `manage.py runweb`).

Static files (the admin's, Swagger UI's and ReDoc's) are served by Django's staticfiles handler straight
from the installed apps: no collectstatic step, nothing to set up on a fresh machine, and it streams them
asynchronously. They are a few hundred kilobytes for one local user, not a CDN's load."""

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blueplane.settings")
application = ASGIStaticFilesHandler(get_asgi_application())
