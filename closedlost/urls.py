from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from closedlost import views
from crm.urls import webhook_urlpatterns as crm_webhook_urls
from people import passwords as people_passwords
from signin.views import SigninLoginView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="deals:list", permanent=False)),
    path("login/", SigninLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/reset/", people_passwords.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/", people_passwords.PasswordResetDoneView.as_view(), name="password_reset_done"
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        people_passwords.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        people_passwords.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("password/change/", people_passwords.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/change/done/",
        people_passwords.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("people/", include("people.urls")),
    path("health/", views.health, name="health"),
    path("deals/", include("deals.urls")),
    # urls: taxonomy, follow-ups, insights, api and crm add themselves below
    path("insights/review/", include("reviews.urls")),
    path("insights/", include("insights.urls")),
    path("taxonomy/", include("reasons.urls")),
    path("pipelines/", include("deals.pipeline_urls")),
    path("follow-ups/", include("followups.urls")),
    path("crm/", include("crm.urls")),
    path("outbox/", include("outbox.urls")),
    path("alerts/", include("alerts.urls")),
    path("surveys/", include("surveys.urls")),
    path("webhooks/", include((crm_webhook_urls, "crm-webhooks"))),
    path("api/", include("closedlost.api")),
    path("signin/", include("signin.urls")),
    path("scim/v2/", include("signin.scim_urls")),
    path("admin/", admin.site.urls),
]
