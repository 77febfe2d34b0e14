"""Simple senders of each CRM's payloads (one delivery per change) used by several tests."""

import json

from crm.models import CrmKind
from crm.tests.conftest import (
    HUBSPOT_SECRET,
    PIPEDRIVE_PASSWORD,
    PIPEDRIVE_USER,
    SALESFORCE_TOKEN,
    basic_auth,
    sign_hubspot,
)


class Hubspot:
    kind = CrmKind.HUBSPOT
    stage = {"lost": "closedlost", "won": "closedwon"}

    def __init__(self):
        self.event_id = 1000

    def events(self, external_id, outcome_or_stage, reason, at):
        value = self.stage.get(outcome_or_stage, outcome_or_stage)
        ms = int(at.timestamp() * 1000)
        self.event_id += 1
        common = {"portalId": 62515, "appId": 1, "occurredAt": ms, "subscriptionType": "deal.propertyChange",
                  "attemptNumber": 0, "objectId": int(external_id), "eventId": self.event_id}  # fmt: skip
        events = [{**common, "subscriptionId": 1, "propertyName": "dealstage", "propertyValue": value}]
        field = {"lost": "closed_lost_reason", "won": "closed_won_reason"}.get(outcome_or_stage)
        if field and reason is not None:  # same eventId, another subscription: HubSpot does that
            events.append({**common, "subscriptionId": 2, "propertyName": field, "propertyValue": reason})
        return events

    def post(self, client, events):
        body = json.dumps(events).encode()
        headers = sign_hubspot(secret=HUBSPOT_SECRET, uri="http://testserver/webhooks/hubspot/", body=body)
        return client.post("/webhooks/hubspot/", body, content_type="application/json", **headers)


class Pipedrive:
    kind = CrmKind.PIPEDRIVE

    def __init__(self):
        self.status: dict[str, str] = {}
        self.counter = 0

    def events(self, external_id, outcome_or_stage, reason, at):
        status = outcome_or_stage if outcome_or_stage in ("lost", "won") else "open"
        previous = self.status.get(external_id, "open")
        self.status[external_id] = status
        self.counter += 1
        stamp = at.isoformat().replace("+00:00", "Z")
        data = {"id": int(external_id), "status": status, "stage_id": 3, "update_time": stamp,
                "lost_reason": reason if status == "lost" else None,
                "lost_time": stamp if status == "lost" else None,
                "won_time": stamp if status == "won" else None}  # fmt: skip
        return [{"data": data, "previous": {"status": previous},
                 "meta": {"action": "change", "entity": "deal", "company_id": "12882925", "version": "2.0",
                          "id": f"meta-{self.counter}", "entity_id": external_id, "attempt": 1,
                          "timestamp": stamp}}]  # fmt: skip

    def post(self, client, events):
        (payload,) = events
        return client.post(
            "/webhooks/pipedrive/", json.dumps(payload), content_type="application/json",
            **basic_auth(PIPEDRIVE_USER, PIPEDRIVE_PASSWORD),
        )  # fmt: skip


class Salesforce:
    kind = CrmKind.SALESFORCE
    stage = {"lost": "Closed Lost", "won": "Closed Won"}

    def __init__(self):
        self.counter = 0

    def events(self, external_id, outcome_or_stage, reason, at):
        self.counter += 1
        stage = self.stage.get(outcome_or_stage, outcome_or_stage)
        reason_xml = f"<sf:Loss_Reason__c>{reason}</sf:Loss_Reason__c>" if reason is not None else ""
        modified = at.isoformat().replace("+00:00", ".000Z")
        return [
            f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">
  <OrganizationId>00D5e000000AbCdEAK</OrganizationId>
  <Notification><Id>04l5e00000N{self.counter:05d}</Id>
   <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
    <sf:Id>{external_id}</sf:Id><sf:LastModifiedDate>{modified}</sf:LastModifiedDate>
    {reason_xml}<sf:StageName>{stage}</sf:StageName>
   </sObject></Notification>
 </notifications></soapenv:Body></soapenv:Envelope>"""
        ]

    def post(self, client, events):
        (body,) = events
        return client.post(f"/webhooks/salesforce/?token={SALESFORCE_TOKEN}", body, content_type="text/xml")
