"""Follow-up fixtures: a nurture sequence, deals with contacts, a real SMTP server (aiosmtpd on
loopback) and real Celery workers (separate processes on this run's Redis database and the
test database)."""

import asyncio
import email
import email.policy
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection

from deals.factories import ContactFactory
from followups.models import NurtureSequence, NurtureStep, StepAction
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).parent / "celery"
SMTP_PORT = free_port()  # one per test process, so `pytest -n` runs never collide


def wait_for(condition, *, timeout: float = 30, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@pytest.fixture
def sequence(db) -> NurtureSequence:
    """Day 1: a task for the owner; day 2 and day 5: emails to the contact."""
    sequence = NurtureSequence.objects.create(name="Test nurture")
    for position, (days, action, subject, body) in enumerate(
        [
            (1, StepAction.OWNER_TASK, "Call {{ contact.first_name }} at {{ deal.account }}",
             "Ask what changed."),
            (2, StepAction.CONTACT_EMAIL, "What changed at {{ account.name }}?",
             "Hi {{ contact.first_name }},\n\nHas anything changed at {{ account.name }}?\n\n"
             "{{ owner.first_name }}"),
            (5, StepAction.CONTACT_EMAIL, "Worth another look?", "Hi {{ contact.first_name }}, still there?"),
        ],
        start=1,
    ):  # fmt: skip
        NurtureStep.objects.create(
            sequence=sequence,
            position=position,
            days_after_close=days,
            action=action,
            subject=subject,
            body=body,
        )
    return sequence


@pytest.fixture
def lost_deal(world):
    """A factory: an open deal of `owner` with one contact (name, email) per call."""

    def make(owner: str = "alice", contacts=(("Noor Birch", "noor@birch.example"),), **kwargs):
        deal = world.deal(owner=owner, **kwargs)
        for name, address in contacts:
            deal.contacts.add(ContactFactory(account=world.account, name=name, email=address))
        return deal

    return make


class Inbox:
    """What the SMTP server received; `refuse` holds addresses it answers 550 for."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.refuse: set[str] = set()
        self.refused: list[tuple[str, float]] = []  # (address, time.monotonic()) of each refusal
        self.hold_from: int | None = None  # once this many arrived, every RCPT waits for release()
        self.held: set[int] = set()  # SMTP sessions waiting in RCPT
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.hold_from is not None and self.count() >= self.hold_from:
            self.held.add(id(session))
            try:
                while self.hold_from is not None:
                    await asyncio.sleep(0.01)
            finally:
                self.held.discard(id(session))
        if address.lower() in self.refuse:
            self.refused.append((address.lower(), time.monotonic()))
            return "550 5.1.1 Mailbox unavailable: refused by the test server"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        with self._lock:
            return [m for m in self.messages if address in m["To"]]

    def release(self) -> None:
        self.hold_from = None

    def count(self) -> int:
        with self._lock:
            return len(self.messages)


@pytest.fixture
def smtp_inbox():
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=SMTP_PORT)
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture
def redis_clean():
    """Empty this run's Redis database so no message of an earlier test is delivered."""
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()


class Workers:
    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen] = []
        self.names: list[str] = []  # each worker's node name, for remote control (inspect)

    def env(self) -> dict:
        db = connection.settings_dict
        database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
        return {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": settings.CELERY_BROKER_URL,
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(SMTP_PORT),
            "SITE_URL": "http://testserver",
            "FOLLOWUPS_RETRY_BACKOFF": "1",
            "FOLLOWUPS_MAX_ATTEMPTS": "3",
            "FOLLOWUPS_DISPATCH_EVERY": "3",  # beat's tick, every minute in production
            "LOG_LEVEL": "INFO",
            # CRM calls check the address at each request: the test's allowed hosts go along.
            "CRM_ALLOWED_HOSTS": ",".join(settings.CRM_ALLOWED_HOSTS),
        }

    def start(self, *, concurrency: int = 2, beat: bool = False) -> subprocess.Popen:
        """Start a worker process (with beat: `-B`) and wait until it is ready to take tasks."""
        number = len(self.processes) + 1
        self.names.append(f"followups-test-{number}-{os.getpid()}@{socket.gethostname()}")
        beat_args = ["-B", f"--schedule={self.tmp_path / f'beat-{number}'}"] if beat else []
        log_path = self.tmp_path / f"worker-{number}.log"
        log = open(log_path, "w")  # noqa: SIM115 - the worker writes to it until stopped
        process = subprocess.Popen(  # noqa: S603 - our own celery, fixed arguments
            [
                str(CELERY), "-A", "closedlost", "worker", "--pool=prefork", f"--concurrency={concurrency}",
                "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "-n", self.names[-1], *beat_args,
            ],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.processes.append(process)
        wait_for(lambda: "ready." in log_path.read_text(), timeout=60, message=f"worker {number} ready")
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the worker and its pool children at once (no warm shutdown, no acks)."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)

    def idle(self, name: str) -> bool:
        """The broker holds no message waiting for a worker, and worker `name` runs or holds no
        task (messages a killed worker had taken stay unacknowledged: they are not waiting)."""
        import redis

        from closedlost.celery import app

        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        waiting = sum(client.llen(key) for key in client.scan_iter() if client.type(key) == b"list")
        if waiting:
            return False
        inspect = app.control.inspect(destination=[name], timeout=2)
        active, reserved = inspect.active() or {}, inspect.reserved() or {}
        return name in active and not active[name] and not reserved.get(name)

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp_path.glob("worker-*.log")))


@pytest.fixture
def workers(transactional_db, redis_clean, smtp_inbox, tmp_path):
    """Start real Celery workers with `workers.start()`; all are stopped after the test."""
    pool = Workers(tmp_path)
    yield pool
    pool.stop_all()
