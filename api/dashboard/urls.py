from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("sessions/", views.sessions, name="sessions"),
    path("sessions/<str:session_id>/", views.session, name="session"),
    path("sessions/<str:session_id>/timeline/", views.session_timeline, name="session-timeline"),
    path("sessions/<str:session_id>/events/", views.session_event, name="session-events-at"),
    path("sessions/<str:session_id>/events/<int:seq>/", views.session_event, name="session-event"),
    path("tools/", views.tools, name="tools"),
    path("projects/", views.projects, name="projects"),
    path("pipeline/", views.pipeline, name="pipeline"),
]
