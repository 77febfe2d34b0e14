"""Password sign-in (Django's ModelBackend) that stops when an admin turns passwords off for
everyone but the break-glass admins. It covers every password entrance: the sign-in page and the
API's POST /api/token/, which also needs the second factor's code from a person who has one (the
pages ask for it on the next page instead)."""

from django.contrib.auth.backends import ModelBackend
from django_otp import verify_token
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from signin import config as signin_config


def _code_accepted(user, code: str) -> bool:
    code = "".join((code or "").split())
    kind = TOTPDevice if code.isdigit() and len(code) == 6 else StaticDevice
    for device in kind.objects.filter(user=user, confirmed=True):
        if verify_token(user, device.persistent_id, code):
            return True
    return False


class PasswordBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, code=None, **kwargs):
        # The rules apply when a password is given, not to every request's session (get_user).
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None or not signin_config.current().password_allowed_for(user):
            return None
        if request is None or not request.path.startswith("/api/"):
            return user
        if TOTPDevice.objects.filter(user=user, confirmed=True).exists() and not _code_accepted(user, code):
            return None
        return user
