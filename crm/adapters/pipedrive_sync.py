"""Pipedrive's reads for the sync: pipelines and stages (API v2), deals page by page (v2, cursor
paging), each deal's participants (v1 /deals/{id}/participants), persons with their
`marketing_status` and organizations (v2, by ids). The deal's own person is its primary contact;
a lost or won deal keeps its stage in Pipedrive, which is the stage it closed at."""

from datetime import datetime
from urllib.parse import urlencode

from crm.adapters.base import Fetch, crm_value, parse_amount, parse_time
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

DEALS_PAGE = 100
IDS_PER_READ = 100
OPTED_OUT = {"unsubscribed"}  # Pipedrive's marketing_status for a person who asked for no e-mail


def _chunks(items: list, size: int = IDS_PER_READ):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _email(person: dict) -> str:
    emails = person.get("emails") or person.get("email") or []
    if isinstance(emails, str):
        return emails
    primary = [e for e in emails if isinstance(e, dict) and e.get("primary")] or emails
    return (primary[0].get("value") or "") if primary and isinstance(primary[0], dict) else ""


def _field(data: dict, name: str) -> str:
    """A deal field's text (standard or custom), "" when unset or not configured."""
    from crm.adapters.pipedrive import field_text  # the adapter module mixes this one in

    return (field_text(data, name) or "") if name else ""


