"""Check, compact or rebuild the dashboards' summary (DealFact and Rollup)."""

from django.core.management.base import BaseCommand, CommandError

from insights import rollup


class Command(BaseCommand):
    help = "Check the dashboards' summary against the deals; --compact folds it, --rebuild recomputes it."

    def add_arguments(self, parser):
        parser.add_argument("--compact", action="store_true", help="fold the rows the triggers appended")
        parser.add_argument("--rebuild", action="store_true", help="recompute everything from the deals")

    def handle(self, *args, compact=False, rebuild=False, **options):
        if not rollup.summary_available():
            self.stdout.write("No summary on this database: the dashboards read the deals directly.")
            return
        if rebuild:
            rollup.rollup_rebuild()
            self.stdout.write("Rebuilt the summary from the deals.")
        if compact:
            self.stdout.write(f"Folded {rollup.rollup_compact()} appended rows.")
        drift = rollup.rollup_drift()
        self.stdout.write(f"Rows that disagree: facts {drift['facts']}, rollup {drift['rollup']}.")
        if any(drift.values()):
            raise CommandError("The summary disagrees with the deals; run with --rebuild.")
