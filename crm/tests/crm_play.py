"""Each CRM played by its own documented payloads, keeping its own records as the CRM would.

A `Play` turns a step of a deal's life in the CRM (a close with or without a reason, a reason set
on its own, a stage move or reopen) into the deliveries that CRM sends (HubSpot: v3 property-change
events; Pipedrive: webhooks v2 `change` events with `previous`; Salesforce: outbound messages), and
keeps the deal's record as the CRM's read API then gives it (HubSpot CRM search, Pipedrive API v2
deals, Salesforce SOQL records), served by the loopback fake CRM for reconciliation.
"""

import json
from datetime import datetime

from crm.models import CrmKind
from crm.tests.conftest import (
    HUBSPOT_SECRET,
    PIPEDRIVE_PASSWORD,
    PIPEDRIVE_USER,
    SALESFORCE_TOKEN,
    basic_auth,
    sign_hubspot,
)

# A Pipedrive custom field's key: the win reason lives in one (Pipedrive has no standard one).
PIPEDRIVE_WIN_KEY = "5b7e2c9d0a1f4e3b8c6d2a9f1e0b7c4d5a6e8f01"


def _iso(at: datetime, millis: bool = False) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S") + (".000Z" if millis else "Z")


class Play:
    kind: str
    # Each CRM's stage value for our stages (its stage map) and for the close outcomes.
    stages: dict[str, str]
    closed: dict[str, str]

    def __init__(self):
        self.records: dict[str, dict] = {}
        self.counter = 0

    def connection_settings(self) -> dict:
        return {"stage_map": dict(self.stages)}

    def step(self, external_id: str, step: tuple, at: datetime) -> list:
        """The deliveries of one step: ("close", outcome, reason or None), ("reason", outcome,
        text) or ("stage", our stage name). A reason None: this change does not set the reason."""
        self.counter += 1
        action, *args = step
        return getattr(self, action)(external_id, *args, at=at)


class HubSpotPlay(Play):
    kind = CrmKind.HUBSPOT
    stages = {
        "Discovery": "qualifiedtobuy", "Proposal": "presentationscheduled", "Negotiation": "contractsent",
    }  # fmt: skip
    closed = {"lost": "closedlost", "won": "closedwon"}
    fields = {"lost": "closed_lost_reason", "won": "closed_won_reason"}

    def _record(self, external_id: str, at: datetime, **properties) -> None:
        record = self.records.setdefault(
            external_id,
            {"id": external_id, "properties": {"dealstage": self.stages["Proposal"],
                                               "closed_lost_reason": None, "closed_won_reason": None}},
        )  # fmt: skip
        record["properties"].update(properties, hs_lastmodifieddate=_iso(at, millis=True))

    def _event(self, external_id, at, subscription, name, value) -> dict:
        return {"eventId": 3_000_000 + self.counter, "subscriptionId": subscription, "portalId": 62515,
                "appId": 1160452, "occurredAt": int(at.timestamp() * 1000),
                "subscriptionType": "deal.propertyChange", "attemptNumber": 0, "objectId": int(external_id),
                "propertyName": name, "propertyValue": value, "changeSource": "CRM_UI"}  # fmt: skip

    def close(self, external_id, outcome, reason, *, at):
        events = [self._event(external_id, at, 1, "dealstage", self.closed[outcome])]
        props = {"dealstage": self.closed[outcome]}
        if reason is not None:  # HubSpot batches the reason's own event with the stage's
            events.append(self._event(external_id, at, 2, self.fields[outcome], reason))
            props[self.fields[outcome]] = reason
        self._record(external_id, at, **props)
        return [events]

    def reason(self, external_id, outcome, text, *, at):
        self._record(external_id, at, **{self.fields[outcome]: text})
        return [[self._event(external_id, at, 2, self.fields[outcome], text)]]

    def stage(self, external_id, name, *, at):
        self._record(external_id, at, dealstage=self.stages[name])
        return [[self._event(external_id, at, 1, "dealstage", self.stages[name])]]

    def post(self, client, delivery):
        body = json.dumps(delivery).encode()
        headers = sign_hubspot(secret=HUBSPOT_SECRET, uri="http://testserver/webhooks/hubspot/", body=body)
        return client.post("/webhooks/hubspot/", body, content_type="application/json", **headers)

    def serve(self, fake) -> None:
        records = self.records
        fake.serve("POST", "/crm/v3/objects/deals/search", lambda path, body: (200, {
            "total": len(records), "results": list(records.values())}))  # fmt: skip


