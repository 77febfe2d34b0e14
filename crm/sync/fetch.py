"""Reading a CRM's API for a sync: which failures wait and retry (the CRM is down, busy or
slow) and which stop the run until an admin acts (a refused token or address)."""

from crm.http import CrmAddressRefused, CrmHttpError, CrmRequestFailed, crm_request
from crm.models import CrmConnection


class CrmUnavailable(Exception):
    """The CRM did not answer usefully now (5xx, 429, network): the run waits and resumes."""


class CrmRefused(Exception):
    """The CRM refused us (401/403/400) or its address is not allowed: an admin must act."""


class CrmNotFound(Exception):
    """The record is not (or no longer) in the CRM."""


def sync_fetcher(connection: CrmConnection, *, timeout: float = 30.0, auth: dict[str, str] | None = None):
    """fetch(method, url, body) -> the decoded answer, raising the three errors above. `auth`: the
    headers that carry the token (default: the connection's adapter says which, e.g. a Pipedrive
    personal API token goes in x-api-token, never as a bearer token)."""
    if auth is None:
        from crm.adapters import adapter_for  # the adapters' sync reads import this module

        auth = adapter_for(connection.kind).auth_headers(connection=connection)

    def fetch(method: str, url: str, body: dict | None) -> dict:
        try:
            return crm_request(method=method, url=url, body=body, timeout=timeout, auth=auth).json()
        except CrmAddressRefused as exc:
            raise CrmRefused(str(exc)) from exc
        except CrmHttpError as exc:
            if exc.status == 404:
                raise CrmNotFound(url) from exc
            if exc.status == 429 or exc.status >= 500:
                raise CrmUnavailable(f"{connection} answered {exc.status} for {url.split('?')[0]}") from exc
            raise CrmRefused(f"{connection} refused {url.split('?')[0]}: {exc}") from exc
        except CrmRequestFailed as exc:
            raise CrmUnavailable(f"{connection} could not be read: {exc}") from exc

    return fetch
