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
from tests.ports import free_port

SMTP_PORT = free_port()  # one per test process, so `pytest -n` runs never collide
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


FAKE_CRM_PORT = free_port()


@pytest.fixture
def fake_crm(connections, settings):
    """The fake CRM on loopback; every connection's API address points at it (an allowed host)."""
    from crm.models import CrmConnection
    from crm.tests.fake_crm import start_fake_crm

    settings.CRM_ALLOWED_HOSTS = ["127.0.0.1"]
    fake = start_fake_crm(FAKE_CRM_PORT)
    CrmConnection.objects.update(base_url=fake.url)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def redis_clean(settings):
    """Empty this helper's Redis database so no message of an earlier test is delivered."""
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()


def wait_for(condition, *, timeout: float = 30, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@pytest.fixture
def crm_worker(transactional_db, redis_clean, tmp_path, settings):
    """A real Celery worker process on this helper's Redis database and the test database."""
    import os
    import signal
    import subprocess
    import sys

    from django.db import connection

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "CRM_RETRY_BASE_SECONDS": "0.5",
        "CRM_MAX_ATTEMPTS": "4",
        # The worker checks the CRM's address at each request: the test's allowed hosts go with it.
        "CRM_ALLOWED_HOSTS": ",".join(settings.CRM_ALLOWED_HOSTS),
        "LOG_LEVEL": "INFO",
    }
    log_path = tmp_path / "crm-worker.log"
    log = open(log_path, "w")  # noqa: SIM115 - the worker writes to it until stopped
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(  # noqa: S603 - our own celery, fixed arguments
        [
            str(Path(sys.executable).parent / "celery"), "-A", "closedlost", "worker", "--pool=prefork",
            "--concurrency=2", "--loglevel=INFO", "--without-gossip", "--without-mingle",
            "--without-heartbeat",
            "-n", f"crm-test-{os.getpid()}@%h",
        ],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    wait_for(lambda: "ready." in log_path.read_text(), timeout=60, message="the Celery worker")
    process.log_path = log_path
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    log.close()


from crm.tests.sync_world import people  # noqa: E402, F401 - the sync tests' empty closedlost
