"""Sessions and their derived rows (conversations, turns, tool calls, code changes), projects, models."""

from django.urls import path

from . import insights, views

urlpatterns = [
    path("sessions/", views.SessionList.as_view(), name="sessions"),
    path("sessions/<str:session_id>/", views.SessionDetail.as_view(), name="session"),
    path("sessions/<str:session_id>/timeline/", views.SessionTimeline.as_view(), name="session-timeline"),
    path("sessions/<str:session_id>/summary/", insights.SessionSummary.as_view(), name="session-summary"),
    path("sessions/<str:session_id>/similar/", insights.SessionSimilar.as_view(), name="session-similar"),
    path("sessions/<str:session_id>/events/", views.SessionEvents.as_view(), name="session-events"),
    path(
        "sessions/<str:session_id>/conversations/",
        views.SessionConversationList.as_view(),
        name="session-conversations",
    ),
    path("sessions/<str:session_id>/turns/", views.SessionTurnList.as_view(), name="session-turns"),
    path(
        "sessions/<str:session_id>/tool-calls/",
        views.SessionToolCallList.as_view(),
        name="session-tool-calls",
    ),
    path(
        "sessions/<str:session_id>/code-changes/",
        views.SessionCodeChangeList.as_view(),
        name="session-code-changes",
    ),
    path("conversations/", views.ConversationList.as_view(), name="conversations"),
    path("turns/", views.TurnList.as_view(), name="turns"),
    path("tool-calls/", views.ToolCallList.as_view(), name="tool-calls"),
    path("code-changes/", views.CodeChangeList.as_view(), name="code-changes"),
    path("projects/", views.ProjectList.as_view(), name="projects"),
    path("models/", views.ModelList.as_view(), name="models"),
]
