from django.urls import path

from crm import views
from crm.sync import views as sync_views

app_name = "crm"

urlpatterns = [
    path("", views.integrations, name="integrations"),
    path("handoffs/<str:kind>/publish/", views.handoffs_publish, name="handoffs-publish"),
    path("connections/<slug:kind>/", views.connection_edit, name="connection"),
    path("connections/<slug:kind>/reconcile/", views.reconcile_now, name="reconcile"),
    path("connections/<slug:kind>/sync/", sync_views.sync_start_view, name="sync-start"),
    path("connections/<slug:kind>/sync/<int:pk>/resume/", sync_views.sync_resume_view, name="sync-resume"),
    path("connections/<slug:kind>/sync/<int:pk>/", sync_views.sync_progress_view, name="sync-progress"),
    path("events/", views.event_list, name="events"),
    path("events/<int:pk>/", views.event_detail, name="event"),
    path("events/<int:pk>/replay/", views.event_replay, name="event-replay"),
    path("mappings/", views.mapping_list, name="mappings"),
    path("classify/", views.unmapped_list, name="unmapped"),
    path("classify/<int:pk>/", views.unmapped_classify, name="classify"),
    path("needs-reason/", views.needs_reason_list, name="needs-reason"),
    path("needs-reason/<int:pk>/", views.give_reason, name="give-reason"),
    path("syncs/<int:pk>/retry/", views.sync_retry, name="sync-retry"),
    path("owner-syncs/<int:pk>/retry/", views.owner_sync_retry, name="owner-sync-retry"),
    path("imports/", views.import_new, name="imports"),
    path("imports/<int:pk>/columns/", views.import_map, name="import-map"),
    path("imports/<int:pk>/review/", views.import_review_page, name="import-review"),
    path("imports/<int:pk>/", views.import_detail, name="import-detail"),
    path("imports/<int:pk>/problems.csv", views.import_errors_csv, name="import-errors-csv"),
]

webhook_urlpatterns = [
    path("hubspot/", views.hubspot_webhook, name="webhook-hubspot"),
    path("pipedrive/", views.pipedrive_webhook, name="webhook-pipedrive"),
    path("salesforce/", views.salesforce_webhook, name="webhook-salesforce"),
]
