"""The Celery app: settings come from Django's CELERY_* block; tasks live in telemetry.tasks."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blueplane.settings")

app = Celery("blueplane")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
