from django.apps import AppConfig


class SigninConfig(AppConfig):
    name = "signin"
    verbose_name = "Sign-in: single sign-on, SCIM provisioning and second factor"
