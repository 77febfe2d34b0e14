"""HubSpot's reads for the sync: deal pipelines (/crm/v3/pipelines/deals), deals listed page by
page with their stage history (the stage a closed deal closed at), and their companies and
contacts (v4 association batch reads, labels included, then v3 batch reads of the objects)."""

from datetime import datetime

from crm.adapters.base import Fetch, crm_value, outcome_of, parse_amount, parse_time
from crm.models import CrmConnection
from crm.sync.fetch import CrmNotFound
from crm.sync.shapes import (
    LOST,
    OPEN,
    WON,
    CrmCompany,
    CrmDeal,
    CrmDealContact,
    CrmPerson,
    CrmPipeline,
    CrmStage,
    DealsPage,
)

DEALS_PAGE = 50  # HubSpot's limit for a list that asks for property history
BATCH = 100  # HubSpot's batch read limit
COMPANY_PROPERTIES = ["name", "domain", "industry", "numberofemployees"]
CONTACT_PROPERTIES = ["firstname", "lastname", "email", "jobtitle", "hs_email_optout", "associatedcompanyid"]
HUBSPOT_PRIMARY_COMPANY = 5  # HubSpot's own "Primary" deal-to-company association type


def _percent(value) -> int:
    try:
        return max(0, min(100, round(float(value) * 100)))
    except (TypeError, ValueError):
        return 0


def _stage_outcome(metadata: dict) -> str:
    if str(metadata.get("isClosed", "")).lower() != "true":
        return OPEN
    return WON if _percent(metadata.get("probability")) == 100 else LOST


def _int(value) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _chunks(items: list, size: int = BATCH):
    for start in range(0, len(items), size):
        yield items[start : start + size]


