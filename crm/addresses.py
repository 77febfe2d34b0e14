"""A CRM's API address: https, on public internet addresses (so write-back cannot reach inside)."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationError(f"“{host}” cannot be resolved; check the address.", code="unresolved") from exc
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def validate_crm_address(url: str) -> None:
    """https and public addresses only; CRM_ALLOWED_HOSTS (on-premise CRMs) are trusted as they are."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise ValidationError(
            "Enter the CRM's full API address, e.g. https://api.hubapi.com.", code="invalid"
        )
    if host in {h.lower() for h in settings.CRM_ALLOWED_HOSTS}:
        return
    if parts.scheme != "https":
        raise ValidationError("The CRM's API address must start with https://.", code="not_https")
    private = [str(a) for a in _addresses(host) if not a.is_global]
    if private:
        raise ValidationError(
            f"“{host}” points at an internal address ({', '.join(private)}). For an on-premise CRM, "
            "an operator adds the host to CRM_ALLOWED_HOSTS.",
            code="not_public",
        )
