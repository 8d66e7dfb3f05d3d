from django.urls import path

from .team import TeamConnect
from .views import EventIngest

urlpatterns = [
    path("events", EventIngest.as_view(), name="events-ingest"),
    path("team/connect", TeamConnect.as_view(), name="team-connect"),
]
