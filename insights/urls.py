from django.urls import path

from insights import rates_views, settings_views, views

app_name = "insights"

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("export/<slug:name>.csv", views.export_view, name="export"),
    path("rates/", rates_views.rates_view, name="rates"),
    path("settings/", settings_views.figure_settings_view, name="settings"),
    path("findings/", views.findings_view, name="findings"),
    path("findings.csv", views.findings_export_view, name="findings-export"),
]
