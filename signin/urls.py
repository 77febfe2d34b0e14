from django.contrib.auth.decorators import login_not_required
from django.urls import path

from signin import oidc, views

app_name = "signin"

urlpatterns = [
    path("settings/", views.signin_settings, name="settings"),
    path("settings/scim-token/", views.scim_token_new, name="scim-token"),
    path("settings/scim-token/revoke/", views.scim_token_delete, name="scim-token-revoke"),
    path("sso/", login_not_required(oidc.SsoStartView.as_view()), name="sso-start"),
    path("sso/callback/", login_not_required(oidc.SsoCallbackView.as_view()), name="sso-callback"),
]