class HubSpotSyncReads:
    """Mixed into HubSpotAdapter: the sync's reads of one HubSpot portal."""

    def _url(self, connection: CrmConnection, path: str) -> str:
        return connection.base_url.rstrip("/") + path

    def deal_properties(self, connection: CrmConnection) -> list[str]:
        fields = [connection.reason_field, connection.win_reason_field, connection.competitor_field]
        return [
            "dealname",
            "dealstage",
            "pipeline",
            "amount",
            "deal_currency_code",
            "closedate",
            "createdate",
            "hubspot_owner_id",
            "hs_lastmodifieddate",
            *(f for f in fields if f),
        ]

    def read_pipelines(self, *, connection: CrmConnection, fetch: Fetch) -> list[CrmPipeline]:
        answer = fetch("GET", self._url(connection, "/crm/v3/pipelines/deals"), None)
        pipelines = []
        for pipeline in answer.get("results", []):
            if pipeline.get("archived"):
                continue
            stages = [
                CrmStage(
                    str(s["id"]),
                    s.get("label") or str(s["id"]),
                    int(s.get("displayOrder") or 0),
                    _percent((s.get("metadata") or {}).get("probability")),
                    _stage_outcome(s.get("metadata") or {}),
                )
                for s in pipeline.get("stages", [])
                if not s.get("archived")
            ]
            pipelines.append(
                CrmPipeline(str(pipeline["id"]), pipeline.get("label") or str(pipeline["id"]), stages)
            )
        return pipelines

    def read_deals(
        self, *, connection: CrmConnection, fetch: Fetch, cursor: str, closed_since: datetime
    ) -> DealsPage:
        query = (
            f"?limit={DEALS_PAGE}&archived=false&properties={','.join(self.deal_properties(connection))}"
            "&propertiesWithHistory=dealstage" + (f"&after={cursor}" if cursor else "")
        )
        answer = fetch("GET", self._url(connection, "/crm/v3/objects/deals" + query), None)
        deals, skipped = [], []
        for result in answer.get("results", []):
            deal = self._deal(connection, result)
            if deal.outcome != OPEN and (deal.closed is None or deal.closed < closed_since):
                skipped.append((deal.external_id, deal.name, f"closed before {closed_since:%Y-%m-%d}"))
            else:
                deals.append(deal)
        self._with_companies_and_contacts(connection, fetch, deals)
        after = ((answer.get("paging") or {}).get("next") or {}).get("after")
        return DealsPage(deals, str(after) if after else None, skipped)

    def read_deal(self, *, connection: CrmConnection, fetch: Fetch, external_id: str) -> CrmDeal | None:
        query = f"?properties={','.join(self.deal_properties(connection))}&propertiesWithHistory=dealstage"
        try:
            result = fetch("GET", self._url(connection, f"/crm/v3/objects/deals/{external_id}{query}"), None)
        except CrmNotFound:
            return None
        if result.get("archived"):
            return None
        deal = self._deal(connection, result)
        self._with_companies_and_contacts(connection, fetch, [deal])
        return deal

    def _deal(self, connection: CrmConnection, result: dict) -> CrmDeal:
        props = result.get("properties") or {}
        stage = props.get("dealstage") or ""
        outcome = outcome_of(connection, stage)
        stage_id = stage
        if outcome != OPEN:  # the stage before the close, from the stage's history (newest first)
            history = (result.get("propertiesWithHistory") or {}).get("dealstage") or []
            stage_id = next(
                (h.get("value") for h in history if h.get("value") and h.get("value") != stage), ""
            )
        closed = parse_time(props.get("closedate")) if outcome != OPEN else None
        return CrmDeal(
            external_id=str(result["id"]),
            name=(props.get("dealname") or "").strip() or f"Deal {result['id']}",
            pipeline_id=props.get("pipeline") or "default",
            stage_id=stage_id,
            outcome=outcome,
            owner=crm_value(props.get("hubspot_owner_id")) or "",
            amount=parse_amount(props.get("amount")) or 0,
            currency=(props.get("deal_currency_code") or "USD").upper(),
            created=parse_time(props.get("createdate") or result.get("createdAt")),
            closed=closed,
            expected_close=parse_time(props.get("closedate")) if outcome == OPEN else None,
            reason_text=(props.get(connection.reason_field) or "") if outcome == LOST else "",
            won_reason_text=(props.get(connection.win_reason_field) or "")
            if connection.win_reason_field
            else "",
            competitor_text=str(props.get(connection.competitor_field or "-") or ""),
            stage_value=stage,
        )

    def _associations(self, connection: CrmConnection, fetch: Fetch, to: str, ids: list[str]) -> dict:
        """deal id -> [(object id, [labels], [type ids])] through the v4 association batch read."""
        found: dict[str, list] = {}
        for chunk in _chunks(ids):
            url = self._url(connection, f"/crm/v4/associations/deals/{to}/batch/read")
            answer = fetch("POST", url, {"inputs": [{"id": i} for i in chunk]})
            for result in answer.get("results", []):
                found[str(result["from"]["id"])] = [
                    (
                        str(t["toObjectId"]),
                        [a.get("label") or "" for a in t.get("associationTypes", [])],
                        [a.get("typeId") for a in t.get("associationTypes", [])],
                    )
                    for t in result.get("to", [])
                ]
        return found

    def _objects(self, connection: CrmConnection, fetch: Fetch, kind: str, ids, properties) -> dict:
        objects = {}
        for chunk in _chunks(sorted(set(ids))):
            url = self._url(connection, f"/crm/v3/objects/{kind}/batch/read")
            answer = fetch("POST", url, {"properties": properties, "inputs": [{"id": i} for i in chunk]})
            objects.update({str(r["id"]): r.get("properties") or {} for r in answer.get("results", [])})
        return objects

    def _with_companies_and_contacts(
        self, connection: CrmConnection, fetch: Fetch, deals: list[CrmDeal]
    ) -> None:
        if not deals:
            return
        ids = [d.external_id for d in deals]
        to_companies = self._associations(connection, fetch, "companies", ids)
        to_contacts = self._associations(connection, fetch, "contacts", ids)
        company_of = {}
        for deal_id, links in to_companies.items():
            primary = [c for c, _labels, types in links if HUBSPOT_PRIMARY_COMPANY in types]
            company_of[deal_id] = (primary or [c for c, _l, _t in links] or [None])[0]
        companies = self._objects(
            connection, fetch, "companies", [c for c in company_of.values() if c], COMPANY_PROPERTIES
        )
        people = self._objects(
            connection,
            fetch,
            "contacts",
            [c for links in to_contacts.values() for c, _l, _t in links],
            CONTACT_PROPERTIES,
        )
        label = (connection.primary_contact_label or "").strip().lower()
        for deal in deals:
            company_id = company_of.get(deal.external_id)
            if company_id and company_id in companies:
                props = companies[company_id]
                deal.company = CrmCompany(
                    company_id,
                    props.get("name") or "",
                    props.get("domain") or "",
                    props.get("industry") or "",
                    _int(props.get("numberofemployees")),
                )
            for contact_id, labels, _types in to_contacts.get(deal.external_id, []):
                props = people.get(contact_id)
                if props is None:
                    continue
                name = " ".join(p for p in (props.get("firstname"), props.get("lastname")) if p)
                person = CrmPerson(
                    contact_id,
                    name,
                    props.get("email") or "",
                    props.get("jobtitle") or "",
                    str(props.get("hs_email_optout") or "").lower() == "true",
                    str(props.get("associatedcompanyid") or ""),  # the contact's own company
                )
                named = [lab for lab in labels if lab]
                primary = bool(label) and any(label in lab.lower() for lab in named)
                deal.contacts.append(CrmDealContact(person, ", ".join(named)[:100], primary))
