"""The people services' refusals."""

from closedlost.errors import Conflict, ServiceError


class PeopleError(ServiceError):
    """A rule refused the change; `field` names the form field it concerns, if any."""


class PeopleConflict(PeopleError, Conflict):
    """The person is not in a state that allows this (already deactivated, invite accepted...)."""


class InviteLinkError(PeopleError):
    """An invite link that does not work: `reason` is "invalid", "expired" or "used"."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason
