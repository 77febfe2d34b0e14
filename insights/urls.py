from django.urls import path

from insights import views

app_name = "insights"

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("export/<slug:name>.csv", views.export_view, name="export"),
    path("findings/", views.findings_view, name="findings"),
    path("findings.csv", views.findings_export_view, name="findings-export"),
]
