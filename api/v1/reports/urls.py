"""Reports under /api/v1/: sums over a span, data issues, dead letters, the pipeline, export."""

from django.urls import path

from . import ai_code, blocks, export, ledger, usage, views

urlpatterns = [
    path("usage/", usage.UsageView.as_view(), name="usage"),
    path("ledger/", ledger.LedgerView.as_view(), name="ledger"),
    path("blocks/", blocks.BlocksView.as_view(), name="blocks"),
    path("tools/", views.ToolsView.as_view(), name="tools"),
    path("ai-code/", ai_code.AiCodeView.as_view(), name="ai-code"),
    path("errors/", views.ErrorsView.as_view(), name="errors"),
    path("acceptance/", views.AcceptanceView.as_view(), name="acceptance"),
    path("activity/", views.ActivityView.as_view(), name="activity"),
    path("productivity/", views.ProductivityView.as_view(), name="productivity"),
    path("data-issues/", views.DataIssueList.as_view(), name="data-issues"),
    path("data-issues/counts/", views.DataIssueCounts.as_view(), name="data-issue-counts"),
    path("dead-letters/", views.DeadLetterList.as_view(), name="dead-letters"),
    path("dead-letters/counts/", views.DeadLetterCounts.as_view(), name="dead-letter-counts"),
    path("dead-letters/<str:dead_letter_id>/", views.DeadLetterDetail.as_view(), name="dead-letter"),
    path("pipeline/", views.PipelineView.as_view(), name="pipeline"),
    path("export/", export.ExportView.as_view(), name="export"),
]
