"""The API's rate limit per user (or per address for anonymous requests)."""

from rest_framework import throttling
from rest_framework.settings import api_settings


class UserRateThrottle(throttling.UserRateThrottle):
    """DRF's per-user throttle, reading the rate from the current settings.

    DRF's own class copies the rates once at import, so a changed `API_RATE_LIMIT` (or a test's
    settings override) would not apply.
    """

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
