"""A second factor for password accounts (django-otp): an authenticator app (TOTP) and ten
single-use recovery codes. django-otp keeps the devices, checks codes (with its throttling: each
failure doubles the wait) and marks the session verified; these are the pages and rules around it.

People who sign in through single sign-on leave the second factor to their identity provider.
"""

import re

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.dispatch import receiver
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp import verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from signin import config as signin_config
from signin.middleware import SECOND_FACTOR_SESSION_KEY
from signin.models import SigninChange
from teams.models import User

RECOVERY_CODES = 10
AUTHENTICATOR = "Authenticator app"
RECOVERY = "Recovery codes"


def second_factor_required(user: User) -> bool:
    """An admin must have one when the setting says so (password accounts only)."""
    return (
        user.is_revops_admin
        and user.has_usable_password()
        and signin_config.current().require_totp_for_admins
    )


def has_authenticator(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


@receiver(user_logged_in)
def _second_factor_at_sign_in(sender, request, user, **kwargs):
    """Work out once, at sign-in, whether this session must give a code (or set one up) first."""
    if request is None or not hasattr(request, "session"):
        return
    request.session.pop(SECOND_FACTOR_SESSION_KEY, None)
    if getattr(user, "backend", "").endswith("SsoBackend"):
        return
    if has_authenticator(user):
        request.session[SECOND_FACTOR_SESSION_KEY] = "verify"
    elif second_factor_required(user):
        request.session[SECOND_FACTOR_SESSION_KEY] = "setup"


@transaction.atomic
def recovery_codes_make(*, user: User) -> list[str]:
    """Ten new single-use codes (the old ones stop working); shown once."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    SigninChange.objects.create(actor=user, action="recovery_codes_made", detail={"user": user.pk})
    return codes


@transaction.atomic
def authenticator_confirm(*, user: User, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm a new authenticator with a code it shows; returns the recovery codes, or None if the
    code is wrong."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
    if not device.verify_token(code):
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    SigninChange.objects.create(actor=user, action="totp_added", detail={"user": user.pk})
    return recovery_codes_make(user=user)


@transaction.atomic
def second_factor_remove(*, user: User, actor: User) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    SigninChange.objects.create(actor=actor, action="totp_removed", detail={"user": user.pk})


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
        help_text="The 6 digits your authenticator app shows, or one of your recovery codes.",
    )

    def clean_code(self):
        return re.sub(r"\s+", "", self.cleaned_data["code"])


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/deals/"


def _verified(request, device) -> None:
    otp_login(request, device)
    request.session.pop(SECOND_FACTOR_SESSION_KEY, None)


def verify(request):
    """/signin/2fa/verify/: the second step of a password sign-in."""
    if not request.user.is_authenticated:
        return redirect("login")
    if request.session.get(SECOND_FACTOR_SESSION_KEY) != "verify":
        return redirect(_next(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        kind = TOTPDevice if code.isdigit() and len(code) == 6 else StaticDevice
        device = None
        for candidate in kind.objects.filter(user=request.user, confirmed=True):
            device = verify_token(request.user, candidate.persistent_id, code)
            if device:
                break
        if device is not None:
            _verified(request, device)
            if kind is StaticDevice:
                left = StaticToken.objects.filter(device__user=request.user).count()
                messages.warning(request, f"You used a recovery code; {left} left.")
            return redirect(_next(request))
        form.add_error("code", "That code is not right, or you tried too often: wait a moment and try again.")
    status = 400 if form.errors else 200
    return render(request, "signin/2fa_verify.html", {"form": form, "next": _next(request)}, status=status)


def setup(request):
    """/signin/2fa/setup/: add an authenticator app (scan the QR code, type a code it shows)."""
    user = request.user
    if not user.has_usable_password():
        messages.info(
            request, "You sign in through single sign-on: your identity provider asks for the second factor."
        )
        return redirect("signin:2fa")
    if has_authenticator(user) and request.session.get(SECOND_FACTOR_SESSION_KEY) == "verify":
        return redirect("signin:2fa-verify")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=False)
    form = CodeForm(request.POST or None)
    form.fields["code"].help_text = "The 6 digits your authenticator app shows after you add the account."
    if request.method == "POST" and form.is_valid():
        codes = authenticator_confirm(user=user, device=device, code=form.cleaned_data["code"])
        if codes is not None:
            _verified(request, TOTPDevice.objects.get(pk=device.pk))
            return render(request, "signin/2fa_codes.html", {"codes": codes, "next": _next(request)})
        form.add_error("code", "That code is not right: check the time on your phone and try the next one.")
    qr = segno.make(device.config_url, error="m").svg_inline(
        scale=4, title="QR code for your authenticator app"
    )
    secret = device.config_url.split("secret=")[1].split("&")[0]
    context = {"form": form, "qr": qr, "secret": secret, "next": _next(request)}
    return render(request, "signin/2fa_setup.html", context, status=400 if form.errors else 200)


def overview(request):
    """/signin/2fa/: your second factor: on or off, recovery codes left."""
    user = request.user
    context = {
        "sso_only": not user.has_usable_password(),
        "active": has_authenticator(user),
        "required": second_factor_required(user),
        "codes_left": StaticToken.objects.filter(device__user=user).count(),
    }
    return render(request, "signin/2fa.html", context)


@require_POST
def new_codes(request):
    if not has_authenticator(request.user) or not request.user.is_verified():
        return redirect("signin:2fa")
    codes = recovery_codes_make(user=request.user)
    return render(request, "signin/2fa_codes.html", {"codes": codes, "next": "/signin/2fa/"})


@require_POST
def remove(request):
    user = request.user
    if second_factor_required(user):
        messages.error(request, "Admins must keep a second factor here (an admin setting).")
    elif has_authenticator(user) and not user.is_verified():
        messages.error(request, "Sign in with your code first.")
    else:
        second_factor_remove(user=user, actor=user)
        messages.success(request, "Your authenticator app and recovery codes are removed.")
    return redirect("signin:2fa")
