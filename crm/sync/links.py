"""Who is on a deal, as the CRM changes it after the first sync: a contact taken off a deal in the
CRM (HubSpot's association change, a Pipedrive deal's person changed) leaves it here through the
same service as a rep's removal (deals.contacts), so its pending e-mails and surveys for the deal
are cancelled and a DealEvent keeps the removal (the contact's id, never its name)."""

from crm.models import CrmConnection
from deals.contacts import Link, deal_contacts_set
from deals.models import Contact, Deal, DealContact, DealEvent


def _deal(connection: CrmConnection, external_id: str) -> Deal | None:
    return Deal.objects.filter(**{connection.external_id_field: external_id}).first()


def crm_contact_left_deal(
    *, connection: CrmConnection, deal_external_id: str, person_external_id: str
) -> str:
    """The CRM took person `person_external_id` off deal `deal_external_id`; a short result."""
    deal = _deal(connection, deal_external_id)
    contact = Contact.objects.filter(**{connection.external_id_field: person_external_id}).first()
    if deal is None or contact is None:
        return "ignored: a deal or contact we do not have"
    links = list(DealContact.objects.filter(deal=deal))
    if not any(link.contact_id == contact.pk for link in links):
        return f"ignored: contact {contact.pk} is not on deal {deal.pk}"
    others = [
        Link(link.contact_id, link.role, link.is_primary) for link in links if link.contact_id != contact.pk
    ]
    deal_contacts_set(links={deal.pk: others}, actor_kind=DealEvent.ActorKind.CRM)
    return f"contact {contact.pk} left deal {deal.pk}"


def crm_deal_contacts_reread(*, connection: CrmConnection, deal_external_id: str) -> str:
    """The deal's contacts changed in the CRM: read them again (those gone leave the deal). The
    CRM's read errors propagate: the event is retried."""
    from crm.sync.continuous import deal_contacts_refresh

    deal = _deal(connection, deal_external_id)
    if deal is None:
        return "ignored: a deal we do not have"
    before = set(DealContact.objects.filter(deal=deal).values_list("contact_id", flat=True))
    deal_contacts_refresh(connection=connection, deal=deal)
    after = set(DealContact.objects.filter(deal=deal).values_list("contact_id", flat=True))
    if before == after:
        return "ignored: the deal's contacts are as the CRM has them"
    return f"contacts of deal {deal.pk}: {len(after - before)} added, {len(before - after)} left"
