"""One path for every change: every Django admin registration of a product model is read-only
or saves and deletes through the services. A new registration that can write without going
through them fails here."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken

from teams.models import ApiTokenUse, User
from teams.services import api_token_issue, api_tokens_delete_expired

PRODUCT_APPS = {
    "teams", "reasons", "deals", "followups", "insights", "crm", "surveys", "outbox", "knox",
    "people", "signin", "alerts", "reviews",
}  # fmt: skip

# Admins that may write, each saving (or deleting) through the services named.
SERVICE_BACKED = {
    "knox.AuthToken": "teams.services.api_tokens_revoke (delete_model, delete_queryset)",
}
# Set-up rows once edited here (issue 24 built their pages and services): none may come back.
SET_UP_WITHOUT_SERVICES: set[str] = set()
WRITES = ("save_model", "delete_model", "delete_queryset", "save_related", "save_formset")


def _label(model) -> str:
    return f"{model._meta.app_label}.{model.__name__}"


def _permissions(model_admin, request) -> dict:
    return {
        "add": model_admin.has_add_permission(request),
        "change": model_admin.has_change_permission(request),
        "delete": model_admin.has_delete_permission(request),
    }


@pytest.fixture
def superuser_request(db):
    request = RequestFactory().get("/admin/")
    request.user = User(username="root", is_superuser=True, is_staff=True, is_active=True)
    return request


def test_every_registered_admin_is_read_only_or_writes_through_the_services(superuser_request):
    registered = {
        _label(model): model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in PRODUCT_APPS
    }
    assert "reasons.Reason" in registered and "knox.AuthToken" in registered  # the walk sees them
    bypassing = []
    for label, model_admin in sorted(registered.items()):
        if label in SET_UP_WITHOUT_SERVICES:
            continue
        can = _permissions(model_admin, superuser_request)
        for inline in model_admin.get_inline_instances(superuser_request):
            if any(_permissions(inline, superuser_request).values()):
                bypassing.append(f"{label}: inline {type(inline).__name__} can write")
        if not any(can.values()):
            continue  # read-only
        if label not in SERVICE_BACKED:
            bypassing.append(f"{label}: can {[k for k, v in can.items() if v]} and is not service-backed")
            continue
        # A service-backed admin overrides every write it allows (ModelAdmin's own saves directly).
        own = {name for name in WRITES if getattr(type(model_admin), name) is not getattr(ModelAdmin, name)}
        needed = {"save_model"} if can["add"] or can["change"] else set()
        needed |= {"delete_model", "delete_queryset"} if can["delete"] else set()
        if needed - own:
            bypassing.append(f"{label}: {sorted(needed - own)} not through the services")
    assert bypassing == []
    assert set(SERVICE_BACKED) | SET_UP_WITHOUT_SERVICES <= set(registered)  # no stale entries


def test_a_reason_cannot_be_changed_in_the_django_admin(client, world):
    root = User.objects.create_superuser("root", "root@closedlost.invalid", "a-long-test-password")
    client.force_login(root)
    reason = world.reasons["no-budget"]
    url = reverse("admin:reasons_reason_change", args=[reason.pk])
    assert client.get(url).status_code == 200  # to look at
    response = client.post(url, {"label": "Changed outside the services", "code": "x"})
    assert response.status_code == 403
    reason.refresh_from_db()
    assert reason.label != "Changed outside the services"
    assert client.post(reverse("admin:reasons_reason_add"), {"label": "New"}).status_code == 403
    assert (
        client.post(reverse("admin:reasons_reason_delete", args=[reason.pk]), {"post": "yes"}).status_code
        == 403
    )


def test_expired_tokens_of_every_user_are_deleted_by_the_scheduled_job(world, settings):
    from closedlost.settings import CELERY_BEAT_SCHEDULE
    from teams.tasks import delete_expired_tokens

    assert CELERY_BEAT_SCHEDULE["teams-delete-expired-tokens"]["task"] == delete_expired_tokens.name
    settings.API_TOKEN_EXPIRED_KEEP_DAYS = 7
    now = timezone.now()
    tokens = {
        name: api_token_issue(user=getattr(world, name), created_via="command")
        for name in ("alice", "bob", "dave")
    }
    expiry = {
        "alice": now - timedelta(days=8),
        "bob": now - timedelta(days=2),
        "dave": now + timedelta(days=5),
    }
    for name, issued in tokens.items():
        AuthToken.objects.filter(token_key=issued.prefix).update(expiry=expiry[name])
    assert delete_expired_tokens() == 1  # nobody made a new token: the job does it
    left = set(AuthToken.objects.values_list("user__username", flat=True))
    assert left == {"bob", "dave"}  # bob's still says "expired on ..." for a few days
    assert api_tokens_delete_expired(now=now + timedelta(days=6)) == 1
    assert set(AuthToken.objects.values_list("user__username", flat=True)) == {"dave"}


def test_the_token_list_shows_each_tokens_last_use(client, world, api_as):
    issued = api_token_issue(user=world.alice, created_via="command")
    unused = api_token_issue(user=world.bob, created_via="command")
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {issued.key}")
    assert api.get("/api/reasons/").status_code == 200
    use = ApiTokenUse.objects.get(token__token_key=issued.prefix)
    assert timezone.now() - use.last_used_at < timedelta(minutes=1)
    first = use.last_used_at
    assert api.get("/api/reasons/").status_code == 200  # within the minute: not written again
    assert ApiTokenUse.objects.get(pk=use.pk).last_used_at == first

    root = User.objects.create_superuser("root", "root@closedlost.invalid", "a-long-test-password")
    client.force_login(root)
    page = client.get(reverse("admin:knox_authtoken_changelist")).content.decode()
    row = page[page.index(issued.prefix) :].split("</tr>")[0]
    assert f"{first:%Y-%m-%d %H:%M}" in row
    assert "never" in page[page.index(unused.prefix) :].split("</tr>")[0]
    # Revoking one here goes through teams.services (and takes its use along).
    token = AuthToken.objects.get(token_key=issued.prefix)
    delete = reverse("admin:knox_authtoken_delete", args=[token.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not AuthToken.objects.filter(token_key=issued.prefix).exists()
    assert not ApiTokenUse.objects.exists()
    assert api.get("/api/reasons/").status_code == 401
