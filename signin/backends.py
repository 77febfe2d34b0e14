"""Password sign-in (Django's ModelBackend) that stops when an admin turns passwords off for
everyone but the break-glass admins. It covers every password entrance: the sign-in page and the
API's POST /api/token/."""

from django.contrib.auth.backends import ModelBackend

from signin import config as signin_config


class PasswordBackend(ModelBackend):
    def user_can_authenticate(self, user) -> bool:
        if not super().user_can_authenticate(user):
            return False
        return signin_config.current().password_allowed_for(user)