class PipedriveSyncReads:
    """Mixed into PipedriveAdapter: the sync's reads of one Pipedrive company."""

    def _api(self, connection: CrmConnection, path: str, **query) -> str:
        query = {k: v for k, v in query.items() if v not in (None, "")}
        return connection.base_url.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")

    def _all(self, connection: CrmConnection, fetch: Fetch, path: str, **query) -> list[dict]:
        items, cursor = [], None
        for _ in range(1000):
            answer = fetch("GET", self._api(connection, path, limit=500, cursor=cursor, **query), None)
            items += answer.get("data") or []
            cursor = (answer.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return items
        return items

    def read_pipelines(self, *, connection: CrmConnection, fetch: Fetch) -> list[CrmPipeline]:
        pipelines = [p for p in self._all(connection, fetch, "/api/v2/pipelines") if not p.get("is_deleted")]
        stages = [s for s in self._all(connection, fetch, "/api/v2/stages") if not s.get("is_deleted")]
        return [
            CrmPipeline(
                str(p["id"]),
                p.get("name") or str(p["id"]),
                [
                    CrmStage(
                        str(s["id"]),
                        s.get("name") or str(s["id"]),
                        int(s.get("order_nr") or 0),
                        max(0, min(100, int(s.get("deal_probability") or 0))),
                    )
                    for s in stages
                    if str(s.get("pipeline_id")) == str(p["id"])
                ],
            )
            for p in sorted(pipelines, key=lambda p: p.get("order_nr") or 0)
        ]

    def read_deals(
        self, *, connection: CrmConnection, fetch: Fetch, cursor: str, closed_since: datetime
    ) -> DealsPage:
        url = self._api(
            connection,
            "/api/v2/deals",
            limit=DEALS_PAGE,
            cursor=cursor or None,
            sort_by="id",
            sort_direction="asc",
        )
        answer = fetch("GET", url, None)
        deals, skipped = [], []
        for data in answer.get("data") or []:
            deal = self._deal(connection, data)
            if deal.outcome != OPEN and (deal.closed is None or deal.closed < closed_since):
                skipped.append((deal.external_id, deal.name, f"closed before {closed_since:%Y-%m-%d}"))
            else:
                deals.append((deal, data))
        self._with_people(connection, fetch, deals)
        next_cursor = (answer.get("additional_data") or {}).get("next_cursor")
        return DealsPage([d for d, _ in deals], str(next_cursor) if next_cursor else None, skipped)

    def read_deal(self, *, connection: CrmConnection, fetch: Fetch, external_id: str) -> CrmDeal | None:
        try:
            data = fetch("GET", self._api(connection, f"/api/v2/deals/{external_id}"), None).get("data")
        except CrmNotFound:
            return None
        if isinstance(data, list):  # a deals list answered for one deal: find ours in it
            data = next((d for d in data if str(d.get("id")) == str(external_id)), None)
        if not data or data.get("status") == "deleted" or data.get("is_deleted"):
            return None
        deal = self._deal(connection, data)
        self._with_people(connection, fetch, [(deal, data)])
        return deal

    def _deal(self, connection: CrmConnection, data: dict) -> CrmDeal:
        status = data.get("status") or "open"
        outcome = {"lost": LOST, "won": WON}.get(status, OPEN)
        closed = parse_time(
            data.get({LOST: "lost_time", WON: "won_time"}.get(outcome, "")) or data.get("close_time")
        )
        return CrmDeal(
            external_id=str(data["id"]),
            name=(data.get("title") or "").strip() or f"Deal {data['id']}",
            pipeline_id=str(data.get("pipeline_id") or ""),
            stage_id=str(data.get("stage_id") or ""),
            outcome=outcome,
            owner=crm_value(data.get("owner_id") or data.get("user_id")) or "",
            amount=parse_amount(data.get("value")) or 0,
            currency=(data.get("currency") or "USD").upper(),
            created=parse_time(data.get("add_time")),
            closed=closed if outcome != OPEN else None,
            expected_close=parse_time(data.get("expected_close_date")),
            reason_text=(data.get(connection.reason_field) or "") if outcome == LOST else "",
            competitor_text=_field(data, connection.competitor_field),
            stage_value=status,
        )

    def _with_people(
        self, connection: CrmConnection, fetch: Fetch, deals: list[tuple[CrmDeal, dict]]
    ) -> None:
        """The deal's person (its primary contact), its participants, their organizations."""
        participants = {}
        for deal, _data in deals:
            found = []
            url = self._api(connection, f"/api/v1/deals/{deal.external_id}/participants", start=0, limit=100)
            for item in fetch("GET", url, None).get("data") or []:
                person = item.get("person_id")
                person_id = crm_value(person)
                if person_id and item.get("active_flag", True):
                    found.append(person_id)
            participants[deal.external_id] = found
        person_ids = {crm_value(data.get("person_id")) for _d, data in deals} | {
            p for found in participants.values() for p in found
        }
        people = {}
        for chunk in _chunks(sorted(p for p in person_ids if p)):
            url = self._api(
                connection, "/api/v2/persons", ids=",".join(chunk), include_fields="marketing_status"
            )
            people.update({str(p["id"]): p for p in fetch("GET", url, None).get("data") or []})
        org_ids = {crm_value(data.get("org_id")) for _d, data in deals} | {
            crm_value(p.get("org_id")) for p in people.values()
        }
        orgs = {}
        for chunk in _chunks(sorted(o for o in org_ids if o)):
            url = self._api(connection, "/api/v2/organizations", ids=",".join(chunk))
            orgs.update({str(o["id"]): o for o in fetch("GET", url, None).get("data") or []})
        for deal, data in deals:
            org_id = crm_value(data.get("org_id"))
            if org_id and org_id in orgs:
                org = orgs[org_id]
                deal.company = CrmCompany(
                    org_id, org.get("name") or "", "", org.get("industry") or "", org.get("employee_count")
                )
            primary = crm_value(data.get("person_id"))
            for person_id in [primary] + [p for p in participants[deal.external_id] if p != primary]:
                person = people.get(person_id or "")
                if person is None:
                    continue
                deal.contacts.append(
                    CrmDealContact(
                        CrmPerson(
                            person_id,
                            person.get("name") or "",
                            _email(person),
                            "",
                            (person.get("marketing_status") or "") in OPTED_OUT,
                            crm_value(person.get("org_id")) or "",
                        ),
                        "Contact person" if person_id == primary else "Participant",
                        person_id == primary,
                    )
                )
