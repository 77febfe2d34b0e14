"""Benchmark: store-only webhook ingest against a trivial view, same server, same middleware.

gunicorn serves the app with 4 sync workers (as in production). A load generator in a second
process (a threaded keep-alive HTTP client) POSTs signed HubSpot deliveries to
/webhooks/hubspot/ (the signature is checked, the events stored under their dedupe keys, their
processing handed to the outbox) and the same bodies to /bench/trivial-webhook/ (no signature,
no database). Rounds alternate between the two so that a busy machine slows both alike; the
figures are the medians over the rounds, and the ratio is webhook / trivial, both as the ratio
of the medians and as the median of each round's own ratio.

--profile instead runs the receive path in this process under cProfile (Django's test client,
no server) and prints where the time goes.

Usage (PostgreSQL and Redis required):
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/cl_bench REDIS_URL=redis://127.0.0.1:6379/0 \\
    .venv/bin/python bench/bench_ingest.py [--rounds 5] [--requests 600] [--threads 8] [--batch 1]
"""

import argparse
import http.client
import multiprocessing
import os
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WEBHOOK, TRIVIAL = "/webhooks/hubspot/", "/bench/trivial-webhook/"


def _client(port: int, path: str, requests: list, threads: int, answer) -> None:
    """The load generator (in its own process): every request once, over keep-alive connections."""
    lock, position, statuses = threading.Lock(), [0], {}

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                index = position[0]
                position[0] += 1
            if index >= len(requests):
                conn.close()
                return
            body, headers = requests[index]
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = "error"
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    answer.send((time.perf_counter() - started, statuses))


def fire(port: int, path: str, requests: list, threads: int) -> tuple[float, dict]:
    """Run the load generator in a second process; (requests per second, status counts)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_client, args=(port, path, requests, threads, send))
    process.start()
    seconds, statuses = receive.recv()
    process.join()
    return len(requests) / seconds, statuses


def bench(rounds: int, count: int, threads: int, batch: int, workers: int) -> None:
    import redis
    from django.conf import settings

    from bench import bench_crm
    from crm.models import WebhookEvent

    first_event = int(time.time() * 1000) * 10  # fresh event ids every run
    server = bench_crm.start_server(workers)
    port = bench_crm.PORT
    rates = {WEBHOOK: [], TRIVIAL: []}
    try:
        warm = bench_crm.signed_requests(100, batch, first_event)
        fire(port, WEBHOOK, warm, threads)
        fire(port, TRIVIAL, warm, threads)
        print(f"webhook ingest: {rounds} rounds of {count:,} requests ({batch} event(s) each), "
              f"load from a second process with {threads} threads, gunicorn {workers} sync workers")  # fmt: skip
        for number in range(rounds):
            requests = bench_crm.signed_requests(count, batch, first_event + (number + 1) * 10_000_000)
            before = WebhookEvent.objects.count()
            webhook_rps, webhook_status = fire(port, WEBHOOK, requests, threads)
            stored = WebhookEvent.objects.count() - before
            trivial_rps, trivial_status = fire(port, TRIVIAL, requests, threads)
            rates[WEBHOOK].append(webhook_rps)
            rates[TRIVIAL].append(trivial_rps)
            assert stored == count * batch and set(webhook_status) == {200}, (stored, webhook_status)
            print(f"  round {number + 1}: webhook {webhook_rps:6.0f} req/s (stored {stored:,}), "
                  f"trivial {trivial_rps:6.0f} req/s {trivial_status}, ratio {webhook_rps / trivial_rps:.2f}")  # fmt: skip
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("celery")  # not for processing
    webhook, trivial = statistics.median(rates[WEBHOOK]), statistics.median(rates[TRIVIAL])
    ratios = [w / t for w, t in zip(rates[WEBHOOK], rates[TRIVIAL], strict=True)]
    print(f"median: webhook {webhook:.0f} req/s ({webhook * batch:.0f} events/s), trivial {trivial:.0f} req/s, "
          f"webhook/trivial = {webhook / trivial:.2f}")  # fmt: skip
    # Each round's two figures were taken seconds apart: the median of the rounds' ratios is
    # the figure a load that comes and goes disturbs least.
    print(f"median of the rounds' ratios: webhook/trivial = {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")  # fmt: skip


def profile(count: int, batch: int, sort: str = "cumulative") -> None:
    import cProfile
    import pstats

    from django.test import Client

    from bench import bench_crm

    bench_crm.PORT = 80  # the test client's host below: what HubSpot signs
    requests = bench_crm.signed_requests(count + 50, batch, int(time.time() * 1000) * 10)
    client = Client(HTTP_HOST="127.0.0.1:80")

    def run(path, chunk):
        for body, headers in chunk:
            extra = {
                "HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items() if k != "Content-Type"
            }
            response = client.generic("POST", path, body, content_type="application/json", **extra)
            assert response.status_code == 200, response.content[:200]

    run(WEBHOOK, requests[:50])
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(run, WEBHOOK, requests[50:])
    print(f"in-process, profiled: {count / (time.perf_counter() - started):.0f} webhook req/s")
    pstats.Stats(profiler).sort_stats(sort).print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=600, help="requests per round and target")
    parser.add_argument("--threads", type=int, default=8, help="load generator threads")
    parser.add_argument("--batch", type=int, default=1, help="events per webhook request")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--profile", action="store_true", help="profile the receive path in-process")
    parser.add_argument("--sort", default="cumulative", help="--profile's order (cumulative, tottime)")
    args = parser.parse_args()
    from bench import bench_crm

    bench_crm.setup_django()
    bench_crm.prepare_world()
    if args.profile:
        profile(args.requests, args.batch, args.sort)
    else:
        bench(args.rounds, args.requests, args.threads, args.batch, args.workers)


if __name__ == "__main__":
    main()
