"""The words a buyer reads for each standard reason and category (admins may change each one)."""

from reasons.models import Reason, ReasonCategory, ReasonKind

# Shown until an admin writes their own (surveys.ReasonWording / CategoryWording); by code.
CATEGORY_DEFAULTS = {
    "price-value": "Price and value",
    "competition": "Another provider",
    "product-fit": "What the product does",
    "timing": "Timing",
    "relationship": "How we worked together",
    "other": "Something else",
}
REASON_DEFAULTS = {
    "price-too-high": "The price was more than we wanted to pay",
    "no-budget": "We had no budget for it this year",
    "value-not-proven": "We were not convinced it would pay off",
    "competitor-better-fit": "Another provider suited our needs better",
    "competitor-cheaper": "Another provider offered a lower price",
    "incumbent-renewed": "We stayed with the provider we already had",
    "missing-feature": "Something we needed was missing",
    "no-need": "We realised we did not really need it",
    "integration-gap": "It did not work with our other systems",
    "bad-timing": "The timing was wrong, or the project was put off",
    "reorganisation": "Our organisation changed (restructuring, acquisition)",
    "champion-left": "The person leading this on our side moved on",
    "no-decision-maker-access": "The right people on our side were not involved",
    "procurement-blocked": "Purchasing or legal terms got in the way",
    "went-dark": "Other priorities took over and we stopped replying",
    "status-quo": "We decided to keep things as they are",
    "not-a-priority": "It is not a priority for us right now",
    "no-consensus": "We could not agree internally",
    "budget-frozen": "Our budget was frozen",
}


def category_label(category: ReasonCategory) -> str:
    """A category in buyer words (expects `buyer_wording` fetched or absent)."""
    wording = getattr(category, "buyer_wording", None)
    if wording is not None and wording.buyer_label:
        return wording.buyer_label
    return CATEGORY_DEFAULTS.get(category.code, category.name)


def reason_label(reason: Reason) -> str:
    """A reason in buyer words (expects `buyer_wording` fetched or absent)."""
    wording = getattr(reason, "buyer_wording", None)
    if wording is not None and wording.buyer_label:
        return wording.buyer_label
    return REASON_DEFAULTS.get(reason.code, reason.label)


def buyer_reasons(kind: str) -> list[Reason]:
    """The reasons a buyer may choose for a close of `kind`: the active ones, "Other" aside (the
    survey's own "something else" takes its place). One query."""
    return list(
        Reason.objects.filter(kind=kind, active=True, requires_note=False)
        .exclude(kind=ReasonKind.WIN)
        .select_related("buyer_wording", "category__buyer_wording")
        .order_by("category__order", "order", "label")
    )
