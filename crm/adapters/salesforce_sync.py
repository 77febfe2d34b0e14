"""Salesforce's reads for the sync, through the REST query resource (SOQL) unless said: the
opportunity stages (OpportunityStage: its ApiName the value an Opportunity's StageName carries),
which make one pipeline of every stage ("Opportunity", for opportunities without a record type)
plus, in an org with Opportunity record types, one pipeline per active RecordType whose
BusinessProcess (sales process) is active, with the stages of that process (the UI API's
StageName picklist values for the record type, in the process's order); Opportunities page by
page (keyset on Id, so a resumed run never reads a page twice), each in its record type's
pipeline and in its CurrencyIsoCode (multi-currency orgs; else the org's
DefaultCurrencyIsoCode), the stage a closed one closed at (OpportunityHistory), its contact roles
(OpportunityContactRole with IsPrimary and Role), the Contacts (HasOptedOutOfEmail) and the
Accounts. Which of RecordTypeId and CurrencyIsoCode an org's Opportunity has, its describe says
(asking for a field the org lacks fails the whole query).

For reconciliation: the Contacts deleted (sObject Get Deleted; merged ones, whose MasterRecordId
queryAll gives, are not people who left) and the opportunities whose contact roles were added,
changed or deleted (queryAll on OpportunityContactRole: removing a role does not touch the
Opportunity's LastModifiedDate)."""

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode, urlsplit

from crm.adapters.base import Fetch, crm_value, parse_amount, parse_time
from crm.models import CrmConnection
from crm.sync.shapes import (
    LOST,
    OPEN,
    WON,
    CrmCompany,
    CrmDeal,
    CrmDealContact,
    CrmPeopleChanges,
    CrmPerson,
    CrmPipeline,
    CrmStage,
    DealsPage,
)

PIPELINE_ID = "Opportunity"  # every stage: opportunities without an (active) record type
DELETED_DAYS = 15  # sObject Get Deleted answers for this many days back at most
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


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class OrgShape:
    """What an org's Opportunity has: its fields (from its describe), the org's default currency and
    its active record types (those with a pipeline here)."""

    fields: frozenset
    currency: str
    record_types: frozenset


