"""Ask the CRMs for the deals changed since the last run, apply what the webhooks missed and
print the deals whose state still differs (exit status 1 if any CRM could not be read)."""

from django.core.management.base import BaseCommand, CommandError

from crm.models import CrmConnection, CrmKind
from crm.reconcile import ReconcileFailed, crm_reconcile


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def add_arguments(self, parser):
        parser.add_argument(
            "kinds", nargs="*", metavar="CRM", help=f"Only these: {', '.join(CrmKind.values)}."
        )

    def handle(self, *args, kinds, **options):
        unknown = sorted(set(kinds) - set(CrmKind.values))
        if unknown:
            raise CommandError(f"Unknown CRM {', '.join(unknown)}: choose from {', '.join(CrmKind.values)}.")
        connections = CrmConnection.objects.filter(active=True)
        if kinds:
            connections = connections.filter(kind__in=kinds)
        failed = []
        for connection in connections:
            try:
                report = crm_reconcile(connection=connection)
            except ReconcileFailed as exc:
                failed.append(str(exc))
                self.stderr.write(f"{connection}: could not reconcile: {exc}")
                continue
            applied, drift = len(report["applied"]), len(report["drift"])
            self.stdout.write(
                f"{connection}: read {report['read']} changed deals since {report['since']}, applied "
                f"{applied}, unknown here {report['unknown']}, still different {drift}"
            )
            for row in report["drift"]:
                here, crm = row["here"], row["crm"]
                self.stdout.write(
                    f"  deal {row['deal']} “{row['name']}”: here {here}, CRM {crm} ({row['why']})"
                )
        if failed:
            raise CommandError(f"{len(failed)} CRM(s) could not be reconciled.")
