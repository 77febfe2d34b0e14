"""A loopback HubSpot holding a portal's deals, companies and contacts, served through HubSpot's
own documented endpoints and payloads, with paging:

- GET  /crm/v3/pipelines/deals
- GET  /crm/v3/objects/deals?limit=&after=&properties=&propertiesWithHistory=dealstage
- GET  /crm/v3/objects/deals/{id}?properties=&propertiesWithHistory=dealstage
- POST /crm/v3/objects/deals/search (hs_lastmodifieddate GTE, sorted, paged by `after`)
- POST /crm/v4/associations/deals/{companies|contacts}/batch/read (association types and labels)
- POST /crm/v3/objects/{companies|contacts}/batch/read
- GET  /crm/v3/owners?limit=&after=&archived=   (the portal's owners, paged by `after`)
- PATCH /crm/v3/objects/deals/{id}               (a write-back: the portal's deal takes the properties)

The test changes the portal through the methods below (as a HubSpot user would) and sends the
webhooks HubSpot would send about it."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

DEAL_TO_CONTACT = 3  # HubSpot's unlabelled deal-to-contact association type
DEAL_TO_COMPANY_PRIMARY = 5


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Portal:
    pipelines: list = field(default_factory=list)  # HubSpot pipeline objects
    deals: dict = field(default_factory=dict)  # id -> {"properties", "history", "createdAt"}
    companies: dict = field(default_factory=dict)  # id -> properties
    contacts: dict = field(default_factory=dict)  # id -> properties
    deal_companies: dict = field(default_factory=dict)  # deal id -> company id
    deal_contacts: dict = field(default_factory=dict)  # deal id -> [(contact id, label or "")]
    next_id: int = 5000
    owners: list = field(default_factory=list)  # HubSpot owner objects
    owner_page_size: int = 100  # at most `limit` owners a page

    def owner(self, owner_id: str, first: str, last: str, email: str, archived: bool = False) -> None:
        self.owners.append(
            {
                "id": owner_id, "email": email, "type": "PERSON", "firstName": first, "lastName": last,
                "userId": 9000 + len(self.owners), "userIdIncludingInactive": 9000 + len(self.owners),
                "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z",
                "archived": archived, "teams": [],
            }
        )  # fmt: skip

    # --- what a HubSpot user does ------------------------------------------------------------

    def pipeline(self, pipeline_id: str, label: str, stages: list[tuple[str, str, float, bool]]) -> None:
        """stages: (id, label, probability 0..1, closed)."""
        self.pipelines.append(
            {
                "id": pipeline_id,
                "label": label,
                "displayOrder": len(self.pipelines),
                "archived": False,
                "createdAt": "2024-01-01T00:00:00Z",
                "updatedAt": "2024-01-01T00:00:00Z",
                "stages": [
                    {
                        "id": sid,
                        "label": name,
                        "displayOrder": n,
                        "archived": False,
                        "metadata": {"isClosed": "true" if closed else "false", "probability": str(prob)},
                        "createdAt": "2024-01-01T00:00:00Z",
                        "updatedAt": "2024-01-01T00:00:00Z",
                    }
                    for n, (sid, name, prob, closed) in enumerate(stages)
                ],
            }
        )

    def stage(self, stage_id: str) -> dict:
        return next(s for p in self.pipelines for s in p["stages"] if s["id"] == stage_id)

    def company(self, company_id: str, name: str, domain: str, industry: str, employees: int) -> None:
        self.companies[company_id] = {
            "name": name,
            "domain": domain,
            "industry": industry,
            "numberofemployees": str(employees),
            "hs_object_id": company_id,
        }

    def contact(
        self, contact_id: str, first: str, last: str, email: str, opted_out: bool = False, company: str = ""
    ) -> None:
        self.contacts[contact_id] = {
            "associatedcompanyid": company or None,
            "firstname": first,
            "lastname": last,
            "email": email,
            "jobtitle": "Buyer",
            "hs_email_optout": "true" if opted_out else "false",
            "hs_object_id": contact_id,
        }

    def deal(
        self,
        deal_id: str,
        *,
        name: str,
        pipeline: str,
        stages: list[str],
        owner: str,
        amount: str,
        created: datetime,
        changed: datetime,
        closed: datetime | None = None,
        reason: str = "",
        currency: str = "USD",
        company: str | None = None,
        contacts=(),
    ) -> None:
        """A deal that went through `stages` (the last is where it is now)."""
        history = [{"value": s, "timestamp": iso(changed), "sourceType": "CRM_UI"} for s in reversed(stages)]
        props = {
            "dealname": name,
            "dealstage": stages[-1],
            "pipeline": pipeline,
            "amount": amount,
            "deal_currency_code": currency,
            "createdate": iso(created),
            "hubspot_owner_id": owner,
            "closedate": iso(closed) if closed else None,
            "hs_lastmodifieddate": iso(changed),
            "closed_lost_reason": reason or None,
            "hs_object_id": deal_id,
        }
        self.deals[deal_id] = {"properties": props, "history": history, "createdAt": iso(created)}
        if company:
            self.deal_companies[deal_id] = company
        self.deal_contacts[deal_id] = list(contacts)

    def move(self, deal_id: str, stage: str, at: datetime, **properties) -> None:
        deal = self.deals[deal_id]
        deal["history"].insert(0, {"value": stage, "timestamp": iso(at), "sourceType": "CRM_UI"})
        deal["properties"].update(dealstage=stage, hs_lastmodifieddate=iso(at), **properties)

    # --- HubSpot's API ------------------------------------------------------------------------

    def _deal_object(self, deal_id: str, properties: list[str], with_history: bool) -> dict:
        deal = self.deals[deal_id]
        result = {
            "id": deal_id,
            "properties": {k: deal["properties"].get(k) for k in properties},
            "createdAt": deal["createdAt"],
            "updatedAt": deal["properties"]["hs_lastmodifieddate"],
            "archived": False,
        }
        if with_history:
            result["propertiesWithHistory"] = {"dealstage": deal["history"]}
        return result

    def serve(self, fake) -> None:
        fake.serve("GET", "/crm/v3/pipelines/deals", lambda path, body: (200, {"results": self.pipelines}))
        fake.serve("GET", "/crm/v3/objects/deals", self._deals_get)
        fake.serve("POST", "/crm/v3/objects/deals/search", self._search)
        fake.serve("POST", "/crm/v4/associations/deals/", self._associations)
        fake.serve("POST", "/crm/v3/objects/companies/batch/read", self._batch(self.companies))
        fake.serve("POST", "/crm/v3/objects/contacts/batch/read", self._batch(self.contacts))
        fake.serve("GET", "/crm/v3/owners", self._owners)
        fake.serve("PATCH", "/crm/v3/objects/deals/", self._patch)

    def _owners(self, path: str, body):
        query = parse_qs(urlsplit(path).query)
        archived = (query.get("archived") or ["false"])[0] == "true"
        limit = min(int((query.get("limit") or ["100"])[0]), 100, self.owner_page_size)
        owners = [o for o in self.owners if o["archived"] == archived]
        start = int((query.get("after") or ["0"])[0])
        answer = {"results": owners[start : start + limit]}
        if start + limit < len(owners):
            answer["paging"] = {"next": {"after": str(start + limit), "link": f"?after={start + limit}"}}
        return 200, answer

    def _patch(self, path: str, body: dict):
        deal_id = urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1]
        if deal_id not in self.deals:
            return 404, {"status": "error", "message": "Object not found.", "category": "OBJECT_NOT_FOUND"}
        self.deals[deal_id]["properties"].update(body.get("properties") or {})
        return 200, self._deal_object(deal_id, list(self.deals[deal_id]["properties"]), False)

    def _deals_get(self, path: str, body):
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        properties = (query.get("properties") or [""])[0].split(",")
        history = "dealstage" in (query.get("propertiesWithHistory") or [""])[0]
        rest = parts.path.removeprefix("/crm/v3/objects/deals").strip("/")
        if rest:  # one deal
            if rest not in self.deals:
                return 404, {
                    "status": "error",
                    "message": "Object not found.",
                    "category": "OBJECT_NOT_FOUND",
                }
            return 200, self._deal_object(rest, properties, history)
        limit = min(int((query.get("limit") or ["10"])[0]), 50 if history else 100)
        ids = sorted(self.deals, key=int)
        start = int((query.get("after") or ["0"])[0])
        page = [i for i in ids if int(i) > start][:limit]
        answer = {"results": [self._deal_object(i, properties, history) for i in page]}
        if page and page[-1] != ids[-1]:
            answer["paging"] = {"next": {"after": page[-1], "link": f"?after={page[-1]}"}}
        return 200, answer

    def _search(self, path: str, body: dict):
        since = int(body["filterGroups"][0]["filters"][0]["value"])
        found = sorted(
            (
                d
                for d in self.deals.values()
                if datetime.fromisoformat(
                    d["properties"]["hs_lastmodifieddate"].replace("Z", "+00:00")
                ).timestamp()
                * 1000
                >= since
            ),
            key=lambda d: d["properties"]["hs_lastmodifieddate"],
        )
        start = int(body.get("after") or 0)
        page = found[start : start + int(body.get("limit") or 10)]
        answer = {
            "total": len(found),
            "results": [
                self._deal_object(d["properties"]["hs_object_id"], body.get("properties", []), False)
                for d in page
            ],
        }
        if start + len(page) < len(found):
            answer["paging"] = {"next": {"after": str(start + len(page))}}
        return 200, answer

    def _associations(self, path: str, body: dict):
        to = urlsplit(path).path.split("/")[5]  # /crm/v4/associations/deals/{to}/batch/read
        results = []
        for item in body["inputs"]:
            deal_id = str(item["id"])
            if to == "companies":
                company = self.deal_companies.get(deal_id)
                links = (
                    [
                        (
                            company,
                            [
                                {
                                    "category": "HUBSPOT_DEFINED",
                                    "typeId": DEAL_TO_COMPANY_PRIMARY,
                                    "label": "Primary",
                                }
                            ],
                        )
                    ]
                    if company
                    else []
                )
            else:
                links = [
                    (
                        contact,
                        [{"category": "HUBSPOT_DEFINED", "typeId": DEAL_TO_CONTACT, "label": None}]
                        + ([{"category": "USER_DEFINED", "typeId": 41, "label": label}] if label else []),
                    )
                    for contact, label in self.deal_contacts.get(deal_id, [])
                ]
            if links:
                results.append(
                    {
                        "from": {"id": deal_id},
                        "to": [{"toObjectId": int(o), "associationTypes": t} for o, t in links],
                    }
                )
        return 200, {
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso(datetime.now(UTC)),
            "completedAt": iso(datetime.now(UTC)),
        }

    def _batch(self, objects: dict):
        def read(path: str, body: dict):
            assert len(body["inputs"]) <= 100, "HubSpot batch reads take at most 100 inputs"
            found = [str(i["id"]) for i in body["inputs"] if str(i["id"]) in objects]
            return 200, {
                "status": "COMPLETE",
                "results": [
                    {
                        "id": i,
                        "properties": {k: objects[i].get(k) for k in body.get("properties", [])},
                        "archived": False,
                    }
                    for i in found
                ],
            }

        return read
