"""The starter taxonomy that a new installation begins with.

Loaded by a data migration and by tests; safe to run twice (matches on code).
"""

CATEGORIES = [
    ("price-value", "Price / Value"),
    ("competition", "Competition"),
    ("product-fit", "Product fit / Need"),
    ("timing", "Timing"),
    ("relationship", "Relationship / Process"),
    ("other", "Other"),
]

# (kind, category code, code, label, help text, requires_competitor, requires_note, reopen_after_days)
REASONS = [
    (
        "loss",
        "price-value",
        "price-too-high",
        "Price too high",
        "They wanted it but would not pay our price, even after negotiation.",
        False,
        False,
        180,
    ),
    (
        "loss",
        "price-value",
        "no-budget",
        "No budget",
        "No money was set aside this year; not a judgement on our price.",
        False,
        False,
        90,
    ),
    (
        "loss",
        "price-value",
        "value-not-proven",
        "Value / ROI not proven",
        "We could not show a return that justified the cost.",
        False,
        False,
        180,
    ),
    (
        "loss",
        "competition",
        "competitor-better-fit",
        "Competitor had a better fit",
        "A named competitor won on product or features.",
        True,
        False,
        365,
    ),
    (
        "loss",
        "competition",
        "competitor-cheaper",
        "Competitor was cheaper",
        "A named competitor won mainly on price.",
        True,
        False,
        365,
    ),
    (
        "loss",
        "competition",
        "incumbent-renewed",
        "Incumbent vendor renewed",
        "They renewed with the vendor they already had.",
        True,
        False,
        300,
    ),
    (
        "loss",
        "product-fit",
        "missing-feature",
        "Missing feature",
        "A must-have capability we do not offer. Name it in the note if you can.",
        False,
        False,
        180,
    ),
    (
        "loss",
        "product-fit",
        "no-need",
        "No real need",
        "On discovery, the problem was not painful enough to solve.",
        False,
        False,
        None,
    ),
    (
        "loss",
        "product-fit",
        "integration-gap",
        "Integration or technical gap",
        "Blocked by an integration, security review or technical requirement.",
        False,
        False,
        180,
    ),
    (
        "loss",
        "timing",
        "bad-timing",
        "Bad timing / project postponed",
        "The project moved to a later quarter; the need is still there.",
        False,
        False,
        90,
    ),
    (
        "loss",
        "timing",
        "reorganisation",
        "Reorganisation or acquisition",
        "A reorg, merger or leadership change stopped the purchase.",
        False,
        False,
        120,
    ),
    (
        "loss",
        "relationship",
        "champion-left",
        "Champion left",
        "Our internal sponsor left or changed role.",
        False,
        False,
        60,
    ),
    (
        "loss",
        "relationship",
        "no-decision-maker-access",
        "No access to the decision maker",
        "We never reached the person who signs.",
        False,
        False,
        120,
    ),
    (
        "loss",
        "relationship",
        "procurement-blocked",
        "Procurement or legal blocked",
        "Contract terms, legal or procurement stopped the deal.",
        False,
        False,
        180,
    ),
    (
        "loss",
        "relationship",
        "went-dark",
        "Buyer went dark",
        "They stopped answering and we could not re-engage.",
        False,
        False,
        60,
    ),
    (
        "loss",
        "other",
        "other-loss",
        "Other (explain in the note)",
        "Only when nothing above fits; the note says what happened.",
        False,
        True,
        None,
    ),
    (
        "win",
        "product-fit",
        "win-best-fit",
        "Best product fit",
        "Our product matched their need better than the alternatives.",
        False,
        False,
        None,
    ),
    (
        "win",
        "price-value",
        "win-best-value",
        "Best price / value",
        "They chose us for the return on the price.",
        False,
        False,
        None,
    ),
    (
        "win",
        "relationship",
        "win-relationship",
        "Strong relationship",
        "Trust in the team and the process carried the deal.",
        False,
        False,
        None,
    ),
    (
        "win",
        "competition",
        "win-beat-competitor",
        "Beat a competitor",
        "We won a head-to-head evaluation against a named competitor.",
        True,
        False,
        None,
    ),
    (
        "win",
        "other",
        "other-win",
        "Other (explain in the note)",
        "Only when nothing above fits; the note says why we won.",
        False,
        True,
        None,
    ),
    (
        "no_decision",
        "timing",
        "status-quo",
        "Stayed with the status quo",
        "They decided to keep doing what they do today.",
        False,
        False,
        180,
    ),
    (
        "no_decision",
        "timing",
        "not-a-priority",
        "Not a priority now",
        "Other projects came first this year.",
        False,
        False,
        90,
    ),
    (
        "no_decision",
        "relationship",
        "no-consensus",
        "No internal consensus",
        "The buying group could not agree.",
        False,
        False,
        120,
    ),
    (
        "no_decision",
        "price-value",
        "budget-frozen",
        "Budget frozen",
        "Spending was frozen before a decision was made.",
        False,
        False,
        120,
    ),
    (
        "no_decision",
        "other",
        "other-no-decision",
        "Other (explain in the note)",
        "Only when nothing above fits; the note says what happened.",
        False,
        True,
        None,
    ),
]

