"""Reads of surveys and the feedback figures, scoped like every other figure (deals.selectors):
a rep sees their own deals, a manager their teams', an admin all.

How answers are counted: one answered survey of a standing (not reopened) close counts once, in
the period of the close. The rep's side is the close's reason, the buyer's side their main reason,
both rolled up to the survivor of a merge; a buyer's "something else" has no category (OTHER).
Each figure is one selector, used by the page, the CSV and the API; each runs a fixed number
of queries whatever the number of answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from urllib.parse import urlencode

from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from deals.selectors import deals_visible_to
from reasons.models import Reason, ReasonCategory
from surveys.models import Survey, SurveyResponse, SurveyState
from teams.models import User

OTHER = "other"  # the buyer's "something else" column (and the deal list's buyer_category value)
SOMETHING_ELSE = "Something else (buyer's words)"


def surveys_visible_to(user: User) -> QuerySet[Survey]:
    """Every survey of a deal `user` may see."""
    return Survey.objects.filter(deal__in=deals_visible_to(user))


def deal_surveys(*, deal) -> list[Survey]:
    """A deal's surveys with their answers, newest first (the deal page's panel): two queries."""
    return list(
        Survey.objects.filter(deal=deal)
        .select_related(
            "contact",
            "closure__reason__category",
            "response__main_reason__category",
            "response__competitor",
        )
        .prefetch_related("response__secondary_reasons")
    )


@dataclass(frozen=True)
class FeedbackFilters:
    date_from: date
    date_to: date
    team: int | None = None
    owner: int | None = None
    quote_reason: int | None = None

    def link(self, **extra) -> str:
        """The deal list behind a number: these filters plus `extra` (category, buyer_category)."""
        params = {
            "closed_from": self.date_from.isoformat(),
            "closed_to": self.date_to.isoformat(),
            "team": self.team or "",
            "owner": self.owner or "",
            **extra,
        }
        query = urlencode({k: v for k, v in params.items() if v not in ("", None)})
        return f"{reverse('deals:list')}?{query}"

    def as_query(self) -> dict[str, str]:
        values = {"date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat()}
        for name in ("team", "owner", "quote_reason"):
            if getattr(self, name):
                values[name] = str(getattr(self, name))
        return values


def _surveys(user: User, filters: FeedbackFilters) -> QuerySet[Survey]:
    start = timezone.make_aware(datetime.combine(filters.date_from, time.min))
    end = timezone.make_aware(datetime.combine(filters.date_to, time.max))
    qs = surveys_visible_to(user).filter(
        closure__reopened_at__isnull=True, closure__closed_at__gte=start, closure__closed_at__lte=end
    )
    if filters.team:
        qs = qs.filter(deal__team_id=filters.team)
    if filters.owner:
        qs = qs.filter(deal__owner_id=filters.owner)
    return qs


def _answered(user: User, filters: FeedbackFilters) -> QuerySet[Survey]:
    return _answered_annotated(_surveys(user, filters))


def _answered_annotated(surveys: QuerySet[Survey]) -> QuerySet[Survey]:
    return surveys.filter(response__isnull=False).annotate(
        rep_reason=Coalesce("closure__reason__merged_into", "closure__reason"),
        rep_category=Coalesce("closure__reason__merged_into__category", "closure__reason__category"),
        buyer_reason=Coalesce("response__main_reason__merged_into", "response__main_reason"),
        buyer_category=Coalesce(
            "response__main_reason__merged_into__category", "response__main_reason__category"
        ),
    )


def response_rate(*, user: User, filters: FeedbackFilters) -> dict:
    """Surveys sent, answered, and the share answered (None when none was sent). One query."""
    counts = _surveys(user, filters).aggregate(
        sent=Count("pk", filter=Q(state=SurveyState.SENT)),
        answered=Count("pk", filter=Q(state=SurveyState.SENT, response__isnull=False)),
    )
    sent, answered = counts["sent"], counts["answered"]
    return {"sent": sent, "answered": answered, "rate": answered / sent if sent else None}


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def agreement_matrix(*, user: User, filters: FeedbackFilters) -> dict:
    """Rep's category (rows) × buyer's category (columns): count, share of all answers, and the
    deal list behind each cell. Two queries."""
    counts = {
        (row["rep_category"], row["buyer_category"]): row["n"]
        for row in _answered(user, filters).values("rep_category", "buyer_category").annotate(n=Count("pk"))
    }
    total = sum(counts.values())
    categories = list(ReasonCategory.objects.select_related("buyer_wording").order_by("order", "name"))
    columns = [{"key": c.pk, "label": c.name} for c in categories] + [{"key": OTHER, "label": SOMETHING_ELSE}]
    rows = []
    for category in categories:
        cells = []
        for column in columns:
            buyer = None if column["key"] == OTHER else column["key"]
            n = counts.get((category.pk, buyer), 0)
            link = filters.link(category=category.pk, buyer_category=column["key"])
            cells.append(
                {
                    "buyer_category": column["label"],
                    "count": n,
                    "share": _ratio(n, total),
                    "link": link,
                    "agrees": buyer == category.pk,
                }
            )
        rows.append({"rep_category": category.name, "cells": cells, "total": sum(c["count"] for c in cells)})
    agreed = sum(n for (rep, buyer), n in counts.items() if rep == buyer)
    return {
        "columns": columns,
        "rows": rows,
        "total": total,
        "agreed": agreed,
        "agreement": _ratio(agreed, total),
    }


def agreement_by_rep(*, user: User, filters: FeedbackFilters) -> list[dict]:
    """Per rep: answers, how many the buyer put in the rep's category, and the rate. One query."""
    rows = (
        _answered(user, filters)
        .values("deal__owner", "deal__owner__username", "deal__owner__first_name", "deal__owner__last_name")
        .annotate(answers=Count("pk"), agreed=Count("pk", filter=Q(rep_category=F("buyer_category"))))
        .order_by("deal__owner__first_name", "deal__owner__username")
    )
    return [
        {
            "rep": " ".join(filter(None, [r["deal__owner__first_name"], r["deal__owner__last_name"]]))
            or r["deal__owner__username"],
            "answers": r["answers"],
            "agreed": r["agreed"],
            "agreement": _ratio(r["agreed"], r["answers"]),
            "link": filters.link(owner=r["deal__owner"], buyer_category="any"),
        }
        for r in rows
    ]


