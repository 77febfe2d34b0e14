"""The API's rate limit per user (or per address for anonymous requests)."""

import logging

from django.core.cache import caches
from rest_framework import throttling
from rest_framework.settings import api_settings

logger = logging.getLogger(__name__)


class UserRateThrottle(throttling.UserRateThrottle):
    """DRF's per-user throttle, counted in the shared "throttle" cache (Redis when configured).

    It reads the rate from the current settings (DRF's own class copies it once at import, so a
    changed `API_RATE_LIMIT` or a test's override would not apply), and lets requests through,
    with a warning, if the cache cannot be reached: a Redis outage must not take the API down.
    """

    @property
    def cache(self):
        return caches["throttle"]

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str | None:
        user = request.user
        if not (user and user.is_authenticated):
            return super().get_cache_key(request, view)
        # The sign-up time too, so that a reused id (a rebuilt test database) starts from zero.
        ident = f"{user.pk}-{int(user.date_joined.timestamp())}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception:  # the cache backend's own errors (e.g. redis.ConnectionError)
            logger.warning("API rate limit not checked: the throttle cache did not answer", exc_info=True)
            return True
