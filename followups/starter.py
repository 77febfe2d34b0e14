"""The nurture sequences a new installation starts with, and which reasons use them.

Loaded by a data migration; safe to run twice (matches on names and reason codes).
"""

OWNER, CONTACT = "owner_task", "contact_email"

SEQUENCES = {
    "Standard nurture": (
        "Check in after a month, ask what changed after a quarter, re-engage after half a year.",
        [
            (
                30,
                OWNER,
                "Check in on {{ deal.name }}",
                "A month ago {{ deal.account }} said no. Is anything different now: budget, people, "
                "priorities?\n"
                "A short personal note to {{ contact.first_name|default:'your contact' }} keeps the door "
                "open.",
            ),
            (
                90,
                CONTACT,
                "What has changed at {{ account.name }}?",
                "Hi {{ contact.first_name|default:'there' }},\n\n"
                "When we last spoke the timing was not right for {{ account.name }}. A few months on, has "
                "anything changed? Happy to share what is new on our side in a 15-minute call.\n\n"
                "Best,\n{{ owner.first_name }}",
            ),
            (
                180,
                CONTACT,
                "Worth another look, {{ contact.first_name|default:'' }}?",
                "Hi {{ contact.first_name|default:'there' }},\n\n"
                "It has been half a year since we talked about your plans at {{ account.name }}. If the "
                "question is back on "
                "the table, I would be glad to help, with no pressure.\n\n{{ owner.first_name }}",
            ),
        ],
    ),
    "Timing: quarterly check-in": (
        "For 'not now' losses: a check-in each quarter until the timing is right.",
        [
            (
                45,
                OWNER,
                "Is the timing better for {{ deal.account }}?",
                "{{ deal.account }} said the timing was wrong. Check their news and plans before "
                "reaching out.",
            ),
            (
                90,
                CONTACT,
                "Checking in from {{ owner.first_name }}",
                "Hi {{ contact.first_name|default:'there' }},\n\n"
                "You mentioned the timing was not right last quarter. Is it a better moment now?\n\n"
                "{{ owner.first_name }}",
            ),
            (180, OWNER, "Half-year check on {{ deal.name }}", "Time for a call with {{ deal.account }}."),
        ],
    ),
    "Competitive loss: renewal watch": (
        "Lost to a competitor: learn how it goes for them and be there at their renewal.",
        [
            (
                60,
                OWNER,
                "How is {{ deal.account }} getting on with their choice?",
                "Two months in is when first doubts show. A friendly, no-sales check-in works best.",
            ),
            (
                300,
                OWNER,
                "{{ deal.account }}'s renewal is coming up",
                "Their contract with the competitor likely renews soon: prepare a comparison and call.",
            ),
        ],
    ),
}

REASON_DEFAULTS = {
    "price-too-high": "Standard nurture",
    "no-budget": "Timing: quarterly check-in",
    "value-not-proven": "Standard nurture",
    "competitor-better-fit": "Competitive loss: renewal watch",
    "competitor-cheaper": "Competitive loss: renewal watch",
    "incumbent-renewed": "Competitive loss: renewal watch",
    "missing-feature": "Standard nurture",
    "integration-gap": "Standard nurture",
    "bad-timing": "Timing: quarterly check-in",
    "reorganisation": "Timing: quarterly check-in",
    "champion-left": "Standard nurture",
    "status-quo": "Standard nurture",
    "not-a-priority": "Timing: quarterly check-in",
    "budget-frozen": "Timing: quarterly check-in",
}  # fmt: skip


def load_starter_sequences(*, sequence_model, step_model, default_model, reason_model) -> None:
    sequences = {}
    for name, (description, steps) in SEQUENCES.items():
        sequence, created = sequence_model.objects.get_or_create(
            name=name, defaults={"description": description}
        )
        sequences[name] = sequence
        if created:
            for position, (days, action, subject, body) in enumerate(steps, start=1):
                step_model.objects.create(
                    sequence=sequence,
                    position=position,
                    days_after_close=days,
                    action=action,
                    subject=subject,
                    body=body,
                )
    for reason in reason_model.objects.filter(code__in=REASON_DEFAULTS):
        default_model.objects.get_or_create(
            reason=reason, defaults={"sequence": sequences[REASON_DEFAULTS[reason.code]]}
        )
