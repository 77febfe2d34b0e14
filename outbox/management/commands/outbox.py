"""`manage.py outbox`: what waits for the worker and what failed for good, per kind;
`--publish` sends what waits again now; `--failed` lists the items that failed for good;
`--replay` / `--discard` (a message id, or `--kind`) act on them, each with a history row."""

from django.core.management.base import BaseCommand, CommandError

from outbox import failures, selectors, services


class Command(BaseCommand):
    help = "Show the hand-offs waiting for the worker and those failed for good; replay or discard them."

    def add_arguments(self, parser):
        parser.add_argument("--publish", action="store_true", help="publish everything waiting now")
        parser.add_argument("--failed", action="store_true", help="list the items that failed for good")
        parser.add_argument("--kind", help="with --failed, --replay or --discard: only this kind")
        act = parser.add_mutually_exclusive_group()
        act.add_argument("--replay", nargs="*", type=int, metavar="ID", help="replay these (or --kind's)")
        act.add_argument("--discard", nargs="*", type=int, metavar="ID", help="discard these (or --kind's)")

    def handle(self, *args, publish=False, failed=False, kind=None, replay=None, discard=None, **options):
        if publish:
            self.stdout.write(f"published {services.handoffs_publish_now()} message(s)")
        for action, ids, verb in ((failures.failed_replay, replay, "replayed"),
                                  (failures.failed_discard, discard, "discarded")):  # fmt: skip
            if ids is None:
                continue
            if not ids and not kind:
                raise CommandError(f"Name the message ids to be {verb}, or --kind to take all of a kind.")
            try:
                count = action(actor=None, kind=kind, ids=ids or None)
            except failures.NothingToDo as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"{verb} {count} message(s)")
        self._backlog()
        if failed:
            self._failed(kind)

    def _backlog(self):
        self.stdout.write(
            f"{'kind':<22} {'waiting':>8} {'unpublished':>12} {'oldest':>8} {'failures':>9} {'crashed':>8}"
        )
        for line in selectors.outbox_backlog():
            failures_text = "—" if line.failures is None else str(line.failures)
            self.stdout.write(
                f"{line.kind:<22} {line.waiting:>8} {line.unpublished:>12} {line.oldest_text:>8}"
                f" {failures_text:>9} {line.crashed:>8}"
            )

    def _failed(self, kind: str | None):
        messages = selectors.failed_messages(kind=kind, limit=1000)
        self.stdout.write(f"\n{len(messages)} failed for good" + (f" ({kind})" if kind else "") + ":")
        for message in messages:
            items = ", ".join(str(item) for item in message.items)
            self.stdout.write(
                f"#{message.pk} {message.kind} [{items}] {message.crashes} attempts,"
                f" failed {message.failed_at:%Y-%m-%d %H:%M:%S} UTC: {message.last_error}"
            )
