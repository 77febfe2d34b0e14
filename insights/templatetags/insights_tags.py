"""Formatting of dashboard figures: an empty ratio is "—", never 0."""

from decimal import Decimal

from django import template

register = template.Library()
DASH = "—"


@register.filter
def pct(value) -> str:
    if value is None:
        return DASH
    return f"{value * 100:.1f}%"


@register.filter
def money(value) -> str:
    if value is None:
        return DASH
    return f"{Decimal(value):,.0f}"


@register.filter
def days(value) -> str:
    if value is None:
        return DASH
    return f"{value:.1f}"
