"""Webhook deliveries as each CRM sends them about what a test changed in the fake CRM (HubSpot's
v3-signed event arrays, Pipedrive's webhooks v2 with Basic auth), posted to our receivers."""

import base64
import itertools
import json
import time
import uuid

from crm.tests.conftest import HUBSPOT_SECRET, PIPEDRIVE_PASSWORD, PIPEDRIVE_USER, sign_hubspot
from crm.tests.fake_pipedrive import stamp
from crm.tests.sync_world import NOW

_event_ids = itertools.count(9100)


def hubspot_property(deal_id: str, name: str, value: str) -> dict:
    """A deal.propertyChange event (one per property HubSpot reports)."""
    return {
        "eventId": next(_event_ids), "subscriptionId": 2418901, "portalId": 62515, "appId": 1160452,
        "occurredAt": int(time.time() * 1000), "subscriptionType": "deal.propertyChange", "attemptNumber": 0,
        "objectId": int(deal_id), "propertyName": name, "propertyValue": value, "changeSource": "CRM_UI",
        "sourceId": "userId:4611325",
    }  # fmt: skip


def hubspot_creation(deal_id: str) -> dict:
    return {
        "eventId": next(_event_ids), "subscriptionId": 2418900, "portalId": 62515, "appId": 1160452,
        "occurredAt": int(time.time() * 1000), "subscriptionType": "deal.creation", "attemptNumber": 0,
        "objectId": int(deal_id), "changeFlag": "CREATED", "changeSource": "CRM_UI",
        "sourceId": "userId:4611325",
    }  # fmt: skip


def hubspot_association_removed(deal_id: str, contact_id: str, *, from_contact: bool = False) -> dict:
    """HubSpot's association change event: a contact taken off a deal (from either side)."""
    ids = (int(contact_id), int(deal_id)) if from_contact else (int(deal_id), int(contact_id))
    return {
        "eventId": next(_event_ids), "subscriptionId": 2418905, "portalId": 62515, "appId": 1160452,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "contact.associationChange" if from_contact else "deal.associationChange",
        "attemptNumber": 0, "changeSource": "CRM_UI", "sourceId": "userId:4611325",
        "associationType": "CONTACT_TO_DEAL" if from_contact else "DEAL_TO_CONTACT",
        "fromObjectId": ids[0], "toObjectId": ids[1], "associationRemoved": True,
        "isPrimaryAssociation": False, "associationCategory": "HUBSPOT_DEFINED",
        "associationTypeId": 4 if from_contact else 3,
    }  # fmt: skip


def post_hubspot(client, events: list[dict]) -> None:
    body = json.dumps(events).encode()
    headers = sign_hubspot(secret=HUBSPOT_SECRET, uri="http://testserver/webhooks/hubspot/", body=body)
    response = client.post("/webhooks/hubspot/", body, content_type="application/json", **headers)
    assert response.status_code == 200, response.content


def _webhook_fields(value):
    """A custom field's value as webhooks v2 carry it ({"type", "value"}; the API gives the value)."""
    return value if isinstance(value, dict) else {"type": "varchar", "value": value}


def pipedrive_event(action: str, entity: str, entity_id, data: dict | None, previous: dict | None) -> dict:
    """A webhooks v2 delivery (meta, data, previous) as Pipedrive sends it."""
    if data is not None and "custom_fields" in data:
        data = {**data, "custom_fields": {k: _webhook_fields(v) for k, v in data["custom_fields"].items()}}
    return {
        "data": data,
        "previous": previous,
        "meta": {
            "action": action, "entity": entity, "version": "2.0", "company_id": "12882925",
            "user_id": "18487521", "id": str(uuid.uuid4()), "entity_id": str(entity_id), "webhook_id": "99",
            "webhook_owner_id": "18487521", "correlation_id": str(uuid.uuid4()),
            "permitted_user_ids": ["18487521"], "attempt": 1, "host": "elm.pipedrive.com",
            "timestamp": stamp(NOW), "change_source": "app", "is_bulk_edit": False, "type": "general",
        },
    }  # fmt: skip


def post_pipedrive(client, event: dict) -> None:
    auth = base64.b64encode(f"{PIPEDRIVE_USER}:{PIPEDRIVE_PASSWORD}".encode()).decode()
    response = client.post(
        "/webhooks/pipedrive/", json.dumps(event), content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {auth}",
    )  # fmt: skip
    assert response.status_code == 200, response.content
