"""A loopback Salesforce org answering SOQL through the REST query and queryAll resources
(GET /services/data/vXX.X/query?q=..., then nextRecordsUrl pages of 2,000 records; queryAll also
gives deleted records, IsDeleted true), over its OpportunityStage, RecordType, BusinessProcess,
Organization, Opportunity, OpportunityHistory, OpportunityContactRole, Contact, Account and User
records; the Opportunity describe (its fields: RecordTypeId only when the org has Opportunity
record types, CurrencyIsoCode only in a multi-currency org); the UI API's StageName picklist
values per record type (the stages of its sales process); sObject Get Deleted
(/sobjects/Contact/deleted/?start=&end=); and PATCH /services/data/vXX.X/sobjects/Opportunity/{Id}
(a write-back). It understands the SOQL our adapter writes: field lists, WHERE with AND / OR in
parentheses, =, >, >=, IN, ORDER BY one field, LIMIT."""

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

BATCH = 2000
QUERY = re.compile(
    r"^SELECT (?P<fields>.+?) FROM (?P<object>\w+)(?: WHERE (?P<where>.+?))?"
    r"(?: ORDER BY (?P<order>\w+)(?: (?P<direction>ASC|DESC))?)?(?: LIMIT (?P<limit>\d+))?$"
)
ATOM = re.compile(r"^(?P<field>\w+) (?P<op>=|>=|<=|>|<|IN) (?P<value>.+)$")


def sf_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def sf_id(prefix: str, number: int) -> str:
    return f"{prefix}5e0000{number:06d}AAA"


def _literal(text: str):
    text = text.strip()
    if text.startswith("("):
        return [_literal(v) for v in text.strip("()").split(",")]
    if text.startswith("'"):
        return text.strip("'")
    if text in ("true", "false"):
        return text == "true"
    return text  # a date or datetime literal, compared as text


def _comparable(value):
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}", value):
        return value[:19].replace("T", " ")
    return value


def _holds(record: dict, clause: str) -> bool:
    clause = clause.strip()
    if clause.startswith("(") and clause.endswith(")"):
        return any(_holds(record, part) for part in clause[1:-1].split(" OR "))
    match = ATOM.match(clause)
    assert match, f"the fake Salesforce does not understand {clause!r}"
    actual, op, wanted = record.get(match["field"]), match["op"], _literal(match["value"])
    if op == "IN":
        return actual in wanted
    actual, wanted = _comparable(actual), _comparable(wanted)
    if actual is None:
        return False
    return {
        "=": actual == wanted,
        ">": actual > wanted,
        ">=": actual >= wanted,
        "<": actual < wanted,
        "<=": actual <= wanted,
    }[op]


def _clauses(where: str) -> list[str]:
    """Top-level AND parts (an OR stays inside its parentheses)."""
    parts, depth, current = [], 0, ""
    for token in re.split(r"( AND |\(|\))", where):
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        if token == " AND " and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += token
    return [*parts, current]


