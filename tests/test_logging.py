"""Logs are JSON lines that keep what the code gives them, from the web process and the worker
alike; a refused request is one line, not a traceback."""

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.urls import reverse

from closedlost.logging import JsonFormatter, OneLineRefusals

ROOT = Path(__file__).resolve().parents[1]


def _handler() -> tuple[logging.Handler, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(OneLineRefusals())
    return handler, stream


def test_a_json_line_keeps_the_extra_fields():
    handler, stream = _handler()
    logger = logging.getLogger("closedlost.test")
    logger.addHandler(handler)
    try:
        logger.warning("Summary drift found", extra={"facts": 3, "rollup": 0})
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["message"] == "Summary drift found" and (entry["facts"], entry["rollup"]) == (3, 0)
    assert entry["level"] == "WARNING" and entry["logger"] == "closedlost.test" and "T" in entry["time"]


@pytest.mark.django_db
def test_a_refused_request_is_logged_as_one_line(client, world):
    handler, stream = _handler()
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        client.force_login(world.alice)
        assert client.get(reverse("taxonomy:index")).status_code == 403
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().strip().splitlines()
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert entry["message"].startswith("Forbidden") and "exc_info" not in entry


@pytest.mark.django_db(transaction=True)
def test_the_worker_logs_json_lines_too(tmp_path, settings):
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL for a real worker")
    log_path = tmp_path / "worker.log"
    env = {**os.environ, "LOG_FORMAT": "json", "REDIS_URL": settings.CELERY_BROKER_URL}
    with open(log_path, "w") as log:
        worker = subprocess.Popen(  # noqa: S603 - our own celery, fixed arguments
            [str(Path(sys.executable).parent / "celery"), "-A", "closedlost", "--quiet", "worker",
             "--pool=solo", "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-n", f"logtest-{os.getpid()}@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "ready" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
    # Everything up to Celery's own "Warm shutdown" print (not a log line) is JSON, warnings included.
    text = log_path.read_text().split("worker: Warm shutdown")[0]
    lines = [line for line in text.splitlines() if line.strip()]
    assert any("ready" in line for line in lines), lines
    for line in lines:
        entry = json.loads(line)  # every line a JSON object
        assert {"time", "level", "logger", "message"} <= set(entry), entry
