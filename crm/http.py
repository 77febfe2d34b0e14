"""The one HTTP client for every call to a CRM (write-back, reconciliation).

The CRM's address is checked again at each request, not only when the connection was saved: a
host's DNS can change since. The name is resolved once, the addresses are checked (https and
public, unless the host is in CRM_ALLOWED_HOSTS), and the connection goes to a checked address
(the certificate is still checked against the host name), so a second lookup cannot point the
request elsewhere. Redirects are not followed.
"""

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from crm.addresses import resolve_checked

USER_AGENT = "closedlost-crm-sync"


class CrmRequestFailed(Exception):
    """The CRM could not be asked: refused address, network error or timeout."""


class CrmAddressRefused(CrmRequestFailed):
    """The CRM's address is not allowed (any more): internal, or not https."""


class CrmHttpError(CrmRequestFailed):
    """The CRM answered with an error status."""

    def __init__(self, status: int, detail: str, headers: dict):
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail, self.headers = status, detail, headers


@dataclass(frozen=True)
class CrmResponse:
    status: int
    headers: dict
    body: bytes

    def json(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as exc:
            raise CrmRequestFailed(f"The CRM's answer is not JSON: {exc}") from exc


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host, port, *, address: str, **kwargs):
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host, port, *, address: str, **kwargs):
        super().__init__(host, port, context=ssl.create_default_context(), **kwargs)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def crm_request(
    *,
    token: str = "",
    method: str,
    url: str,
    body: dict | None = None,
    timeout: float = 10.0,
    auth: dict[str, str] | None = None,
    allowed=None,
    user_agent: str = USER_AGENT,
) -> CrmResponse:
    """One request to a CRM's API with its token: the `auth` headers (the connection's adapter
    says which: `CrmAdapter.auth_headers`), else `token` as a bearer token. Raises
    CrmAddressRefused before any connection to a refused address, CrmHttpError for a 4xx/5xx
    answer, CrmRequestFailed for network errors. `allowed`: the trusted hosts (CRM_ALLOWED_HOSTS when None;
    the alerts' webhooks pass their own)."""
    try:
        addresses = resolve_checked(url, allowed=settings.CRM_ALLOWED_HOSTS if allowed is None else allowed)
    except ValidationError as exc:
        raise CrmAddressRefused(" ".join(exc.messages)) from exc
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        **(auth if auth is not None else {"Authorization": f"Bearer {token}"}),
        "Accept": "application/json",
        "User-Agent": user_agent,
    }
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    last_error: Exception | None = None
    for address in addresses:  # each checked address in turn, as a browser would
        connection = (_PinnedHTTPS if https else _PinnedHTTP)(
            parts.hostname, port, address=address, timeout=timeout
        )
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            answer = CrmResponse(response.status, dict(response.getheaders()), payload)
        except (OSError, http.client.HTTPException) as exc:
            last_error = exc
            continue
        finally:
            connection.close()
        if answer.status >= 400:
            detail = answer.body[:500].decode("utf-8", errors="replace")
            raise CrmHttpError(answer.status, detail, answer.headers)
        return answer
    raise CrmRequestFailed(f"Network error: {last_error}")