def agreement_by_reason(*, user: User, filters: FeedbackFilters) -> list[dict]:
    """Per rep's reason: answers, the buyer in the same category, the rate, and the buyer naming
    the very same reason. Two queries."""
    rows = list(
        _answered(user, filters)
        .values("rep_reason")
        .annotate(
            answers=Count("pk"),
            agreed=Count("pk", filter=Q(rep_category=F("buyer_category"))),
            same_reason=Count("pk", filter=Q(rep_reason=F("buyer_reason"))),
        )
    )
    labels = dict(Reason.objects.filter(pk__in=[r["rep_reason"] for r in rows]).values_list("pk", "label"))
    return sorted(
        (
            {
                "reason": labels.get(r["rep_reason"], ""),
                "answers": r["answers"],
                "agreed": r["agreed"],
                "agreement": _ratio(r["agreed"], r["answers"]),
                "same_reason": r["same_reason"],
                "link": filters.link(reason=r["rep_reason"], buyer_category="any"),
            }
            for r in rows
        ),
        key=lambda row: (-row["answers"], row["reason"]),
    )


def reason_gaps(*, user: User, filters: FeedbackFilters) -> list[dict]:
    """The reasons buyers give most and reps least, over the same answers: buyer count minus rep
    count, largest first (only where buyers say it more often). Three queries."""
    answered = _answered(user, filters)
    buyer = dict(
        answered.filter(buyer_reason__isnull=False).values_list("buyer_reason").annotate(n=Count("pk"))
    )
    rep = dict(answered.values_list("rep_reason").annotate(n=Count("pk")))
    labels = dict(Reason.objects.filter(pk__in=[*buyer, *rep]).values_list("pk", "label"))
    rows = [
        {"reason": labels.get(pk, ""), "buyers": n, "reps": rep.get(pk, 0), "gap": n - rep.get(pk, 0)}
        for pk, n in buyer.items()
        if n > rep.get(pk, 0)
    ]
    return sorted(rows, key=lambda row: (-row["gap"], row["reason"]))


def quotes(*, user: User, filters: FeedbackFilters, limit: int = 100) -> list[dict]:
    """The buyers' own words (comment and "something else" text), newest first, optionally about
    one buyer reason (rolled up). One query."""
    qs = (
        SurveyResponse.objects.filter(survey__in=_surveys(user, filters))
        .exclude(comment="", main_reason_other="")
        .select_related("main_reason__merged_into", "survey__deal", "survey__closure__reason")
    )
    if filters.quote_reason:
        qs = qs.filter(
            Q(main_reason__merged_into=filters.quote_reason)
            | Q(main_reason=filters.quote_reason, main_reason__merged_into__isnull=True)
        )
    out = []
    for response in qs.order_by("-answered_at", "-id")[:limit]:
        main = response.main_reason
        main = main.merged_into or main if main else None
        out.append(
            {
                "deal_id": response.survey.deal_id,
                "deal": response.survey.deal.name,
                "answered_at": response.answered_at,
                "buyer_reason": main.label if main else SOMETHING_ELSE,
                "rep_reason": response.survey.closure.reason.label if response.survey.closure.reason else "",
                "something_else": response.main_reason_other,
                "comment": response.comment,
                "process_rating": response.process_rating,
            }
        )
    return out


FIGURES = {
    "response-rate": response_rate,
    "agreement-matrix": agreement_matrix,
    "agreement-by-rep": agreement_by_rep,
    "agreement-by-reason": agreement_by_reason,
    "reason-gaps": reason_gaps,
    "quotes": quotes,
}


def answers_by_closure(*, deals: QuerySet) -> list[dict]:
    """The answered surveys of the standing closes of `deals` (already scoped and filtered by the
    caller: insights' findings pass a dashboard's deals), one row per answer: the closure, the
    deal's team and rep, and the rep's and the buyer's categories (rolled up). One query."""
    return list(
        _answered_annotated(Survey.objects.filter(deal__in=deals, closure__reopened_at__isnull=True))
        .values("closure_id", "deal__team_id", "deal__owner_id", "rep_category", "buyer_category")
        .order_by()
    )
