"""Limits on the public password and invite pages, counted in the shared "throttle" cache (Redis
when configured), per client address (read behind TRUSTED_PROXY_COUNT proxies) or per e-mail."""

import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import caches

from closedlost.clientip import client_ip

log = logging.getLogger(__name__)
PERIODS = {"s": 1, "sec": 1, "min": 60, "m": 60, "hour": 3600, "h": 3600, "day": 86400, "d": 86400}


def _parse(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip()]


def allow(scope: str, ident: str, rate: str) -> bool:
    """Count one more request of `ident` in `scope`; False once over `rate` ("20/min") in the
    current window. A cache that does not answer lets the request through (logged)."""
    limit, seconds = _parse(rate)
    window = int(time.time() // seconds)
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]  # no addresses in the cache's keys
    key = f"people:{scope}:{digest}:{window}"
    cache = caches["throttle"]
    try:
        if cache.add(key, 1, timeout=seconds + 1):
            return True
        return cache.incr(key) <= limit
    except Exception:  # noqa: BLE001 - the cache backend's own errors (a Redis outage)
        log.warning("people: the throttle cache did not answer; %s not limited", scope, exc_info=True)
        return True


def page_allowed(request, scope: str) -> bool:
    """The public pages' limit per address (PEOPLE_PAGE_RATE_LIMIT)."""
    return allow(scope, client_ip(request) or "", settings.PEOPLE_PAGE_RATE_LIMIT)


def reset_email_allowed(email: str) -> bool:
    """At most PEOPLE_RESET_EMAILS_PER_HOUR reset e-mails to one address an hour."""
    return allow("reset-email", email.strip().lower(), f"{settings.PEOPLE_RESET_EMAILS_PER_HOUR}/hour")
