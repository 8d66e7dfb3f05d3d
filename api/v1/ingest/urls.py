from django.urls import path

from .views import EventIngest

urlpatterns = [
    path("events", EventIngest.as_view(), name="events-ingest"),
]