# One short story per starter reason for the reason guide, so two reps pick the same reason.
EXAMPLES = {
    "price-too-high": "“We love the demo, but at 40k we cannot justify it; come back at 25k.”",
    "no-budget": "“This was never in the plan for this year; finance won't release anything until April.”",
    "value-not-proven": "The CFO asked for the payback period and our business case did not convince her.",
    "competitor-better-fit": "They picked Northwind because it has the field-service module we lack.",
    "competitor-cheaper": "Globex offered the same scope for half the price and they took it.",
    "incumbent-renewed": "They signed another two years with the tool they already use, at a discount.",
    "missing-feature": "Single sign-on with their identity provider was a must-have and we do not offer it.",
    "no-need": "After discovery it turned out the team tracks 20 deals a quarter; a spreadsheet is enough.",
    "integration-gap": "Their security review failed us on data residency, or the ERP connector is missing.",
    "bad-timing": "“Great fit, but we're mid-migration; talk to us again after Q3.”",
    "reorganisation": "The company was acquired and all purchasing is frozen until the new owners decide.",
    "champion-left": "Our sponsor, the VP Sales, left the company and her successor did not pick it up.",
    "no-decision-maker-access": "We only ever met the analyst; the CRO who signs never joined a call.",
    "procurement-blocked": "Legal would not accept our liability cap and procurement stopped the deal.",
    "went-dark": "Five follow-ups over six weeks, no answer by email or phone.",
    "other-loss": "None of the above fits, e.g. the buyer's office burned down; explain it in the note.",
    "win-best-fit": "They chose us because our reporting did what the other two tools could not.",
    "win-best-value": "Similar features everywhere; our price and fast onboarding made the case.",
    "win-relationship": "The buyer trusted our team after a smooth pilot and quick answers.",
    "win-beat-competitor": "Head-to-head bake-off against Initech; we won on ease of use.",
    "other-win": "None of the above fits; the note says why they bought.",
    "status-quo": "They decided their current spreadsheet process is good enough for now.",
    "not-a-priority": "A bigger ERP project took all the budget and attention this year.",
    "no-consensus": "Sales wanted it, IT did not, and nobody broke the tie.",
    "budget-frozen": "All new spend was frozen company-wide before they could decide.",
    "other-no-decision": "None of the above fits; the note says what happened.",
}

COMPETITORS = [
    ("Northwind CRM", ["Northwind", "NW CRM"]),
    ("Globex Sales Cloud", ["Globex"]),
    ("Initech Pipeline", ["Initech"]),
    ("Umbrella Revenue", ["Umbrella"]),
    ("Hooli Deals", ["Hooli"]),
]


def load_starter_taxonomy(*, category_model, reason_model, competitor_model) -> None:
    """Create the starter categories, reasons and competitors that do not exist yet."""
    categories = {}
    for order, (code, name) in enumerate(CATEGORIES, start=1):
        categories[code], _ = category_model.objects.get_or_create(
            code=code, defaults={"name": name, "order": order}
        )
    # A historical Reason model may lack `example` (it came after the first migrations).
    has_example = any(field.name == "example" for field in reason_model._meta.get_fields())
    for order, (kind, category, code, label, help_text, competitor, note, days) in enumerate(
        REASONS, start=1
    ):
        example = {"example": EXAMPLES.get(code, "")} if has_example else {}
        reason_model.objects.get_or_create(
            code=code,
            defaults={
                **example,
                "kind": kind,
                "category": categories[category],
                "label": label,
                "help_text": help_text,
                "order": order,
                "requires_competitor": competitor,
                "requires_note": note,
                "reopen_after_days": days,
            },
        )
    for name, aliases in COMPETITORS:
        competitor_model.objects.get_or_create(name=name, defaults={"aliases": aliases})


CATCH_ALL_CODES = ["other-loss", "other-win", "other-no-decision"]


def mark_starter_catch_alls(*, reason_model) -> None:
    """The starter's "Other" reasons are its catch-alls."""
    reason_model.objects.filter(code__in=CATCH_ALL_CODES).update(is_catch_all=True)


def fill_starter_examples(*, reason_model) -> None:
    """Give the starter reasons that have no example yet the starter example."""
    for code, example in EXAMPLES.items():
        reason_model.objects.filter(code=code, example="").update(example=example)


def load_starter_taxonomy_now() -> None:
    """The same, with the current models (for tests and the demo command)."""
    from reasons.models import Competitor, Reason, ReasonCategory

    load_starter_taxonomy(category_model=ReasonCategory, reason_model=Reason, competitor_model=Competitor)
    mark_starter_catch_alls(reason_model=Reason)
