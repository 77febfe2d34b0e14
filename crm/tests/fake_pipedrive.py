"""A loopback Pipedrive holding a company's pipelines, stages, deals, persons and organizations,
served through Pipedrive's own documented endpoints and payloads, with cursor paging:

- GET /api/v2/pipelines, GET /api/v2/stages                      (cursor, limit)
- GET /api/v2/deals?cursor=&limit=&sort_by=id | ?updated_since=  (cursor; reconciliation)
- GET /api/v2/deals/{id}
- GET /api/v1/deals/{id}/participants                            (start/limit pagination)
- GET /api/v2/persons?ids=&include_fields=marketing_status, GET /api/v2/organizations?ids=
- GET /api/v1/users                                              (the company's users, not paged)
- PATCH /api/v2/deals/{id}                                       (a write-back: the deal takes the fields)

Every request must carry a token as Pipedrive takes it: a personal API token in `x-api-token`, an
OAuth access token (one of `oauth_tokens`) as `Authorization: Bearer`; anything else is 401.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Company:
    pipelines: list = field(default_factory=list)
    stages: list = field(default_factory=list)
    deals: dict = field(default_factory=dict)  # id -> v2 deal object
    persons: dict = field(default_factory=dict)
    orgs: dict = field(default_factory=dict)
    participants: dict = field(default_factory=dict)  # deal id -> [person id]
    users: list = field(default_factory=list)  # v1 user objects
    oauth_tokens: set = field(default_factory=set)  # the access tokens of the company's OAuth apps

    def user(self, user_id: int, name: str, email: str, active: bool = True) -> None:
        self.users.append(
            {
                "id": user_id, "name": name, "default_currency": "EUR", "locale": "en_US", "lang": 1,
                "email": email, "phone": None, "activated": active, "last_login": "2024-03-01 09:00:00",
                "created": "2024-01-02 10:00:00", "modified": "2024-03-01 09:00:00",
                "has_created_company": False, "access": [{"app": "sales", "admin": False}],
                "active_flag": active, "timezone_name": "Europe/Berlin", "timezone_offset": "+01:00",
                "role_id": 1, "icon_url": None, "is_you": False, "is_deleted": False,
            }
        )  # fmt: skip

    def pipeline(self, pipeline_id: int, name: str, stages: list[tuple[int, str, int]]) -> None:
        self.pipelines.append(
            {
                "id": pipeline_id,
                "name": name,
                "order_nr": len(self.pipelines) + 1,
                "is_deleted": False,
                "is_deal_probability_enabled": True,
                "add_time": "2024-01-02T10:00:00Z",
                "update_time": "2024-01-02T10:00:00Z",
            }
        )
        for order, (stage_id, stage_name, probability) in enumerate(stages, start=1):
            self.stages.append(
                {
                    "id": stage_id,
                    "order_nr": order,
                    "name": stage_name,
                    "is_deleted": False,
                    "deal_probability": probability,
                    "pipeline_id": pipeline_id,
                    "is_deal_rot_enabled": False,
                    "days_to_rotten": None,
                    "add_time": "2024-01-02T10:00:00Z",
                    "update_time": "2024-01-02T10:00:00Z",
                }
            )

    def org(self, org_id: int, name: str) -> None:
        self.orgs[org_id] = {
            "id": org_id,
            "name": name,
            "owner_id": 1,
            "is_deleted": False,
            "add_time": "2024-01-02T10:00:00Z",
            "update_time": "2024-01-02T10:00:00Z",
            "address": None,
            "label_ids": [],
        }

    def person(
        self, person_id: int, name: str, email: str, org_id: int | None, marketing_status="subscribed"
    ):
        self.persons[person_id] = {
            "id": person_id,
            "name": name,
            "owner_id": 1,
            "org_id": org_id,
            "emails": [{"value": email, "primary": True, "label": "work"}],
            "phones": [],
            "is_deleted": False,
            "marketing_status": marketing_status,
            "add_time": "2024-01-02T10:00:00Z",
            "update_time": "2024-01-02T10:00:00Z",
        }

    def deal(
        self,
        deal_id: int,
        *,
        title: str,
        pipeline: int,
        stage: int,
        owner: int,
        value: float,
        status: str,
        created: datetime,
        updated: datetime,
        closed: datetime | None = None,
        lost_reason: str | None = None,
        person: int | None = None,
        org: int | None = None,
        participants=(),
        currency: str = "EUR",
    ) -> None:
        self.deals[deal_id] = {
            "id": deal_id,
            "title": title,
            "owner_id": owner,
            "person_id": person,
            "org_id": org,
            "pipeline_id": pipeline,
            "stage_id": stage,
            "value": value,
            "currency": currency,
            "add_time": stamp(created),
            "update_time": stamp(updated),
            "stage_change_time": stamp(updated),
            "is_deleted": False,
            "status": status,
            "probability": None,
            "lost_reason": lost_reason,
            "visible_to": 3,
            "close_time": stamp(closed) if closed else None,
            "won_time": stamp(closed) if closed and status == "won" else None,
            "lost_time": stamp(closed) if closed and status == "lost" else None,
            "expected_close_date": None,
            "label_ids": [],
            "custom_fields": {},
        }
        self.participants[deal_id] = [p for p in ([person] if person else []) + list(participants)]

    # --- Pipedrive's API ----------------------------------------------------------------------

    def serve(self, fake) -> None:
        fake.guard = self._authenticate
        fake.serve("GET", "/api/v2/pipelines", lambda path, body: self._paged(path, self.pipelines))
        fake.serve("GET", "/api/v2/stages", lambda path, body: self._paged(path, self.stages))
        fake.serve("GET", "/api/v2/deals", self._deals)
        fake.serve("GET", "/api/v1/deals/", self._participants)
        fake.serve("GET", "/api/v2/persons", lambda path, body: self._by_ids(path, self.persons))
        fake.serve("GET", "/api/v2/organizations", lambda path, body: self._by_ids(path, self.orgs))
        fake.serve("GET", "/api/v1/users", lambda path, body: (200, {"success": True, "data": self.users}))
        fake.serve("PATCH", "/api/v2/deals/", self._patch)

    def _authenticate(self, method: str, path: str, headers: dict):
        """A personal API token is refused as a bearer token, an OAuth one in x-api-token."""
        found = {k.lower(): v for k, v in headers.items()}
        bearer = found.get("authorization", "").removeprefix("Bearer ")
        personal = found.get("x-api-token", "")
        if (personal and personal not in self.oauth_tokens) or (bearer and bearer in self.oauth_tokens):
            return None
        return 401, {
            "success": False,
            "error": "unauthorized access",
            "errorCode": 401,
            "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API.",
        }

    def _patch(self, path: str, body: dict):
        deal = self.deals.get(int(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1]))
        if deal is None:
            return 404, {"success": False, "error": "Deal not found", "error_info": "", "data": None}
        deal.update({k: v for k, v in body.items() if k != "custom_fields"})
        deal["custom_fields"].update(body.get("custom_fields") or {})
        return 200, {"success": True, "data": deal}

    @staticmethod
    def _query(path: str) -> dict:
        return {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}

    def _paged(self, path: str, items: list, limit_default: int = 100):
        query = self._query(path)
        start, limit = int(query.get("cursor") or 0), min(int(query.get("limit") or limit_default), 500)
        page = items[start : start + limit]
        more = start + limit < len(items)
        return 200, {
            "success": True,
            "data": page,
            "additional_data": {"next_cursor": str(start + limit) if more else None},
        }

    def _deals(self, path: str, body):
        rest = urlsplit(path).path.removeprefix("/api/v2/deals").strip("/")
        if rest:
            deal = self.deals.get(int(rest))
            if deal is None:
                return 404, {"success": False, "error": "Deal not found", "error_info": "", "data": None}
            return 200, {"success": True, "data": deal}
        query = self._query(path)
        deals = sorted(self.deals.values(), key=lambda d: d["id"])
        if "updated_since" in query:
            deals = sorted(
                (d for d in deals if d["update_time"] >= query["updated_since"]),
                key=lambda d: (d["update_time"], d["id"]),
            )
        return self._paged(path, deals)

    def _participants(self, path: str, body):
        parts = urlsplit(path).path.split("/")  # /api/v1/deals/{id}/participants
        deal_id = int(parts[4])
        if deal_id not in self.deals:
            return 404, {"success": False, "error": "Deal not found"}
        data = [
            {
                "id": 70000 + n,
                "person_id": {
                    "name": self.persons[p]["name"],
                    "value": p,
                    "active_flag": True,
                    "email": [{"value": self.persons[p]["emails"][0]["value"], "primary": True}],
                },
                "add_time": "2024-01-02 10:00:00",
                "active_flag": True,
                "related_item_data": {"deal_id": {"title": self.deals[deal_id]["title"], "value": deal_id}},
            }
            for n, p in enumerate(self.participants.get(deal_id, []))
        ]
        return 200, {
            "success": True,
            "data": data,
            "additional_data": {"pagination": {"start": 0, "limit": 100, "more_items_in_collection": False}},
        }

    def _by_ids(self, path: str, objects: dict):
        ids = [int(i) for i in self._query(path).get("ids", "").split(",") if i]
        assert len(ids) <= 100, "Pipedrive takes at most 100 ids"
        return 200, {
            "success": True,
            "data": [objects[i] for i in ids if i in objects],
            "additional_data": {"next_cursor": None},
        }
