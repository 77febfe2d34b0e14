"""Salesforce's reads for the sync, all SOQL through the REST query resource: the opportunity
stages (OpportunityStage: one pipeline, its ApiName the value an Opportunity's StageName
carries), Opportunities page by page (keyset on Id, so a resumed run never reads a page twice),
the stage a closed one closed at (OpportunityHistory), its contact roles (OpportunityContactRole
with IsPrimary and Role), the Contacts (HasOptedOutOfEmail) and the Accounts."""

import re
from datetime import datetime
from urllib.parse import urlencode, urlsplit

from crm.adapters.base import Fetch, crm_value, parse_amount, parse_time
from crm.models import CrmConnection
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

PIPELINE_ID = "Opportunity"  # the org's opportunities: one pipeline (sales processes not split yet)
DEALS_PAGE = 200
IN_LIST = 200  # ids per IN (...) list
RECORD_ID = re.compile(r"^[A-Za-z0-9]{15,18}$")
SOQL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _ids(values) -> str:
    """An IN list of record ids (checked: nothing else goes into the query)."""
    checked = [v for v in values if v and RECORD_ID.match(v)]
    return ", ".join(f"'{v}'" for v in checked)


def _domain(website: str) -> str:
    host = urlsplit(website if "//" in website else f"//{website}").hostname or ""
    return host.removeprefix("www.")


