from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from closedlost import views
from crm.urls import webhook_urlpatterns as crm_webhook_urls

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="deals:list", permanent=False)),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health/", views.health, name="health"),
    path("deals/", include("deals.urls")),
    # urls: taxonomy, follow-ups, insights, api and crm add themselves below
    path("insights/", include("insights.urls")),
    path("taxonomy/", include("reasons.urls")),
    path("follow-ups/", include("followups.urls")),
    path("crm/", include("crm.urls")),
    path("outbox/", include("outbox.urls")),
    path("surveys/", include("surveys.urls")),
    path("webhooks/", include((crm_webhook_urls, "crm-webhooks"))),
    path("api/", include("closedlost.api")),
    path("admin/", admin.site.urls),
]