class PipedrivePlay(Play):
    kind = CrmKind.PIPEDRIVE
    stages = {"Discovery": "2", "Proposal": "3", "Negotiation": "4"}
    closed = {"lost": "lost", "won": "won"}

    def connection_settings(self) -> dict:
        return {**super().connection_settings(), "win_reason_field": PIPEDRIVE_WIN_KEY}

    def _deal(self, external_id: str) -> dict:
        return self.records.setdefault(external_id, {
            "id": int(external_id), "title": "Birch Health - 250 seats", "owner_id": 18487521,
            "value": 48000, "currency": "USD", "status": "open", "stage_id": 3, "pipeline_id": 1,
            "lost_reason": None, "lost_time": None, "won_time": None, "add_time": "2026-09-02T09:12:44Z",
            "update_time": "2026-09-02T09:12:44Z", "custom_fields": {PIPEDRIVE_WIN_KEY: None},
        })  # fmt: skip

    def _change(self, external_id: str, previous: dict, at: datetime) -> list:
        """A webhooks v2 change: `data` the deal now (custom fields as {type, value}), `previous`
        only what the change replaced."""
        deal = self.records[external_id]
        deal["update_time"] = _iso(at)
        win = deal["custom_fields"][PIPEDRIVE_WIN_KEY]
        data = {**deal, "custom_fields": {PIPEDRIVE_WIN_KEY: {"type": "varchar", "value": win}
                                          if win is not None else None}}  # fmt: skip
        meta = {"action": "change", "entity": "deal", "version": "2.0", "company_id": "12882925",
                "user_id": "18487521", "id": f"6a1e0c3b-{self.counter:04d}-4e52-9a43-0f5e1d2c8b71",
                "entity_id": external_id, "webhook_id": "99", "attempt": 1,
                "host": "birchhealth.pipedrive.com", "timestamp": _iso(at), "change_source": "app",
                "is_bulk_edit": False, "type": "general"}  # fmt: skip
        return [{"data": data, "previous": previous, "meta": meta}]

    def _custom_previous(self, deal: dict) -> dict:
        win = deal["custom_fields"][PIPEDRIVE_WIN_KEY]
        return {PIPEDRIVE_WIN_KEY: {"type": "varchar", "value": win} if win is not None else None}

    def close(self, external_id, outcome, reason, *, at):
        deal = self._deal(external_id)
        previous = {"status": deal["status"], f"{outcome}_time": deal[f"{outcome}_time"]}
        deal.update({"status": outcome, f"{outcome}_time": _iso(at)})
        if reason is not None and outcome == "lost":
            previous["lost_reason"], deal["lost_reason"] = deal["lost_reason"], reason
        elif reason is not None:
            previous["custom_fields"] = self._custom_previous(deal)
            deal["custom_fields"][PIPEDRIVE_WIN_KEY] = reason
        return self._change(external_id, previous, at)

    def reason(self, external_id, outcome, text, *, at):
        deal = self._deal(external_id)
        if outcome == "lost":
            previous = {"lost_reason": deal["lost_reason"]}
            deal["lost_reason"] = text
        else:
            previous = {"custom_fields": self._custom_previous(deal)}
            deal["custom_fields"][PIPEDRIVE_WIN_KEY] = text
        return self._change(external_id, previous, at)

    def stage(self, external_id, name, *, at):
        deal = self._deal(external_id)
        previous = {"stage_id": deal["stage_id"]}
        if deal["status"] != "open":  # reopened in Pipedrive (and moved)
            previous["status"] = deal["status"]
        deal.update({"status": "open", "stage_id": int(self.stages[name])})
        return self._change(external_id, previous, at)

    def post(self, client, delivery):
        return client.post(
            "/webhooks/pipedrive/", json.dumps(delivery), content_type="application/json",
            **basic_auth(PIPEDRIVE_USER, PIPEDRIVE_PASSWORD),
        )  # fmt: skip

    def serve(self, fake) -> None:
        records = self.records
        fake.serve("GET", "/api/v2/deals", lambda path, body: (200, {
            "success": True, "data": list(records.values()),
            "additional_data": {"next_cursor": None}}))  # fmt: skip


class SalesforcePlay(Play):
    kind = CrmKind.SALESFORCE
    stages = {
        "Discovery": "Needs Analysis",
        "Proposal": "Proposal/Price Quote",
        "Negotiation": "Negotiation/Review",
    }
    closed = {"lost": "Closed Lost", "won": "Closed Won"}
    fields = {"lost": "Loss_Reason__c", "won": "Win_Reason__c"}

    def _record(self, external_id: str, at: datetime, **fields) -> dict:
        record = self.records.setdefault(external_id, {
            "attributes": {"type": "Opportunity",
                           "url": f"/services/data/v60.0/sobjects/Opportunity/{external_id}"},
            "Id": external_id, "StageName": self.stages["Proposal"], "Loss_Reason__c": None,
            "Win_Reason__c": None,
        })  # fmt: skip
        record.update(fields, LastModifiedDate=_iso(at, millis=True).replace("Z", "+0000"))
        return record

    def _message(self, external_id: str, fields: dict, at: datetime) -> list:
        """An outbound message of the fields its rule sends (a value-less field is left out)."""
        xml = "".join(
            f"<sf:{name}>{value}</sf:{name}>" for name, value in fields.items() if value is not None
        )
        return [f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D5e000000AbCdEAK</OrganizationId>
   <ActionId>04k5e000000XyZaAAK</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/60.0/00D5e000000AbCd</EnterpriseUrl>
   <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/60.0/00D5e000000AbCd</PartnerUrl>
   <Notification>
    <Id>04l5e00000P{self.counter:05d}</Id>
    <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>{external_id}</sf:Id><sf:LastModifiedDate>{_iso(at, millis=True)}</sf:LastModifiedDate>{xml}
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"""]  # fmt: skip

    def close(self, external_id, outcome, reason, *, at):
        fields = {"StageName": self.closed[outcome]}
        if reason is not None:
            fields[self.fields[outcome]] = reason
        self._record(external_id, at, **fields)
        return [self._message(external_id, fields, at)]

    def reason(self, external_id, outcome, text, *, at):
        """A rule on the reason field alone: its message carries no StageName."""
        self._record(external_id, at, **{self.fields[outcome]: text})
        return [self._message(external_id, {self.fields[outcome]: text}, at)]

    def stage(self, external_id, name, *, at):
        self._record(external_id, at, StageName=self.stages[name])
        return [self._message(external_id, {"StageName": self.stages[name]}, at)]

    def post(self, client, delivery):
        (body,) = delivery
        return client.post(f"/webhooks/salesforce/?token={SALESFORCE_TOKEN}", body, content_type="text/xml")

    def serve(self, fake) -> None:
        records = self.records
        fake.serve("GET", "/services/data/v60.0/query?", lambda path, body: (200, {
            "totalSize": len(records), "done": True, "records": list(records.values())}))  # fmt: skip


PLAYS = [HubSpotPlay, PipedrivePlay, SalesforcePlay]
