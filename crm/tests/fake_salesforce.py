"""A loopback Salesforce org answering SOQL through the REST query resource
(GET /services/data/vXX.X/query?q=..., then nextRecordsUrl pages of 2,000 records), over its
OpportunityStage, Opportunity, OpportunityHistory, OpportunityContactRole, Contact, Account and
User records, and PATCH /services/data/vXX.X/sobjects/Opportunity/{Id} (a write-back). It
understands the SOQL our adapter writes: field lists, WHERE with AND / OR in parentheses, =, >,
>=, IN, ORDER BY one field, LIMIT."""

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

    def user(self, number: int, name: str, email: str, active: bool = True, kind: str = "Standard") -> str:
        user_id = sf_id("005", number)
        self.add("User", Id=user_id, Name=name, Email=email, IsActive=active, UserType=kind)
        return user_id

    def add(self, sobject: str, **fields) -> dict:
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
            )
        return opportunity_id

    def serve(self, fake) -> None:
        fake.serve("GET", f"/services/data/{self.version}/query", self._query)
        fake.serve("PATCH", f"/services/data/{self.version}/sobjects/Opportunity/", self._patch)

    def _patch(self, path: str, body: dict):
        record_id = urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1]
        found = [r for r in self.objects["Opportunity"] if r["Id"] == record_id]
        if not found:
            return 404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
        found[0].update(body)
        return 204, None

    def _page(self, sobject: str, records: list[dict]) -> dict:
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
            answer["nextRecordsUrl"] = f"/services/data/{self.version}/query/{locator}"
        return answer

    def _query(self, path: str, body):
        parts = urlsplit(path)
        if parts.path.rstrip("/").endswith("/query"):
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
        records = self.objects[match["object"]]
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
        fields = [f.strip() for f in match["fields"].split(",")]
        return 200, self._page(match["object"], [{f: r.get(f) for f in fields} for r in records])
