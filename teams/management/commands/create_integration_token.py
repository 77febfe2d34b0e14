"""Create an integration's service account and print a new API token for it (or rotate it)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from teams.models import ApiTokenOrigin, Team
from teams.selectors import api_tokens_live
from teams.services import (
    IntegrationError,
    TokenError,
    api_token_issue,
    api_token_rotate,
    integration_account_create,
)


class Command(BaseCommand):
    help = (
        "Create a service account 'integration-<name>' that sees the deals of the given teams "
        "(as their manager would) and print its API token, once: only its hash is kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The integration, e.g. hubspot or looker.")
        parser.add_argument(
            "--team", action="append", default=[], help="A team whose deals it may see (repeatable)."
        )
        parser.add_argument("--all-teams", action="store_true", help="An admin account: sees everything.")
        parser.add_argument("--rotate", action="store_true", help="Revoke its tokens and print a new one.")
        parser.add_argument(
            "--days", type=int, default=None, help="Days until it expires (default API_TOKEN_TTL_DAYS)."
        )

    @transaction.atomic  # a refused run changes nothing
    def handle(self, *args, name, team, all_teams, rotate, days, **options):
        teams = []
        for team_name in team:
            try:
                teams.append(Team.objects.get(name=team_name))
            except Team.DoesNotExist:
                known = ", ".join(Team.objects.values_list("name", flat=True)) or "none yet"
                raise CommandError(f"No team is named {team_name!r} (teams: {known}).") from None
        try:
            user = integration_account_create(name=name, teams=teams, all_teams=all_teams)
        except IntegrationError as exc:
            raise CommandError(str(exc)) from exc
        live = api_tokens_live(user=user).first()
        if live is not None and not rotate:
            # Only its hash is kept: it cannot be shown again.
            self.stderr.write(
                f"{user.username} already has a token ({live.token_key}..., expires {live.expiry:%Y-%m-%d}); "
                "it cannot be shown again. Use --rotate to replace it."
            )
            return
        try:
            make = api_token_rotate if rotate else api_token_issue
            issued = make(user=user, created_via=ApiTokenOrigin.Via.COMMAND, days=days)
        except TokenError as exc:
            raise CommandError(f"--days: {exc.message}") from exc
        self.stderr.write(
            f"{user.username}: token {issued.prefix}... expires {issued.expires_at:%Y-%m-%d}; it is shown "
            "only now. Send it as the header 'Authorization: Token <token>'."
        )
        self.stdout.write(issued.key)
