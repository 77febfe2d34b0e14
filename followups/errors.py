"""The follow-up services' refusals (followups.services re-exports them, the usual import path)."""

from closedlost.errors import ServiceError


class FollowUpError(ServiceError):
    """A rule refused the change; the message is for the user. Naming no field, it is about the
    follow-up's state (being sent, already done)."""

    fieldless_is_conflict = True
