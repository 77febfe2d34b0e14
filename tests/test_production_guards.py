"""Production refuses unsafe defaults: demo users, e-mail that goes nowhere."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError

from teams.models import User

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.django_db
def test_seed_demo_refuses_production_settings_unless_forced(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="does not run with production settings"):
        call_command("seed_demo")
    assert not User.objects.filter(username="alice").exists()


@pytest.mark.parametrize(
    "email,expected",
    [
        ({"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}, "closedlost.E001"),
        ({"EMAIL_HOST_GIVEN": False}, "closedlost.E002"),
        ({"EMAIL_HOST_GIVEN": True, "EMAIL_HOST": "mail.closedlost.example"}, None),
    ],
)
def test_the_deploy_check_wants_a_real_mail_server(settings, email, expected):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    for name, value in email.items():
        setattr(settings, name, value)
    ids = {message.id for message in run_checks(include_deployment_checks=True)}
    assert ("closedlost.E001" in ids or "closedlost.E002" in ids) == (expected is not None)
    if expected:
        assert expected in ids


def test_production_without_an_e_mail_configuration_fails_check_deploy():
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
    env.update(
        DJANGO_PRODUCTION="1", SECRET_KEY="x" * 60 + "-check-deploy-only", ALLOWED_HOSTS="closedlost.example"
    )
    run = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert run.returncode != 0
    assert "closedlost.E002" in run.stderr + run.stdout and "EMAIL_HOST is not set" in run.stderr + run.stdout
