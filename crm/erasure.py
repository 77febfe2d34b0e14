"""A contact deleted in a CRM is erased here as an admin's erasure would (deals.erasure)."""

from deals.erasure import contact_erase
from deals.models import Contact, ContactErasure

ID_FIELD = {"hubspot": "hubspot_id", "pipedrive": "pipedrive_id", "salesforce": "salesforce_id"}


def crm_contact_deleted(*, kind: str, external_id: str) -> str:
    """Erase the contact the CRM deleted (if we have it and it is not erased yet); a short result
    for the event, naming the row by id only."""
    contact = Contact.objects.filter(**{ID_FIELD[kind]: str(external_id)}).first()
    if contact is None:
        return "ignored: a contact we do not have was deleted"
    if contact.erased_at is not None:
        return f"ignored: contact {contact.pk} was already erased"
    contact_erase(contact=contact, actor=None, source=ContactErasure.Source.CRM)
    return f"contact {contact.pk} erased"
