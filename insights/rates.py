"""The admins' exchange rates: every change through here, with a history row."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from insights.models import ExchangeRate, ExchangeRateChange
from teams.models import User


def exchange_rate_set(*, actor: User, currency: str, rate: Decimal) -> ExchangeRate:
    """Set how many units of ORG_CURRENCY one unit of `currency` is (new or changed), recorded in
    ExchangeRateChange. The error names the field and what is wrong."""
    if not actor.is_revops_admin:
        raise PermissionDenied("Only admins change exchange rates.")
    currency = (currency or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValidationError({"currency": "Give the currency's three-letter ISO code, e.g. EUR."})
    if currency == settings.ORG_CURRENCY:
        raise ValidationError({"currency": f"{currency} is the organisation's own currency (always 1)."})
    if rate is None or rate <= 0:
        raise ValidationError({"rate": "The rate must be more than 0."})
    with transaction.atomic():
        row = ExchangeRate.objects.select_for_update().filter(currency=currency).first()
        before = row.rate if row else None
        if row is None:
            row = ExchangeRate(currency=currency)
        row.rate = rate
        row.full_clean()
        row.save()
        if before != rate:
            ExchangeRateChange.objects.create(actor=actor, currency=currency, before=before, after=rate)
    return row
