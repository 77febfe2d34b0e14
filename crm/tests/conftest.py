"""CRM fixtures: one connection per CRM, the sample payloads, and a helper that processes
stored webhook events the way the Celery task does (by calling the same service)."""

import base64
import email
import email.policy
import hashlib
import hmac
import json
import logging
import threading
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from crm import services
from crm.models import CrmKind, WebhookEvent

SMTP_PORT = 8110  # this helper's own port range: 8108-8110
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HUBSPOT_SECRET = "7f1c2a3e-91b4-4d8e-a0c6-5b2f9e8d4c31"
PIPEDRIVE_USER, PIPEDRIVE_PASSWORD = "closedlost-hook", "a-long-pipedrive-hook-password"
SALESFORCE_TOKEN = "sf-outbound-token-3b9d0c"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sign_hubspot(*, secret: str, uri: str, body: bytes, timestamp: str | None = None, method: str = "POST"):
    """Headers HubSpot would send, computed here independently of crm.services."""
    timestamp = timestamp or str(int(time.time() * 1000))
    digest = hmac.new(
        secret.encode(), method.encode() + uri.encode() + body + timestamp.encode(), hashlib.sha256
    )
    return {
        "HTTP_X_HUBSPOT_SIGNATURE_V3": base64.b64encode(digest.digest()).decode(),
        "HTTP_X_HUBSPOT_REQUEST_TIMESTAMP": timestamp,
    }


def basic_auth(user: str, password: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def process_stored() -> list[services.Processed]:
    """Run every pending or failed event once, as the worker would."""
    ids = WebhookEvent.objects.filter(
        status__in=[WebhookEvent.Status.PENDING, WebhookEvent.Status.FAILED]
    ).values_list("pk", flat=True)
    return [services.webhook_event_process(event_id=pk) for pk in list(ids)]


@pytest.fixture
def connections(db):
    return {
        CrmKind.HUBSPOT: services.connection_create(
            kind=CrmKind.HUBSPOT, account_id="62515", webhook_secret=HUBSPOT_SECRET, api_token="hs-token-1234"
        ),
        CrmKind.PIPEDRIVE: services.connection_create(
            kind=CrmKind.PIPEDRIVE,
            account_id="12882925",
            webhook_username=PIPEDRIVE_USER,
            webhook_secret=PIPEDRIVE_PASSWORD,
            api_token="pd-token-5678",
        ),
        CrmKind.SALESFORCE: services.connection_create(
            kind=CrmKind.SALESFORCE,
            account_id="00D5e000000AbCdEAK",
            webhook_secret=SALESFORCE_TOKEN,
            api_token="sf-token-9012",
        ),
    }


@pytest.fixture
def hubspot_body():
    return fixture_bytes("hubspot_deal_closed_lost.json")


@pytest.fixture
def pipedrive_body():
    return fixture_bytes("pipedrive_deal_lost.json")


@pytest.fixture
def salesforce_body():
    return fixture_bytes("salesforce_opportunity_closed_lost.xml")


def hubspot_event(**overrides) -> dict:
    event = json.loads(fixture_bytes("hubspot_deal_closed_lost.json"))[0]
    event.update(overrides)
    return event


class Inbox:
    """What the loopback SMTP server received."""

    def __init__(self):
        self.messages: list = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_inbox(settings):
    """A real SMTP server (aiosmtpd) on loopback; Django sends to it."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=SMTP_PORT)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", SMTP_PORT, False
    settings.SITE_URL = "http://testserver"
    yield inbox
    controller.stop()