class SalesforceSyncReads:
    """Mixed into SalesforceAdapter: the sync's reads of one Salesforce org."""

    def _query(self, connection: CrmConnection, fetch: Fetch, soql: str) -> list[dict]:
        base = connection.base_url.rstrip("/")
        url = f"{base}/services/data/{connection.api_version}/query?{urlencode({'q': soql})}"
        records = []
        for _ in range(1000):
            page = fetch("GET", url, None)
            records += [{k: v for k, v in r.items() if k != "attributes"} for r in page.get("records") or []]
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return records
            url = base + page["nextRecordsUrl"]
        return records

    def _in_chunks(self, connection, fetch, soql: str, ids: list[str]) -> list[dict]:
        ids = sorted(set(i for i in ids if i and RECORD_ID.match(i)))
        found = []
        for start in range(0, len(ids), IN_LIST):
            found += self._query(connection, fetch, soql.format(ids=_ids(ids[start : start + IN_LIST])))
        return found

    def read_pipelines(self, *, connection: CrmConnection, fetch: Fetch) -> list[CrmPipeline]:
        records = self._query(
            connection,
            fetch,
            (
                "SELECT Id, ApiName, MasterLabel, SortOrder, IsActive, IsClosed, IsWon, DefaultProbability "
                "FROM OpportunityStage WHERE IsActive = true ORDER BY SortOrder"
            ),
        )
        stages = [
            CrmStage(
                r.get("ApiName") or r["MasterLabel"],
                r.get("MasterLabel") or r["ApiName"],
                int(r.get("SortOrder") or 0),
                max(0, min(100, int(float(r.get("DefaultProbability") or 0)))),
                (WON if r.get("IsWon") else LOST) if r.get("IsClosed") else OPEN,
            )
            for r in records
            if r.get("ApiName") and r.get("MasterLabel")
        ]
        return [CrmPipeline(PIPELINE_ID, "Opportunities", stages)] if stages else []

    def _opportunity_fields(self, connection: CrmConnection) -> str:
        fields = [
            "Id",
            "Name",
            "StageName",
            "Amount",
            "CloseDate",
            "CreatedDate",
            "IsClosed",
            "IsWon",
            "OwnerId",
            "AccountId",
            "LastModifiedDate",
            connection.reason_field,
            connection.win_reason_field,
            connection.competitor_field,
        ]
        return ", ".join(dict.fromkeys(f for f in fields if f and SOQL_NAME.match(f)))

    def read_deals(
        self, *, connection: CrmConnection, fetch: Fetch, cursor: str, closed_since: datetime
    ) -> DealsPage:
        after = f" AND Id > '{cursor}'" if cursor and RECORD_ID.match(cursor) else ""
        soql = (
            f"SELECT {self._opportunity_fields(connection)} FROM Opportunity "  # noqa: S608 - names and dates checked
            f"WHERE (IsClosed = false OR CloseDate >= {closed_since:%Y-%m-%d}){after} "
            f"ORDER BY Id LIMIT {DEALS_PAGE}"
        )
        records = self._query(connection, fetch, soql)
        deals = self._deals(connection, fetch, records)
        last = records[-1]["Id"] if len(records) == DEALS_PAGE else None
        return DealsPage(deals, last)

    def read_deal(self, *, connection: CrmConnection, fetch: Fetch, external_id: str) -> CrmDeal | None:
        if not RECORD_ID.match(external_id or ""):
            return None
        soql = f"SELECT {self._opportunity_fields(connection)} FROM Opportunity WHERE Id = '{external_id}'"  # noqa: S608
        deals = self._deals(connection, fetch, self._query(connection, fetch, soql))
        return deals[0] if deals else None

    def _deals(self, connection: CrmConnection, fetch: Fetch, records: list[dict]) -> list[CrmDeal]:
        if not records:
            return []
        closed_ids = [r["Id"] for r in records if r.get("IsClosed")]
        stage_before: dict[str, str] = {}
        if closed_ids:  # the newest stage each closed one was in before it closed
            history = self._in_chunks(
                connection,
                fetch,
                (
                    "SELECT OpportunityId, StageName, CreatedDate FROM OpportunityHistory "
                    "WHERE OpportunityId IN ({ids}) ORDER BY CreatedDate DESC"
                ),
                closed_ids,
            )
            closing = {r["Id"]: r.get("StageName") for r in records}
            for row in history:
                if row.get("StageName") != closing.get(row.get("OpportunityId", "")):
                    stage_before.setdefault(row.get("OpportunityId", ""), row.get("StageName") or "")
        roles = self._in_chunks(
            connection,
            fetch,
            (
                "SELECT OpportunityId, ContactId, Role, IsPrimary FROM OpportunityContactRole "
                "WHERE OpportunityId IN ({ids})"
            ),
            [r["Id"] for r in records],
        )
        contacts = {
            c["Id"]: c
            for c in self._in_chunks(
                connection,
                fetch,
                (
                    "SELECT Id, FirstName, LastName, Email, Title, HasOptedOutOfEmail, AccountId "
                    "FROM Contact WHERE Id IN ({ids})"
                ),
                [r.get("ContactId") for r in roles],
            )
        }
        accounts = {
            a["Id"]: a
            for a in self._in_chunks(
                connection,
                fetch,
                ("SELECT Id, Name, Website, Industry, NumberOfEmployees FROM Account WHERE Id IN ({ids})"),
                [r.get("AccountId") for r in records],
            )
        }
        deals = []
        for record in records:
            stage = record.get("StageName") or ""
            outcome = (WON if record.get("IsWon") else LOST) if record.get("IsClosed") else OPEN
            closed = parse_time(record.get("CloseDate")) if outcome != OPEN else None
            account = accounts.get(record.get("AccountId") or "")
            deal = CrmDeal(
                external_id=record["Id"],
                name=(record.get("Name") or "").strip() or record["Id"],
                pipeline_id=PIPELINE_ID,
                stage_id=stage_before.get(record["Id"], "") if outcome != OPEN else stage,
                outcome=outcome,
                owner=crm_value(record.get("OwnerId")) or "",
                amount=parse_amount(record.get("Amount")) or 0,
                currency="USD",
                created=parse_time(record.get("CreatedDate")),
                closed=closed,
                expected_close=parse_time(record.get("CloseDate")) if outcome == OPEN else None,
                reason_text=(record.get(connection.reason_field) or "") if outcome == LOST else "",
                won_reason_text=(record.get(connection.win_reason_field) or "")
                if outcome == WON and connection.win_reason_field
                else "",
                competitor_text=str(record.get(connection.competitor_field) or "")
                if connection.competitor_field
                else "",
                stage_value=stage,
                company=CrmCompany(
                    account["Id"],
                    account.get("Name") or "",
                    _domain(account.get("Website") or ""),
                    account.get("Industry") or "",
                    account.get("NumberOfEmployees"),
                )
                if account
                else None,
            )
            for role in sorted(
                (r for r in roles if r.get("OpportunityId") == record["Id"]),
                key=lambda r: not r.get("IsPrimary"),
            ):
                contact = contacts.get(role.get("ContactId") or "")
                if contact is None:
                    continue
                name = " ".join(p for p in (contact.get("FirstName"), contact.get("LastName")) if p)
                deal.contacts.append(
                    CrmDealContact(
                        CrmPerson(
                            contact["Id"],
                            name,
                            contact.get("Email") or "",
                            contact.get("Title") or "",
                            bool(contact.get("HasOptedOutOfEmail")),
                            contact.get("AccountId") or "",
                        ),
                        role.get("Role") or "",
                        bool(role.get("IsPrimary")),
                    )
                )
            deals.append(deal)
        return deals
