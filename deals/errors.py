"""The deal services' refusals (deals.services re-exports them, the usual import path)."""

from closedlost.errors import Conflict, ServiceError


class DealError(ServiceError):
    """A rule refused the change. `field` names the form field it concerns, if any."""


class DealAlreadyClosed(DealError, Conflict):
    pass


class DealNotClosed(DealError, Conflict):
    pass
