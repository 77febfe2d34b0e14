"""Alert fixtures: a loopback fake Slack/Teams (records each POST; can answer 503 for a while),
and the real SMTP server and Celery workers of the follow-up tests."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from followups.tests.conftest import redis_clean, smtp_inbox, wait_for, workers  # noqa: F401
from tests.ports import free_port

HOOK_PORT = free_port()


class FakeHooks:
    """Incoming webhooks on loopback: `posts` holds (path, JSON body) of each POST it took;
    `down[path]` is how many more POSTs to that path it answers 503 (Slack/Teams having a bad day);
    `answers[path]` the (status, body) answers of the next POSTs there, in turn, as Slack and Teams
    give them (a revoked hook: 404 "no_service", 403 "invalid_token", ...; busy: 429)."""

    def __init__(self, port: int):
        self.posts: list[tuple[str, dict]] = []
        self.refused: list[str] = []
        self.down: dict[str, int] = {}
        self.answers: dict[str, list[tuple[int, bytes]]] = {}
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with fake.lock:
                    if fake.answers.get(self.path):
                        fake.refused.append(self.path)
                        status, answer = fake.answers[self.path].pop(0)
                    elif fake.down.get(self.path, 0) > 0:
                        fake.down[self.path] -= 1
                        fake.refused.append(self.path)
                        status, answer = 503, b"service unavailable"
                    else:
                        fake.posts.append((self.path, json.loads(body)))
                        status, answer = 200, b"ok"  # Slack answers "ok", Teams "1"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def to(self, path: str) -> list[dict]:
        with self.lock:
            return [body for where, body in self.posts if where == path]


@pytest.fixture
def fake_hooks(settings, monkeypatch):
    """The fake Slack/Teams, an allowed webhook host here and in the workers (as the fake CRMs are)."""
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    monkeypatch.setenv("ALERTS_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
    hooks = FakeHooks(HOOK_PORT)
    yield hooks
    hooks.server.shutdown()
    hooks.server.server_close()
