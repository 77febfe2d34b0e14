"""Procfile.production: gunicorn with workers from the environment behind a TLS proxy, WhiteNoise
static files, a separate worker and one beat."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
HONCHO = Path(sys.executable).parent / "honcho"


def _processes() -> dict[str, str]:
    lines = (ROOT / "Procfile.production").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def test_process_types_web_from_the_environment_one_separate_beat():
    processes = _processes()
    assert set(processes) == {"release", "web", "worker", "beat"}
    assert processes["web"].startswith("gunicorn ") and "${WEB_CONCURRENCY" in processes["web"]
    assert " -B" not in processes["worker"] and "--beat" not in processes["worker"]
    assert processes["beat"].startswith("celery -A closedlost") and " beat " in processes["beat"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _get(url: str, headers: dict, deadline: float):
    opener = urllib.request.build_opener(_NoRedirect)
    while True:
        try:
            request = urllib.request.Request(url, headers=headers)  # noqa: S310 - our own http address
            with opener.open(request, timeout=5) as response:
                return response.status, dict(response.headers), response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), ""
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_gunicorn_serves_pages_and_static_files_behind_a_tls_proxy(tmp_path):
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PYTEST_XDIST_WORKER")
    }
    env.update(
        DJANGO_PRODUCTION="1", SECRET_KEY="test-only-" + "x" * 60, ALLOWED_HOSTS="closedlost.example",
        CLOSEDLOST_VAR_DIR=str(tmp_path / "var"), STATIC_ROOT=str(tmp_path / "static"),
        WEB_CONCURRENCY="2", PATH=f"{Path(sys.executable).parent}:{env['PATH']}", PYTHONUNBUFFERED="1",
    )  # fmt: skip
    (tmp_path / "var").mkdir()
    for command in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, timeout=180)  # noqa: S603
    log = open(tmp_path / "web.log", "w+b")  # noqa: SIM115 - honcho writes to it until stopped
    process = subprocess.Popen(  # noqa: S603 - our own honcho and Procfile
        [str(HONCHO), "start", "-f", "Procfile.production", "-p", str(port), "web"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    proxied = {"Host": "closedlost.example", "X-Forwarded-Proto": "https"}
    try:
        deadline = time.monotonic() + 60
        status, headers, _ = _get(f"{base}/login/", {"Host": "closedlost.example"}, deadline)
        assert status == 301 and headers["Location"] == "https://closedlost.example/login/"
        status, headers, page = _get(f"{base}/login/", proxied, deadline)
        assert status == 200 and "Sign in" in page
        assert "Strict-Transport-Security" in headers and "Secure" in headers.get("Set-Cookie", "Secure")
        css = re.search(r'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', page).group(1)
        status, headers, _ = _get(base + css, proxied, deadline)
        assert status == 200 and "max-age=315360000" in headers["Cache-Control"]  # WhiteNoise, hashed name
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.seek(0)
        output = log.read().decode(errors="replace")
        log.close()
    assert "Booting worker" in output and output.count("Booting worker") == 2, output
