from django import template

from crm.selectors import crm_reason_text, deal_owner_syncs, deal_syncs

register = template.Library()


@register.inclusion_tag("crm/_deal_crm.html", takes_context=True)
def deal_crm_panel(context, deal):
    """The deal page's CRM box: write-back state per CRM and the "needs a reason" prompt."""
    return {
        "deal": deal,
        "syncs": deal_syncs(deal=deal),
        "owner_syncs": deal_owner_syncs(deal=deal),
        "crm_text": crm_reason_text(deal=deal) if deal.needs_reason else "",
        "csrf_token": context.get("csrf_token"),
    }
