"""People and the teams they sell in: who may see which deals."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    class Role(models.TextChoices):
        REP = "rep", "Sales rep"
        MANAGER = "manager", "Sales manager"
        ADMIN = "admin", "Admin (RevOps)"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REP)

    @property
    def is_revops_admin(self) -> bool:
        """Admins (RevOps) see and change everything."""
        return self.is_superuser or self.role == self.Role.ADMIN

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(User, through="Membership", related_name="teams")

    class Meta:
        ordering = ["name"]
        constraints = [
            # One team per name whatever the case (people.team_services says so by the field).
            models.UniqueConstraint(Lower("name"), name="team_name_unique_ignoring_case"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        REP = "rep", "Rep"
        MANAGER = "manager", "Manager"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REP)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user"),
            # A rep sells in one team (people.services keeps the roles in step).
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(role="rep"), name="membership_rep_in_one_team"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class ApiTokenUse(models.Model):
    """When an API token last authenticated a request (to the minute: a busy integration writes
    once a minute, not once a request). Goes with its token."""

    token = models.OneToOneField(
        "knox.AuthToken", primary_key=True, on_delete=models.CASCADE, related_name="use", db_constraint=True
    )
    last_used_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.token_id[:8]}… last used {self.last_used_at:%Y-%m-%d %H:%M}"


class ApiTokenOrigin(models.Model):
    """How an API token's maker proved who they were: a password (POST /api/token/, or rotating from a
    password session or token), single sign-on (rotating from such a session or token), or a server
    command. Turning password sign-in off revokes the password ones (but the break-glass admins')."""

    class Via(models.TextChoices):
        PASSWORD = "password", "Password"
        SSO = "sso", "Single sign-on"
        COMMAND = "command", "Server command"

    token = models.OneToOneField(
        "knox.AuthToken",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="origin",
        db_constraint=True,
    )
    created_via = models.CharField(max_length=16, choices=Via.choices)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(created_via__in=["password", "sso", "command"]),
                name="api_token_origin_known_via",
            )
        ]

    def __str__(self) -> str:
        return f"{self.token_id[:8]}… made via {self.created_via}"
