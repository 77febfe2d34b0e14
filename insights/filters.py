"""The dashboard's filters and the small helpers every figure uses (periods, ratios, money)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import (
    DecimalField,
)
from django.urls import reverse
from django.utils import timezone

from deals.models import DealStatus
from deals.selectors import (
    DealFilters,
)
from insights.models import ExchangeRate

WON, LOST, NO_DECISION, OPEN = DealStatus.WON, DealStatus.LOST, DealStatus.NO_DECISION, DealStatus.OPEN
DISQUALIFIED = "disqualified"  # a loss for a disqualifying reason: counted apart (deals.selectors)
TREND_TOP_REASONS = 5  # the chart draws these and "all other reasons"; the API and CSV carry every reason
NEEDS_A_REASON = "Needs a reason"
MONEY = DecimalField(max_digits=30, decimal_places=8)


@dataclass(frozen=True)
class DashboardFilters:
    """The dashboard's filters. The period is inclusive of both days (UTC)."""

    date_from: date
    date_to: date
    pipeline: int | None = None
    team: int | None = None
    owner: int | None = None
    industry: str = ""
    size: str = ""
    competitor: int | None = None

    def deal_filters(self, *, period: bool = True, **extra) -> DealFilters:
        """The same selection as the deal list's filters (so drill-down counts match)."""
        return DealFilters(
            pipeline=self.pipeline,
            team=self.team,
            owner=self.owner,
            industry=self.industry,
            size=self.size,
            competitor=self.competitor,
            closed_from=self.date_from if period else None,
            closed_to=self.date_to if period else None,
            **extra,
        )

    def link(self, *, period: bool = True, **extra) -> str:
        """The deal list URL behind a number: these filters plus `extra` (status, reason, ...)."""
        params = dict(self._link_params[period])
        params.update(extra)
        query = urlencode({key: value for key, value in params.items() if value not in ("", None)})
        return f"{self._deal_list_url}?{query}"

    @cached_property
    def _deal_list_url(self) -> str:
        return reverse("deals:list")

    @cached_property
    def _link_params(self) -> dict[bool, dict]:
        """The filters as deal list parameters, with and without the period (a page has hundreds of links)."""
        params = {
            "closed_from": self.date_from.isoformat(),
            "closed_to": self.date_to.isoformat(),
            "pipeline": self.pipeline or "",
            "team": self.team or "",
            "owner": self.owner or "",
            "industry": self.industry,
            "size": self.size,
            "competitor": self.competitor or "",
        }
        return {True: params, False: {**params, "closed_from": "", "closed_to": ""}}

    def as_query(self) -> dict[str, str]:
        """The filters as dashboard URL parameters (for CSV and API links)."""
        values = {"from": self.date_from.isoformat(), "to": self.date_to.isoformat()}
        for item in fields(self):
            if item.name not in {"date_from", "date_to"}:
                value = getattr(self, item.name)
                if value not in (None, ""):
                    values[item.name] = str(value)
        return values


def ratio(part, whole) -> float | None:
    """part / whole, or None when there is nothing under it."""
    if not whole:
        return None
    return float(part) / float(whole)


def money(value) -> Decimal:
    return (value or Decimal(0)).quantize(Decimal("0.01"))


def days(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds() / 86400


def exchange_rates() -> dict[str, Decimal]:
    """Stored rates to the organisation currency; the organisation currency itself is 1."""
    rates = dict(ExchangeRate.objects.values_list("currency", "rate"))
    rates.setdefault(settings.ORG_CURRENCY, Decimal(1))
    return rates


def month_starts(start: date, end: date) -> list[date]:
    months, current = [], start.replace(day=1)
    while current <= end:
        months.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return months


def month_end(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """Two days as aware datetimes, both inclusive (as the deal list's closed_from/to)."""
    return (
        timezone.make_aware(datetime.combine(first, time.min)),
        timezone.make_aware(datetime.combine(last, time.max)),
    )
