"""The client's address, as sign-in lockout and rate limits count it.

Behind TRUSTED_PROXY_COUNT reverse proxies (each appending the address it saw to
X-Forwarded-For), the client is that many entries from the right: what a client writes into the
header itself sits further left and is ignored. With no trusted proxy, the socket's address.
"""

from django.conf import settings


def client_ip(request, *args) -> str | None:
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")
