from django.contrib.auth.decorators import login_not_required
from django.urls import path

from signin import oidc, second_factor, views

app_name = "signin"

urlpatterns = [
    path("settings/", views.signin_settings, name="settings"),
    path("settings/scim-token/", views.scim_token_new, name="scim-token"),
    path("settings/scim-token/revoke/", views.scim_token_delete, name="scim-token-revoke"),
    path("2fa/", second_factor.overview, name="2fa"),
    path("2fa/setup/", second_factor.setup, name="2fa-setup"),
    path("2fa/verify/", second_factor.verify, name="2fa-verify"),
    path("2fa/recovery-codes/", second_factor.new_codes, name="2fa-codes"),
    path("2fa/remove/", second_factor.remove, name="2fa-remove"),
    path("sso/", login_not_required(oidc.SsoStartView.as_view()), name="sso-start"),
    path("sso/callback/", login_not_required(oidc.SsoCallbackView.as_view()), name="sso-callback"),
]