@dataclass
class Org:
    objects: dict = field(
        default_factory=lambda: {
            name: []
            for name in (
                "OpportunityStage",
                "RecordType",
                "BusinessProcess",
                "Organization",
                "Opportunity",
                "OpportunityHistory",
                "OpportunityContactRole",
                "Contact",
                "Account",
                "User",
            )
        }
    )
    pending: dict = field(default_factory=dict)  # query locator -> records still to give
    version: str = "v60.0"
    batch: int = BATCH  # records a page (Salesforce: 2,000)
    multi_currency: bool = False  # an org with multiple currencies: Opportunity has CurrencyIsoCode
    process_stages: dict = field(default_factory=dict)  # BusinessProcess Id -> its stages' ApiNames
    deleted: list = field(default_factory=list)  # the delete log: (sobject, Id, when)

    def __post_init__(self):
        self.add("Organization", Id="00D5e000000AbCdEAK", Name="Oak Inc.", DefaultCurrencyIsoCode="USD")

    def sales_process(self, number: int, name: str, record_type: str, stages: list[str]) -> str:
        """A sales process (BusinessProcess) with these stages and the active record type using it."""
        process_id = sf_id("019", number)
        self.add("BusinessProcess", Id=process_id, Name=name, TableEnumOrId="Opportunity", IsActive=True)
        self.process_stages[process_id] = list(stages)
        record_type_id = sf_id("012", number)
        self.add(
            "RecordType",
            Id=record_type_id,
            Name=record_type,
            DeveloperName=record_type.replace(" ", "_"),
            SobjectType="Opportunity",
            BusinessProcessId=process_id,
            IsActive=True,
        )
        return record_type_id

    def delete(self, sobject: str, record_id: str, at: datetime, master: str | None = None) -> None:
        """Delete a record (to the recycle bin: queryAll still finds it). A deleted Contact takes its
        contact roles with it; `master`: the record it was merged into."""
        record = next(r for r in self.objects[sobject] if r["Id"] == record_id)
        record.update(IsDeleted=True, SystemModstamp=sf_time(at), LastModifiedDate=sf_time(at))
        if master:
            record["MasterRecordId"] = master
        self.deleted.append((sobject, record_id, at))
        if sobject != "Contact":
            return
        for role in self.objects["OpportunityContactRole"]:
            if role["ContactId"] == record_id and not role["IsDeleted"]:
                if master:  # a merge moves the loser's roles to the master record
                    role.update(ContactId=master, SystemModstamp=sf_time(at))
                else:
                    self.delete("OpportunityContactRole", role["Id"], at)

    def user(self, number: int, name: str, email: str, active: bool = True, kind: str = "Standard") -> str:
        user_id = sf_id("005", number)
        self.add("User", Id=user_id, Name=name, Email=email, IsActive=active, UserType=kind)
        return user_id

    def add(self, sobject: str, **fields) -> dict:
        fields.setdefault("IsDeleted", False)
        self.objects[sobject].append(fields)
        return fields

    def stage(self, label: str, order: int, probability: int, closed=False, won=False) -> None:
        self.add(
            "OpportunityStage",
            Id=sf_id("01J", order),
            ApiName=label,
            MasterLabel=label,
            SortOrder=order,
            IsActive=True,
            IsClosed=closed,
            IsWon=won,
            DefaultProbability=float(probability),
        )

    def opportunity(
        self,
        number: int,
        *,
        name: str,
        stages: list[str],
        owner: str,
        amount: float,
        created: datetime,
        modified: datetime,
        close_date: date,
        reason: str | None = None,
        account: str | None = None,
        roles=(),
        record_type: str | None = None,
        currency: str | None = None,
    ) -> str:
        """An opportunity that went through `stages` (the last is where it is now)."""
        closing = {s["ApiName"]: s for s in self.objects["OpportunityStage"]}[stages[-1]]
        opportunity_id = sf_id("006", number)
        self.add(
            "Opportunity",
            Id=opportunity_id,
            Name=name,
            StageName=stages[-1],
            Amount=amount,
            CloseDate=close_date.isoformat(),
            CreatedDate=sf_time(created),
            IsClosed=closing["IsClosed"],
            IsWon=closing["IsWon"],
            OwnerId=owner,
            AccountId=account,
            LastModifiedDate=sf_time(modified),
            Loss_Reason__c=reason,
            **({"RecordTypeId": record_type} if record_type else {}),
            **({"CurrencyIsoCode": currency} if currency else {}),
        )
        for n, stage in enumerate(stages):
            self.add(
                "OpportunityHistory",
                Id=sf_id("008", number * 10 + n),
                OpportunityId=opportunity_id,
                StageName=stage,
                CreatedDate=sf_time(created + timedelta(days=n)),
            )
        for contact, role, primary in roles:
            self.add(
                "OpportunityContactRole",
                Id=sf_id("00K", number * 10 + len(self.objects["OpportunityContactRole"]) % 10),
                OpportunityId=opportunity_id,
                ContactId=contact,
                Role=role,
                IsPrimary=primary,
                SystemModstamp=sf_time(modified),
            )
        return opportunity_id

    def serve(self, fake) -> None:
        fake.serve("GET", f"/services/data/{self.version}/query", self._query)
        fake.serve("GET", f"/services/data/{self.version}/queryAll", self._query)
        fake.serve("GET", f"/services/data/{self.version}/sobjects/", self._sobjects)
        fake.serve("GET", f"/services/data/{self.version}/ui-api/object-info/Opportunity/picklist-values/",
                   self._picklist)  # fmt: skip
        fake.serve("PATCH", f"/services/data/{self.version}/sobjects/Opportunity/", self._patch)

    def _patch(self, path: str, body: dict):
        record_id = urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1]
        found = [r for r in self.objects["Opportunity"] if r["Id"] == record_id]
        if not found:
            return 404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
        found[0].update(body)
        return 204, None

    def _page(self, sobject: str, records: list[dict], every: bool = False) -> dict:
        page, rest = records[: self.batch], records[self.batch :]
        answer = {
            "totalSize": len(records),
            "done": not rest,
            "records": [
                {
                    "attributes": {
                        "type": sobject,
                        "url": f"/services/data/{self.version}/sobjects/{sobject}/{r.get('Id', '')}",
                    },
                    **r,
                }
                for r in page
            ],
        }
        if rest:
            locator = f"01g{uuid.uuid4().hex[:15]}-{self.batch}"
            self.pending[locator] = (sobject, rest)
            resource = "queryAll" if every else "query"
            answer["nextRecordsUrl"] = f"/services/data/{self.version}/{resource}/{locator}"
        return answer

    def opportunity_fields(self) -> list[str]:
        """The Opportunity's fields as its describe gives them: RecordTypeId once the org has
        Opportunity record types, CurrencyIsoCode in a multi-currency org."""
        fields = ["Id", "IsDeleted", "AccountId", "Name", "StageName", "Amount", "Probability", "CloseDate",
                  "IsClosed", "IsWon", "OwnerId", "CreatedDate", "LastModifiedDate", "SystemModstamp",
                  "Loss_Reason__c", "Win_Reason__c", "Competitor__c"]  # fmt: skip
        if any(r["SobjectType"] == "Opportunity" for r in self.objects["RecordType"]):
            fields.append("RecordTypeId")
        return [*fields, "CurrencyIsoCode"] if self.multi_currency else fields

    def _sobjects(self, path: str, body):
        parts = urlsplit(path)
        if parts.path.rstrip("/").endswith("/sobjects/Opportunity/describe"):
            types = {"Id": "id", "StageName": "picklist", "Amount": "currency", "CurrencyIsoCode": "picklist"}
            return 200, {
                "name": "Opportunity",
                "label": "Opportunity",
                "fields": [
                    {"name": name, "label": name, "type": types.get(name, "string")}
                    for name in self.opportunity_fields()
                ],
                "recordTypeInfos": [
                    {"active": r["IsActive"], "available": True, "defaultRecordTypeMapping": False,
                     "developerName": r["DeveloperName"], "master": False, "name": r["Name"],
                     "recordTypeId": r["Id"]}
                    for r in self.objects["RecordType"] if r["SobjectType"] == "Opportunity"
                ] + [{"active": True, "available": True, "defaultRecordTypeMapping": True,
                      "developerName": "Master", "master": True, "name": "Master",
                      "recordTypeId": "012000000000000AAA"}],
            }  # fmt: skip
        match = re.search(r"/sobjects/(\w+)/deleted/?$", parts.path)
        if match:  # sObject Get Deleted: the delete log between start and end
            query = parse_qs(parts.query)
            start, end = (
                datetime.fromisoformat(query[k][0].replace("Z", "+00:00")) for k in ("start", "end")
            )
            return 200, {
                "deletedRecords": [
                    {"id": record_id, "deletedDate": sf_time(at)}
                    for sobject, record_id, at in self.deleted
                    if sobject == match[1] and start <= at <= end
                ],
                "earliestDateAvailable": sf_time(datetime.now(UTC) - timedelta(days=15)),
                "latestDateCovered": sf_time(end),
            }
        return 404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]

    def _picklist(self, path: str, body):
        """UI API: the StageName values a record type may use (its sales process's), in order."""
        record_type_id, field_name = urlsplit(path).path.rstrip("/").split("/")[-2:]
        record_type = next((r for r in self.objects["RecordType"] if r["Id"] == record_type_id), None)
        if record_type is None or field_name != "StageName":
            return 404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
        allowed = self.process_stages[record_type["BusinessProcessId"]]
        stages = sorted(
            (s for s in self.objects["OpportunityStage"] if s["ApiName"] in allowed and s["IsActive"]),
            key=lambda s: s["SortOrder"],
        )
        return 200, {
            "controllerValues": {},
            "defaultValue": None,
            "eTag": uuid.uuid4().hex,
            "url": urlsplit(path).path,
            "values": [
                {"attributes": None, "label": s["MasterLabel"], "validFor": [], "value": s["ApiName"]}
                for s in stages
            ],
        }

    def _query(self, path: str, body):
        parts = urlsplit(path)
        every = "/queryAll" in parts.path  # queryAll: deleted records too
        if parts.path.rstrip("/").endswith(("/query", "/queryAll")):
            soql = parse_qs(parts.query)["q"][0]
        else:
            sobject, rest = self.pending.pop(parts.path.rsplit("/", 1)[-1])
            return 200, self._page(sobject, rest)
        match = QUERY.match(" ".join(soql.split()))
        assert match, f"the fake Salesforce does not understand {soql!r}"
        if match["object"] not in self.objects:
            return 400, [
                {
                    "message": f"sObject type '{match['object']}' is not supported.",
                    "errorCode": "INVALID_TYPE",
                }
            ]
        fields = [f.strip() for f in match["fields"].split(",")]
        if match["object"] == "Opportunity":
            known = self.opportunity_fields()
            unknown = [f for f in fields if f not in known and not f.endswith("__c")]
            if unknown:
                return 400, [{"message": f"No such column '{unknown[0]}' on entity 'Opportunity'.",
                              "errorCode": "INVALID_FIELD"}]  # fmt: skip
        records = [r for r in self.objects[match["object"]] if every or not r["IsDeleted"]]
        if match["where"]:
            clauses = _clauses(match["where"])
            records = [r for r in records if all(_holds(r, c) for c in clauses)]
        if match["order"]:
            records = sorted(
                records,
                key=lambda r: _comparable(r.get(match["order"])) or "",
                reverse=match["direction"] == "DESC",
            )
        if match["limit"]:
            records = records[: int(match["limit"])]
        return 200, self._page(match["object"], [{f: r.get(f) for f in fields} for r in records], every)
