"""One adapter per CRM behind one interface (crm.adapters.base.CrmAdapter), found by CRM kind."""

from crm.adapters.base import CrmAdapter
from crm.adapters.hubspot import HubSpotAdapter
from crm.adapters.pipedrive import PipedriveAdapter
from crm.adapters.salesforce import SalesforceAdapter

ADAPTERS: dict[str, CrmAdapter] = {
    adapter.kind: adapter for adapter in (HubSpotAdapter(), PipedriveAdapter(), SalesforceAdapter())
}


def adapter_for(kind: str) -> CrmAdapter:
    return ADAPTERS[kind]
