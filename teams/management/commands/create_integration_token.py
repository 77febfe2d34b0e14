"""Create (or show, or rotate) the API token of an integration's service account."""

from django.core.management.base import BaseCommand, CommandError

from teams.models import Team
from teams.services import (
    IntegrationError,
    api_token_get_or_create,
    api_token_rotate,
    integration_account_create,
)


class Command(BaseCommand):
    help = (
        "Create a service account 'integration-<name>' that sees the deals of the given teams "
        "(as their manager would) and print its API token."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The integration, e.g. hubspot or looker.")
        parser.add_argument(
            "--team", action="append", default=[], help="A team whose deals it may see (repeatable)."
        )
        parser.add_argument("--all-teams", action="store_true", help="An admin account: sees everything.")
        parser.add_argument("--rotate", action="store_true", help="Replace its token with a new one.")

    def handle(self, *args, name, team, all_teams, rotate, **options):
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
        token = api_token_rotate(user=user) if rotate else api_token_get_or_create(user=user)
        self.stderr.write(f"{user.username}: send it as the header 'Authorization: Token <token>'")
        self.stdout.write(token.key)
