"""The survey's hooks in other pages (deal page panel, dashboard panel) and its form helpers."""

from django import template

from deals.models import DealStatus
from surveys import forms, selectors

register = template.Library()


@register.filter
def choice_groups(form, name: str):
    return forms.choice_groups(form, name)


@register.inclusion_tag("surveys/_deal_panel.html", takes_context=True)
def deal_survey_panel(context, deal):
    """The buyer's answer beside the rep's close, and the rep's "Send survey" button."""
    surveys = selectors.deal_surveys(deal=deal)
    can_send = deal.status in (DealStatus.LOST, DealStatus.NO_DECISION) and deal.close_reason_id
    if can_send:
        # While a contact with an address has no survey of the standing close yet.
        asked = {s.contact_id for s in surveys if s.closure.reopened_at is None}
        can_send = any(c.email and c.pk not in asked for c in deal.contacts.all())
    return {"deal": deal, "surveys": surveys, "can_send": can_send, "request": context.get("request")}


@register.inclusion_tag("surveys/_dashboard_panel.html", takes_context=True)
def survey_dashboard_panel(context, date_from, date_to, team=None, owner=None):
    """The dashboard's response-rate panel with a link to the feedback figures (one query)."""
    filters = selectors.FeedbackFilters(date_from=date_from, date_to=date_to, team=team, owner=owner)
    rate = selectors.response_rate(user=context["request"].user, filters=filters)
    query = "&".join(f"{k}={v}" for k, v in filters.as_query().items())
    return {"rate": rate, "query": query}


@register.filter
def percent(value) -> str:
    """A share (0..1) as "42%", or "—" when there is nothing under it."""
    if value is None or value == "":
        return "—"
    return f"{round(float(value) * 100)}%"
