"""Check, compact, rebuild or install the dashboards' summary (DealFact and Rollup)."""

from django.core.management.base import BaseCommand, CommandError

from insights import rollup


class Command(BaseCommand):
    help = (
        "Check the dashboards' summary against the deals; --install replaces its SQL from insights/sql/, "
        "--compact folds it, --rebuild recomputes it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--install", action="store_true", help="replace the summary's SQL from the files")
        parser.add_argument("--compact", action="store_true", help="fold the rows the triggers appended")
        parser.add_argument(
            "--rebuild", action="store_true", help="recompute everything from the deals, in slices"
        )
        parser.add_argument(
            "--at-once",
            action="store_true",
            help="with --rebuild: empty and refill in one transaction (closes wait for it)",
        )

    def handle(self, *args, install=False, compact=False, rebuild=False, at_once=False, **options):
        if not rollup.summary_available():
            self.stdout.write("No summary on this database: the dashboards read the deals directly.")
            return
        if install:
            rollup.summary_install()
            self.stdout.write("Installed the summary's SQL from insights/sql/.")
        if rebuild:
            rollup.rollup_rebuild(at_once=at_once)
            self.stdout.write("Rebuilt the summary from the deals.")
        if compact:
            self.stdout.write(f"Folded {rollup.rollup_compact()} appended rows.")
        drift = rollup.rollup_drift()
        self.stdout.write(
            f"Rows that disagree: facts {drift['facts']}, rollup {drift['rollup']},"
            f" daily rollup {drift['rollup_day']}."
        )
        if any(drift.values()):
            raise CommandError("The summary disagrees with the deals; run with --rebuild.")
