"""`make run` serves the address it prints: the web process started as the Makefile starts it
(honcho with the Procfile) on a fresh var/ and SQLite, on a free port given as README says."""

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


def _make_plan(env: dict) -> list[str]:
    """The commands `make run` would run, without running them."""
    out = subprocess.run(
        ["make", "-n", "run"],  # noqa: S607 - make from PATH, as a user runs it
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def _get(url: str, deadline: float) -> str:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own http address
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_make_run_serves_the_address_it_prints(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PORT")}
    env.update(PORT=str(port), CLOSEDLOST_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    env.pop("PYTEST_XDIST_WORKER", None)
    plan = _make_plan(env)
    printed = next(line for line in plan if line.startswith("echo") and "closedlost: http" in line)
    address = re.search(r"http://[\w.:]+", printed).group(0)
    assert address == f"http://127.0.0.1:{port}"
    honcho = next(line for line in plan if "honcho start" in line)
    mkdir = next(line for line in plan if line.startswith("mkdir -p"))
    assert str(tmp_path / "var") in mkdir
    subprocess.run(  # noqa: S603 - the Makefile's own line
        shlex.split(mkdir),
        cwd=ROOT,
        env=env,
        check=True,
        timeout=30,
    )
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v0"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True, timeout=120)  # noqa: S603

    log = open(tmp_path / "honcho.log", "w+b")  # noqa: SIM115 - honcho writes to it until stopped
    # The Makefile's honcho line, run by a shell as make runs it; its own process group, to stop it whole.
    process = subprocess.Popen(  # noqa: S602 - the Makefile's own line
        honcho, shell=True, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        page = _get(f"{address}/login/", deadline=time.monotonic() + 60)
        assert "Sign in" in page
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
    assert f"127.0.0.1:{port}" in output, output
