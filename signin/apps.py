from django.apps import AppConfig


class SigninConfig(AppConfig):
    name = "signin"
    verbose_name = "Sign-in: single sign-on, SCIM provisioning and second factor"

    def ready(self):
        from signin import second_factor  # noqa: F401 - connects the sign-in receiver
