"""`manage.py outbox`: what waits for the worker, per kind; `--publish` sends it again now."""

from django.core.management.base import BaseCommand

from outbox import selectors, services


class Command(BaseCommand):
    help = "Show the hand-offs waiting for the worker per kind (waiting, oldest, failures)."

    def add_arguments(self, parser):
        parser.add_argument("--publish", action="store_true", help="publish everything waiting now")

    def handle(self, *args, publish: bool = False, **options):
        if publish:
            self.stdout.write(f"published {services.handoffs_publish_now()} message(s)")
        lines = selectors.outbox_backlog()
        self.stdout.write(f"{'kind':<22} {'waiting':>8} {'unpublished':>12} {'oldest':>8} {'failures':>9}")
        for line in lines:
            failures = "—" if line.failures is None else str(line.failures)
            self.stdout.write(
                f"{line.kind:<22} {line.waiting:>8} {line.unpublished:>12} {line.oldest_text:>8}"
                f" {failures:>9}"
            )
