"""The OpenID provider's discovery document (`{issuer}/.well-known/openid-configuration`), kept a while.

The document names the authorization, token, userinfo and JWKS endpoints; its `issuer` must be
exactly the configured one (OpenID Connect Discovery §4.3), and every endpoint must be https
unless its host is listed in OIDC_INSECURE_HOSTS (a provider on loopback in the tests).
"""

from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.cache import cache


class ProviderError(Exception):
    """The provider could not be reached or answered something unusable; `message` says which."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def url_allowed(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in settings.OIDC_INSECURE_HOSTS


def _fetch(issuer: str) -> dict:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, allow_redirects=False)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderError(
            f"The provider's discovery document at {url} could not be read ({exc})."
        ) from None
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        raise ProviderError(
            f"The discovery document at {url} names another issuer "
            f"({document.get('issuer') if isinstance(document, dict) else '?'!r}, expected {issuer!r})."
        )
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        endpoint = document.get(name)
        if not isinstance(endpoint, str) or not url_allowed(endpoint):
            raise ProviderError(f"The discovery document's {name} is missing or not an https address.")
    userinfo = document.get("userinfo_endpoint")
    if userinfo is not None and (not isinstance(userinfo, str) or not url_allowed(userinfo)):
        raise ProviderError("The discovery document's userinfo_endpoint is not an https address.")
    return document


def provider_metadata(issuer: str, *, refresh: bool = False) -> dict:
    """The issuer's discovery document, cached OIDC_DISCOVERY_CACHE_SECONDS per process."""
    if not url_allowed(issuer):
        raise ProviderError("The issuer must be an https address.")
    key = f"signin:oidc-discovery:{issuer}"
    document = None if refresh else cache.get(key)
    if document is None:
        document = _fetch(issuer)
        cache.set(key, document, settings.OIDC_DISCOVERY_CACHE_SECONDS)
    return document


def forget(issuer: str) -> None:
    cache.delete(f"signin:oidc-discovery:{issuer}")
