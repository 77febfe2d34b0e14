"""What a review says: one user's figures of a period against its comparison, read through the
same selectors as the dashboard (insights), the deal list (deals) and buyer feedback (surveys),
so a review never shows what the user could not see on those pages.

The snapshot is plain JSON with each number's text already formatted: the e-mail and the page
render it as it was when the review was made.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from deals.selectors import DealFilters, deals_filtered
from insights.comparison import Comparison, compare_figure, figures_both
from insights.filters import DashboardFilters
from insights.findings import NEEDED, dashboard_findings
from insights.measures import Dashboard
from insights.templatetags.insights_tags import FORMATS, _signed
from surveys.selectors import FeedbackFilters, quotes, reason_gaps, response_rate

TOP_FINDINGS = 5
TOP_GAPS = 3
TOP_QUOTES = 3
# (key of the headline figure, label, format)
HEADLINE = [
    ("win_rate", "Win rate", "pct"),
    ("won", "Won", "count"),
    ("lost", "Lost", "count"),
    ("no_decision", "No decision", "count"),
    ("disqualified", "Disqualified", "count"),
    ("no_decision_rate", "No-decision rate", "pct"),
    ("won_value", "Won value", "money"),
    ("lost_value", "Lost value", "money"),
]
DASH = "—"


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _text(value, kind: str) -> str:
    return DASH if value is None else FORMATS[kind](value)


def _change_text(change, before, kind: str) -> str:
    if change is None:
        return ""
    if kind == "pct":
        return f"{_signed(change, f'{change * 100:.1f}')} pp"
    text = _signed(change, FORMATS[kind](change))
    if before:
        text += f" ({_signed(change, f'{float(change) / float(before) * 100:.0f}')}%)"
    return text


def _headline(figure: dict) -> list[dict]:
    rows = []
    for key, label, kind in HEADLINE:
        value, before, change = figure[key], figure["compare"].get(key), figure["change"].get(key)
        rows.append(
            {
                "key": key,
                "label": label,
                "value": value,
                "compare": before,
                "change": change,
                "text": _text(value, kind),
                "compare_text": _text(before, kind),
                "change_text": _change_text(change, before, kind),
                "link": absolute(figure["links"][key]) if key in figure.get("links", {}) else "",
            }
        )
    return rows


def _finding(item: dict) -> dict:
    keep = ("text", "measure", "direction", "count", "compare_count", "p_value", "q_value", "test")
    return {
        **{key: item[key] for key in keep},
        "deals_url": absolute(item["deals_url"]),
        "compare_deals_url": absolute(item["compare_deals_url"]),
    }


def _feedback(user, start: date, end: date) -> dict:
    filters = FeedbackFilters(date_from=start, date_to=end)
    rate = response_rate(user=user, filters=filters)
    said = [
        {
            "deal": quote["deal"],
            "buyer_reason": quote["buyer_reason"],
            "rep_reason": quote["rep_reason"],
            "words": quote["comment"] or quote["something_else"],
            "process_rating": quote["process_rating"],
        }
        for quote in quotes(user=user, filters=filters, limit=TOP_QUOTES)
    ]
    return {
        "sent": rate["sent"],
        "answered": rate["answered"],
        "rate_text": _text(rate["rate"], "pct"),
        "gaps": reason_gaps(user=user, filters=filters)[:TOP_GAPS],
        "quotes": said,
        "url": absolute(reverse("surveys:figures") + "?" + urlencode(filters.as_query())),
    }


def scope_label(user) -> str:
    if user.is_revops_admin:
        return "All teams"
    teams = sorted(m.team.name for m in user.memberships.select_related("team"))
    return f"Team {', '.join(teams)}" if teams else "Your deals"


def review_snapshot(*, user, start: date, end: date, comparison: Comparison) -> dict:
    """Everything one review shows, for `user`'s scope: headline figures with their change, the
    top findings, the needs-a-reason backlog and the buyers' feedback of the period."""
    dashboard = Dashboard(user=user, filters=DashboardFilters(date_from=start, date_to=end))
    read = figures_both(dashboard, comparison, NEEDED)
    findings = dashboard_findings(dashboard, comparison, read=read)
    headline = compare_figure("headline", read[0]["headline"], read[1]["headline"])
    backlog = deals_filtered(user=user, filters=DealFilters(needs_reason=True)).count()
    query = urlencode({**dashboard.filters.as_query(), **comparison.as_query()})
    return {
        "scope": scope_label(user),
        "period": {"from": start, "to": end},
        "compare": {"from": comparison.date_from, "to": comparison.date_to},
        "headline": _headline(headline),
        "findings": [_finding(item) for item in findings["findings"][:TOP_FINDINGS]],
        "findings_total": len(findings["findings"]),
        "tested": findings["tested"],
        "fdr_text": _text(findings["fdr"], "pct"),
        "backlog": {"count": backlog, "url": absolute(reverse("deals:list") + "?status=lost&reason=none")},
        "feedback": _feedback(user, start, end),
        "dashboard_url": absolute(reverse("insights:dashboard") + "?" + query),
        "findings_url": absolute(reverse("insights:findings") + "?" + query),
    }
