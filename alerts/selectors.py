"""Reads for the alert pages (admins only: the views check)."""

from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery

from alerts.models import AlertDelivery, AlertFiring, AlertRule, AlertRuleEvent


def alert_rules() -> QuerySet[AlertRule]:
    """Every rule with what the list shows: scope and subject, recipients, last firing, failures."""
    failed = AlertDelivery.objects.filter(firing__rule=OuterRef("pk"), state=AlertDelivery.State.FAILED)
    return (
        AlertRule.objects.select_related("team", "competitor", "reason")
        .annotate(
            recipient_count=Count("recipients", distinct=True),
            last_fired=Max("firings__fired_at"),
            firing_count=Count("firings", distinct=True),
            failed_deliveries=Subquery(failed.values("firing__rule").annotate(n=Count("pk")).values("n")[:1]),
        )
        .order_by("name", "pk")
    )


def recent_firings(limit: int = 10) -> list[AlertFiring]:
    return list(
        AlertFiring.objects.select_related("rule").annotate(
            delivered=Count("deliveries", filter=Q(deliveries__state=AlertDelivery.State.SENT)),
            deliveries_total=Count("deliveries"),
        )[:limit]
    )


def rule_firings(rule: AlertRule, limit: int = 50) -> list[AlertFiring]:
    return list(rule.firings.prefetch_related("deliveries__user")[:limit])


def rule_history(rule: AlertRule, limit: int = 50) -> list[AlertRuleEvent]:
    return list(rule.events.select_related("actor")[:limit])
