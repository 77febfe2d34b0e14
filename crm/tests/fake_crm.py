"""A real HTTP server on loopback that plays a CRM's API: it records every request and
answers from a script (e.g. 429 with Retry-After, then 200)."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: dict | None
    at: float


@dataclass
class FakeCrm:
    server: ThreadingHTTPServer
    requests: list[Recorded] = field(default_factory=list)
    script: list[tuple[int, dict, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Read endpoints: (method, path prefix, handler(path with query, JSON body) -> (status, JSON)).
    routes: list = field(default_factory=list)
    # The next this many reads answer `failing_status` (the CRM is down for a while).
    failing: int = 0
    failing_status: int = 500
    # The CRM's check of a request's credentials: (method, path, headers) -> None, or the
    # refusal (status, JSON) it answers instead (e.g. a Pipedrive personal token sent as Bearer).
    guard: object = None

    def fail_reads(self, count: int, status: int = 500) -> None:
        with self.lock:
            self.failing, self.failing_status = count, status

    def serve(self, method: str, prefix: str, handler) -> None:
        with self.lock:
            self.routes.append((method, prefix, handler))

    def refusal(self, method: str, path: str, headers: dict) -> tuple[int, dict] | None:
        return self.guard(method, path, headers) if self.guard else None

    def route(self, method: str, path: str, body) -> tuple[int, dict]:
        with self.lock:
            if self.failing > 0:
                self.failing -= 1
                return self.failing_status, {"status": "error", "message": "internal error"}
            matches = [r for r in self.routes if r[0] == method and path.startswith(r[1])]
        if not matches:
            return 404, {"message": f"no fake route for {method} {path}"}
        return max(matches, key=lambda r: len(r[1]))[2](path, body)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, *responses: tuple[int, dict, dict]) -> None:
        """Queue answers (status, headers, JSON body); after them every request gets 200."""
        with self.lock:
            self.script.extend(responses)

    def next_answer(self) -> tuple[int, dict, dict]:
        with self.lock:
            return self.script.pop(0) if self.script else (200, {}, {"id": "ok"})

    def wait_for_requests(self, count: int, timeout: float = 30) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"the fake CRM got {len(self.requests)} requests, expected {count}")


def start_fake_crm(port: int) -> FakeCrm:
    fake: FakeCrm

    class Handler(BaseHTTPRequestHandler):
        def do_PATCH(self):  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = {"unparsed": raw.decode(errors="replace")}
            with fake.lock:
                fake.requests.append(Recorded("PATCH", self.path, dict(self.headers), body, time.monotonic()))
                served = any(r[0] == "PATCH" and self.path.startswith(r[1]) for r in fake.routes)
                scripted = bool(fake.script)
            refused = fake.refusal("PATCH", self.path, dict(self.headers))
            if refused:
                (status, payload), headers = refused, {}
            elif served and not scripted:  # a fake CRM that keeps records: the record takes the change
                status, payload = fake.route("PATCH", self.path, body)
                headers = {}
            else:
                status, headers, payload = fake.next_answer()
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _read(self, method: str):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            with fake.lock:
                fake.requests.append(Recorded(method, self.path, dict(self.headers), body, time.monotonic()))
            refused = fake.refusal(method, self.path, dict(self.headers))
            status, payload = refused or fake.route(method, self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 - http.server's naming
            self._read("GET")

        def do_POST(self):  # noqa: N802 - http.server's naming
            self._read("POST")

        def log_message(self, *args):  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    fake = FakeCrm(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake
