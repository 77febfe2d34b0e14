"""The one base of every service's refusals, so that views and the API translate them once.

Services of every app raise subclasses (deals.services.DealError, reasons.services.TaxonomyError,
followups.services.FollowUpError); this module imports no app, so any app may use it.
"""


class ServiceError(Exception):
    """A rule refused the change. `message` is for the user; `field` names the form field it
    concerns, if any. A refusal because of the object's state is a conflict (the API's 409)."""

    # Whether a refusal naming no field is about the object's state (else: about the request).
    fieldless_is_conflict = False

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def conflict(self) -> bool:
        return isinstance(self, Conflict) or (self.field is None and self.fieldless_is_conflict)


class Conflict(ServiceError):
    """The object is not in a state that allows this (already closed, not closed, being sent)."""