class SalesforceSyncReads:
    """Mixed into SalesforceAdapter: the sync's reads of one Salesforce org."""

    def _query(self, connection: CrmConnection, fetch: Fetch, soql: str, every: bool = False) -> list[dict]:
        base = connection.base_url.rstrip("/")
        resource = "queryAll" if every else "query"  # queryAll: deleted records too
        url = f"{base}/services/data/{connection.api_version}/{resource}?{urlencode({'q': soql})}"
        records = []
        for _ in range(1000):
            page = fetch("GET", url, None)
            records += [{k: v for k, v in r.items() if k != "attributes"} for r in page.get("records") or []]
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return records
            url = base + page["nextRecordsUrl"]
        return records

    def _in_chunks(self, connection, fetch, soql: str, ids: list[str], every: bool = False) -> list[dict]:
        ids = sorted(set(i for i in ids if i and RECORD_ID.match(i)))
        found = []
        for start in range(0, len(ids), IN_LIST):
            chunk = soql.format(ids=_ids(ids[start : start + IN_LIST]))
            found += self._query(connection, fetch, chunk, every)
        return found

    def _record_types(self, connection: CrmConnection, fetch: Fetch) -> list[dict]:
        """The org's active Opportunity record types whose sales process is active (none: the org
        has no record types, and one pipeline of every stage)."""
        record_types = self._query(
            connection,
            fetch,
            "SELECT Id, Name, DeveloperName, BusinessProcessId FROM RecordType "
            "WHERE SobjectType = 'Opportunity' AND IsActive = true ORDER BY Name",
        )
        if not record_types:
            return []
        processes = self._query(
            connection,
            fetch,
            "SELECT Id, Name FROM BusinessProcess WHERE TableEnumOrId = 'Opportunity' AND IsActive = true",
        )
        active = {p["Id"] for p in processes}
        return [r for r in record_types if r.get("BusinessProcessId") in active and r.get("Name")]

    def _org(self, connection: CrmConnection, fetch: Fetch) -> OrgShape:
        base = f"{connection.base_url.rstrip('/')}/services/data/{connection.api_version}"
        describe = fetch("GET", f"{base}/sobjects/Opportunity/describe", None)
        fields = frozenset(f.get("name") for f in describe.get("fields") or [])
        org = self._query(connection, fetch, "SELECT Id, DefaultCurrencyIsoCode FROM Organization")
        currency = str((org[0].get("DefaultCurrencyIsoCode") if org else "") or "USD").upper()[:3]
        record_types = (
            frozenset(r["Id"] for r in self._record_types(connection, fetch))
            if "RecordTypeId" in fields
            else frozenset()
        )
        return OrgShape(fields, currency, record_types)

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
        if not stages:
            return []
        pipelines = [CrmPipeline(PIPELINE_ID, "Opportunities", stages)]
        by_value = {stage.external_id: stage for stage in stages}
        base = f"{connection.base_url.rstrip('/')}/services/data/{connection.api_version}"
        for record_type in self._record_types(connection, fetch):
            url = (
                f"{base}/ui-api/object-info/Opportunity/picklist-values/{quote(record_type['Id'])}/StageName"
            )
            values = [v.get("value") for v in fetch("GET", url, None).get("values") or []]
            process = [by_value[v] for v in values if v in by_value]  # in the sales process's order
            if process:
                chosen = [replace(stage, order=n) for n, stage in enumerate(process, start=1)]
                pipelines.append(CrmPipeline(record_type["Id"], record_type["Name"], chosen))
        return pipelines

    def _opportunity_fields(self, connection: CrmConnection, org: OrgShape) -> str:
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
            *(f for f in ("RecordTypeId", "CurrencyIsoCode") if f in org.fields),
        ]
        return ", ".join(dict.fromkeys(f for f in fields if f and SOQL_NAME.match(f)))

    def read_deals(
        self, *, connection: CrmConnection, fetch: Fetch, cursor: str, closed_since: datetime
    ) -> DealsPage:
        after = f" AND Id > '{cursor}'" if cursor and RECORD_ID.match(cursor) else ""
        org = self._org(connection, fetch)
        soql = (
            f"SELECT {self._opportunity_fields(connection, org)} FROM Opportunity "  # noqa: S608 - names and dates checked
            f"WHERE (IsClosed = false OR CloseDate >= {closed_since:%Y-%m-%d}){after} "
            f"ORDER BY Id LIMIT {DEALS_PAGE}"
        )
        records = self._query(connection, fetch, soql)
        deals = self._deals(connection, fetch, records, org)
        last = records[-1]["Id"] if len(records) == DEALS_PAGE else None
        return DealsPage(deals, last)

    def read_deal(self, *, connection: CrmConnection, fetch: Fetch, external_id: str) -> CrmDeal | None:
        if not RECORD_ID.match(external_id or ""):
            return None
        org = self._org(connection, fetch)
        soql = (
            f"SELECT {self._opportunity_fields(connection, org)} FROM Opportunity WHERE Id = '{external_id}'"  # noqa: S608
        )
        deals = self._deals(connection, fetch, self._query(connection, fetch, soql), org)
        return deals[0] if deals else None

    def _deals(
        self, connection: CrmConnection, fetch: Fetch, records: list[dict], org: OrgShape
    ) -> list[CrmDeal]:
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
                pipeline_id=record["RecordTypeId"]
                if record.get("RecordTypeId") in org.record_types
                else PIPELINE_ID,
                stage_id=stage_before.get(record["Id"], "") if outcome != OPEN else stage,
                outcome=outcome,
                owner=crm_value(record.get("OwnerId")) or "",
                amount=parse_amount(record.get("Amount")) or 0,
                currency=str(record.get("CurrencyIsoCode") or org.currency).upper()[:3],
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

    def people_changed_since(
        self, *, connection: CrmConnection, since: datetime, until: datetime, fetch: Fetch
    ) -> CrmPeopleChanges:
        """Contacts deleted between `since` and `until` (not merged into another) and the
        opportunities whose contact roles changed since `since`."""
        start = max(since, until - timedelta(days=DELETED_DAYS))
        base = f"{connection.base_url.rstrip('/')}/services/data/{connection.api_version}"
        window = urlencode({"start": start.astimezone(UTC).isoformat(timespec="seconds"),
                            "end": until.astimezone(UTC).isoformat(timespec="seconds")})  # fmt: skip
        answer = fetch("GET", f"{base}/sobjects/Contact/deleted/?{window}", None)
        deleted = [str(r["id"]) for r in answer.get("deletedRecords") or [] if r.get("id")]
        merged = {
            r["Id"]
            for r in self._in_chunks(
                connection,
                fetch,
                "SELECT Id, MasterRecordId FROM Contact WHERE Id IN ({ids})",
                deleted,
                every=True,
            )
            if r.get("MasterRecordId")
        }  # the losing record of a merge: the person lives on in the master record
        roles = self._query(
            connection,
            fetch,
            f"SELECT Id, OpportunityId FROM OpportunityContactRole WHERE SystemModstamp >= {_when(since)}",  # noqa: S608 - a formatted date
            every=True,
        )
        deals = sorted({r["OpportunityId"] for r in roles if r.get("OpportunityId")})
        return CrmPeopleChanges([d for d in deleted if d not in merged], deals)
