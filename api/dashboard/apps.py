from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "api.dashboard"
    label = "dashboard"
