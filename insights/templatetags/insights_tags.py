"""Formatting of dashboard figures: an empty ratio is "—", never 0."""

from decimal import Decimal

from django import template
from django.utils.html import format_html

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
def signedmoney(value) -> str:
    """A change of an amount, signed."""
    if value is None:
        return DASH
    return _signed(value, f"{Decimal(value):,.0f}")


@register.filter
def days(value) -> str:
    if value is None:
        return DASH
    return f"{value:.1f}"


def _signed(value, text: str) -> str:
    return f"+{text}" if value > 0 else (text if value < 0 else f"±{text.lstrip('-')}")


FORMATS = {
    "pct": lambda v: f"{v * 100:.1f}%",
    "money": lambda v: f"{Decimal(v):,.0f}",
    "days": lambda v: f"{v:.1f}",
    "count": lambda v: f"{v:,}",
}


@register.simple_tag
def vs(item, key: str, kind: str = "count"):
    """The comparison value of item[key] and its change: "vs 12.0% · +3.4 pp" for shares and rates
    (percentage points), "vs 12 · +3 (+25%)" for counts and amounts; nothing without a comparison."""
    compare = (item or {}).get("compare")
    if compare is None or key not in compare:
        return ""
    before, change = compare[key], item["change"].get(key)
    shown = DASH if before is None else FORMATS[kind](before)
    if change is None:
        delta = ""
    elif kind == "pct":
        delta = f" · {_signed(change, f'{change * 100:.1f}')} pp"
    else:
        delta = f" · {_signed(change, FORMATS[kind](change))}"
        if kind != "days" and before:
            delta += f" ({_signed(change, f'{float(change) / float(before) * 100:.0f}')}%)"
    return format_html('<span class="vs">vs {}{}</span>', shown, delta)


@register.filter
def pval(value, name: str = "") -> str:
    """A p or q value; with `name`, as "p < 0.0001" or "p = 0.0123"."""
    if value is None:
        return DASH
    text = "< 0.0001" if value < 0.0001 else f"{value:.4f}"
    if name:
        return f"{name} {text}" if value < 0.0001 else f"{name} = {text}"
    return text


@register.filter
def pp(value) -> str:
    """A change of a share or rate in percentage points."""
    if value is None:
        return DASH
    return _signed(value, f"{value * 100:.1f}") + " pp"


@register.filter
def testname(value) -> str:
    return {
        "fisher": "Fisher's exact test",
        "chi2": "chi-square test",
        "value_z": "random-assignment z test of value lost per day",
    }.get(value, value)


MEASURE_NAMES = {
    "loss_share": "Share of losses",
    "win_rate": "Win rate",
    "no_decision_rate": "No-decision rate",
    "competitive_win_rate": "Competitive win rate",
    "win_rate_vs_team": "Win rate vs rest of team",
    "lost_value": "Lost value",
    "buyer_disagreement": "Buyer disagrees with rep",
    "buyer_disagreement_vs_team": "Buyer disagrees with rep, vs rest of team",
}


@register.filter
def measurename(value) -> str:
    return MEASURE_NAMES.get(value, value)
