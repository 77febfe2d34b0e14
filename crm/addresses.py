"""A CRM's API address: https, on public internet addresses (so write-back cannot reach inside)."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


def _addresses(host: str, port: int = 443) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationError(f"“{host}” cannot be resolved; check the address.", code="unresolved") from exc
    found = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    return list(dict.fromkeys(found))


def resolve_checked(
    url: str,
    *,
    allowed,
    what: str = "the CRM's API address",
    example: str = "https://api.hubapi.com",
    setting: str = "CRM_ALLOWED_HOSTS",
) -> list[str]:
    """The addresses to connect to for `url`, each checked: https and public, unless the host is
    in `allowed` (on-premise CRMs, trusted as they are). Raises ValidationError with a code.
    `what`, `example` and `setting` name the address in the messages (also used for alert webhooks)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise ValidationError(f"Enter {what} in full, e.g. {example}.", code="invalid")
    trusted = host in {h.lower() for h in allowed}
    if not trusted and parts.scheme != "https":
        raise ValidationError(f"{what[0].upper()}{what[1:]} must start with https://.", code="not_https")
    found = _addresses(host, parts.port or (443 if parts.scheme == "https" else 80))
    private = [str(a) for a in found if not a.is_global]
    if private and not trusted:
        raise ValidationError(
            f"“{host}” points at an internal address ({', '.join(private)}). For an on-premise host, "
            f"an operator adds it to {setting}.",
            code="not_public",
        )
    return [str(a) for a in found]


def validate_crm_address(url: str) -> None:
    """https and public addresses only; CRM_ALLOWED_HOSTS (on-premise CRMs) are trusted as they are."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host and host in {h.lower() for h in settings.CRM_ALLOWED_HOSTS}:
        return  # an allowed host need not resolve from here when it is saved
    resolve_checked(url, allowed=())
