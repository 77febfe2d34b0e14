from django import template

from followups.selectors import deal_followups

register = template.Library()


@register.inclusion_tag("followups/_deal_panel.html")
def deal_followups_panel(deal):
    """The deal page's follow-ups: what is scheduled, sent or done, and the sequence chosen.

    The deal page has already checked that the user may see the deal (and so its follow-ups).
    """
    return {"deal": deal, "followups": deal_followups(deal=deal)}
