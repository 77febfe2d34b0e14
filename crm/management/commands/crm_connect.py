"""Set up or change a CRM connection from the command line (scripted deployments).

Example:
  manage.py crm_connect hubspot --base-url https://api.hubapi.com --account-id 62515 \\
      --webhook-secret "$HUBSPOT_CLIENT_SECRET" --api-token "$HUBSPOT_TOKEN" --lost-stage closedlost
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from crm import services
from crm.models import CrmKind
from crm.selectors import webhook_address

TEXT_OPTIONS = ("base_url", "account_id", "webhook_username", "webhook_secret", "api_token", "api_version",
                "reason_field", "reason_value")  # fmt: skip


class Command(BaseCommand):
    help = "Create or update the connection to one CRM; prints its webhook address (never its secrets)."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=CrmKind.values)
        for name in TEXT_OPTIONS:
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name)
        parser.add_argument(
            "--lost-stage", dest="lost_stages", action="append", metavar="VALUE",
            help="A CRM stage value that means closed lost (repeat for several).",
        )  # fmt: skip
        parser.add_argument(
            "--won-stage", dest="won_stages", action="append", metavar="VALUE",
            help="A CRM stage value that means closed won (repeat for several).",
        )  # fmt: skip
        parser.add_argument(
            "--stage-out", dest="stage_out", action="append", metavar="OUTCOME=VALUE",
            help="The CRM stage written back for our outcome, e.g. lost=closedlost.",
        )  # fmt: skip
        parser.add_argument(
            "--stage-map", dest="stage_map", action="append", metavar="OUR_STAGE=VALUE",
            help="The CRM stage of one of our open stages, e.g. Proposal=contractsent.",
        )  # fmt: skip
        parser.add_argument(
            "--owner", dest="owner_map", action="append", metavar="CRM_OWNER_ID=USERNAME",
            help="Our user for a CRM owner id, e.g. 311=alice (owner changes from the CRM).",
        )  # fmt: skip
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--active", dest="active", action="store_true", default=None)
        state.add_argument("--inactive", dest="active", action="store_false")
        write_back = parser.add_mutually_exclusive_group()
        write_back.add_argument("--write-back", dest="write_back", action="store_true", default=None)
        write_back.add_argument("--no-write-back", dest="write_back", action="store_false")

    def handle(self, *args, kind, **options):
        fields = {
            name: options[name]
            for name in (*TEXT_OPTIONS, "active", "write_back")
            if options[name] is not None
        }
        for name in ("lost_stages", "won_stages"):
            if options[name]:
                fields[name] = options[name]
        for name in ("stage_out", "stage_map", "owner_map"):
            if options[name]:
                fields[name] = self._pairs(options[name], f"--{name.replace('_', '-')}")
        try:
            connection, created = services.connection_update(
                kind=kind, actor=None, note="the crm_connect command", **fields
            )
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
            raise CommandError(f"Nothing saved. {problems}") from exc
        base = settings.CRM_WEBHOOK_BASE_URL or settings.SITE_URL
        state = "active" if connection.active else "off"
        write_back = "on" if connection.write_back else "off"
        self.stdout.write(
            f"{'Created' if created else 'Updated'} the {connection} connection ({state}, write-back "
            f"{write_back}; changed: {', '.join(sorted(fields)) or 'nothing'}).\n"
            f"Webhook address: {webhook_address(kind=kind, connection=connection, base=base, reveal=False)}"
        )

    @staticmethod
    def _pairs(pairs: list[str], option: str) -> dict[str, str]:
        mapping = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise CommandError(f"{option} {pair!r}: give KEY=VALUE, e.g. lost=closedlost.")
            mapping[key.strip()] = value.strip()
        return mapping
