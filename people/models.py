"""Invitations, the people's e-mails (their hand-off intent) and the append-only history of every
change an admin (or the person) makes to a person: invites, roles, teams, deactivation."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from closedlost.dbrules import append_only
from teams.models import Team


class Invitation(models.Model):
    """An invite of one person (their User exists from the invite on, with no usable password).

    The link names the invitation and its `key`; resending makes a new key (older links stop
    working), accepting or revoking ends it. Its age is checked against `expires_at`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invitations")
    email = models.EmailField()
    key = models.CharField(max_length=32)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the latest link was sent.")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One invitation at a time per person that is neither accepted nor revoked.
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_pending_per_user",
            ),
            models.CheckConstraint(
                condition=Q(accepted_at__isnull=True) | Q(revoked_at__isnull=True),
                name="invitation_not_accepted_and_revoked",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation of {self.email}"

    @property
    def pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None

    @property
    def expired(self) -> bool:
        return self.expires_at <= timezone.now()


class PeopleMail(models.Model):
    """One e-mail to a person (an invite, a password reset): the outbox hand-off's intent, sent
    once by the worker (the row is locked while it goes out; `sent_at` says it went)."""

    class Kind(models.TextChoices):
        INVITE = "invite", "Invitation"
        PASSWORD_RESET = "password_reset", "Password reset"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    invitation = models.ForeignKey(
        Invitation, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    invitation_key = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="invite", invitation__isnull=False) | Q(kind="password_reset"),
                name="peoplemail_invite_names_invitation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.user_id}"


class PersonEvent(models.Model):
    """Append-only history of a person: who did what to them, when, from what, to what.

    Written only by people.services; UPDATE and DELETE are refused (and, on PostgreSQL, by a
    trigger)."""

    class Action(models.TextChoices):
        INVITED = "invited", "Invited"
        INVITE_RESENT = "invite_resent", "Invite sent again"
        INVITE_REVOKED = "invite_revoked", "Invite revoked"
        JOINED = "joined", "Joined (set a password)"
        ROLE = "role", "Role changed"
        TEAM_ADDED = "team_added", "Added to a team"
        TEAM_REMOVED = "team_removed", "Removed from a team"
        DETAILS = "details", "Details changed"
        DEACTIVATED = "deactivated", "Deactivated"
        REACTIVATED = "reactivated", "Reactivated"
        PASSWORD_RESET = "password_reset", "Password reset"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        CRM_OWNER = "crm_owner", "CRM owner id set"

    at = models.DateTimeField(default=timezone.now)
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="person_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    before = models.CharField(max_length=200, blank=True)
    after = models.CharField(max_length=200, blank=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["person", "-at"], name="personevent_person_at"),
            models.Index(fields=["-at", "-id"], name="personevent_at_id"),
        ]
        triggers = [append_only("personevent_append_only")]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.person_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("PersonEvent rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("PersonEvent rows are append-only.")


class TeamChange(models.Model):
    """Append-only history of the teams themselves: made and renamed (memberships are people's
    history, PersonEvent). Written only by people.team_services."""

    class Action(models.TextChoices):
        CREATED = "created", "Team made"
        RENAMED = "renamed", "Team renamed"

    at = models.DateTimeField(default=timezone.now)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    before = models.CharField(max_length=100, blank=True)
    after = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        triggers = [append_only("teamchange_append_only")]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.after}"
