"""A deal's details from the CRM (its amount and its owner), through the deal services, each
in the CRM's own order: an amount changed at 10:05 is not undone by a delivery from 10:01."""

from datetime import datetime

from django.db.models import Q

from crm.adapters.base import CrmChange, parse_time
from crm.models import CrmConnection, CrmDealState
from deals import services as deal_services
from deals.models import Deal
from teams.models import User


def _newest(*, deal: Deal, kind: str, name: str, at: datetime | None) -> bool:
    """Record `at` as the newest change of detail `name`; False if a newer one was applied."""
    if at is None:
        return True
    state, _ = CrmDealState.objects.select_for_update().get_or_create(deal=deal, kind=kind)
    seen = parse_time(state.fields_changed_at.get(name))
    if seen is not None and at < seen:
        return False
    state.fields_changed_at[name] = at.isoformat()
    CrmDealState.objects.filter(pk=state.pk).update(fields_changed_at=state.fields_changed_at)
    return True


def crm_owner_user(*, connection: CrmConnection, value: str) -> User | None:
    """Our user for a CRM owner: the connection's owner map (id → user name or e-mail), else an
    owner given as an e-mail address."""
    mapped = (connection.owner_map or {}).get(str(value), "")
    key = (mapped or value).strip()
    if not key:
        return None
    if not mapped and "@" not in key:
        return None
    return User.objects.filter(Q(username=key) | Q(email__iexact=key), is_active=True).order_by("pk").first()


def _apply_amount(*, connection: CrmConnection, change: CrmChange, deal: Deal) -> str | None:
    if change.amount is None or change.amount == deal.amount:
        return None
    if not _newest(deal=deal, kind=connection.kind, name="amount", at=change.closed_at):
        return "amount: ignored, older than one already applied"
    try:
        deal_services.deal_update_details(
            deal=deal, name=deal.name, amount=change.amount, actor=None, via_crm=True
        )
    except deal_services.DealError as exc:
        return f"amount: ignored, {exc.message}"
    return f"amount: {change.amount}"


def _apply_owner(*, connection: CrmConnection, change: CrmChange, deal: Deal) -> str | None:
    if not change.owner:
        return None
    owner = crm_owner_user(connection=connection, value=change.owner)
    if owner is None:
        return f"owner: ignored, {connection} owner {change.owner!r} is mapped to no user"
    if owner.pk == deal.owner_id:
        return None
    if not _newest(deal=deal, kind=connection.kind, name="owner", at=change.closed_at):
        return "owner: ignored, older than one already applied"
    deal_services.deal_change_owner(
        deal=deal, owner=owner, actor=None, changed_at=change.closed_at, via_crm=True
    )
    return f"owner: {owner.get_username()}"


def crm_details_apply(*, connection: CrmConnection, change: CrmChange, deal: Deal) -> list[str]:
    """Apply the amount and owner the change carries (call inside a transaction); what changed."""
    results = [
        _apply_amount(connection=connection, change=change, deal=deal),
        _apply_owner(connection=connection, change=change, deal=deal),
    ]
    return [r for r in results if r]
