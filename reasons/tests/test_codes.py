"""Stable codes: unique forever, never reused, frozen once a closure uses the reason."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from deals import services as deal_services
from reasons import services
from reasons.models import Reason, ReasonCategory


def _data(reason: Reason, **changes) -> services.ReasonData:
    values = {
        "category": reason.category,
        "code": reason.code,
        "label": reason.label,
        "help_text": reason.help_text,
        "example": reason.example,
        "requires_competitor": reason.requires_competitor,
        "requires_note": reason.requires_note,
        "reopen_after_days": reason.reopen_after_days,
    }
    values.update(changes)
    return services.ReasonData(**values)


def test_code_is_frozen_once_a_closure_uses_the_reason(world):
    reason = world.reasons["no-budget"]
    services.reason_update(actor=world.carol, reason=reason, data=_data(reason, code="no-budget-this-year"))
    assert Reason.objects.get(pk=reason.pk).code == "no-budget-this-year"

    deal_services.deal_mark_lost(deal=world.deal(), reason=reason, actor=world.alice)
    with pytest.raises(services.TaxonomyError, match="its code “no-budget-this-year” is frozen") as refused:
        services.reason_update(actor=world.carol, reason=reason, data=_data(reason, code="budget"))
    assert refused.value.field == "code"
    # The label and rules stay editable.
    services.reason_update(actor=world.carol, reason=reason, data=_data(reason, label="No budget this year"))
    # And the database refuses a code change that skips the service.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE reasons_reason SET code = 'budget' WHERE id = %s", [reason.pk])
    assert Reason.objects.get(pk=reason.pk).code == "no-budget-this-year"


def test_codes_are_never_reused(world):
    category = ReasonCategory.objects.get(code="price-value")
    reason = world.reasons["no-budget"]
    with pytest.raises(services.TaxonomyError, match="already used by “Price too high”") as refused:
        services.reason_create(
            actor=world.carol,
            kind="loss",
            data=services.ReasonData(category=category, code="price-too-high", label="X"),
        )
    assert refused.value.field == "code"
    # A code given up by a rename still belongs to its first reason.
    services.reason_update(actor=world.carol, reason=reason, data=_data(reason, code="budget-missing"))
    with pytest.raises(
        services.TaxonomyError, match="belonged to “No budget” before; codes are never reused"
    ):
        services.reason_create(
            actor=world.carol,
            kind="loss",
            data=services.ReasonData(category=category, code="no-budget", label="Y"),
        )
    # The reason itself may take its old code back.
    services.reason_update(actor=world.carol, reason=reason, data=_data(reason, code="no-budget"))
    assert Reason.objects.get(pk=reason.pk).code == "no-budget"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"code": "Not A Slug"}, "code", "is not a valid code"),
        ({"code": ""}, "code", "Give the reason a code"),
        ({"label": "  "}, "label", "Give the reason a label"),
        ({"label": "price too HIGH"}, "label", "already a loss reason labelled"),
        ({"reopen_after_days": 5000}, "reopen_after_days", "between 0 and 3650"),
    ],
)
def test_bad_reason_fields_are_named(world, changes, field, words):
    reason = world.reasons["no-budget"]
    with pytest.raises(services.TaxonomyError, match=words) as refused:
        services.reason_update(actor=world.carol, reason=reason, data=_data(reason, **changes))
    assert refused.value.field == field


def test_edit_page_shows_the_code_frozen_and_ignores_a_posted_code(client, world):
    reason = world.reasons["no-budget"]
    deal_services.deal_mark_lost(deal=world.deal(), reason=reason, actor=world.alice)
    client.force_login(world.carol)
    url = reverse("taxonomy:reason-edit", args=[reason.pk])
    page = client.get(url).content.decode()
    assert "its code is frozen" in page
    response = client.post(
        url,
        {
            "kind": "win",
            "category": reason.category_id,
            "label": "No budget at all",
            "code": "something-else",
            "reopen_after_days": "30",
        },
    )
    assert response.status_code == 302
    reason.refresh_from_db()
    assert (reason.code, reason.kind, reason.label, reason.reopen_after_days) == (
        "no-budget",
        "loss",
        "No budget at all",
        30,
    )


def test_codes_take_the_characters_crm_values_use_and_stay_unique_forever(world):
    category = ReasonCategory.objects.get(code="price-value")
    reason = services.reason_create(
        actor=world.carol,
        kind="loss",
        data=services.ReasonData(category=category, code="price_too_high_q4", label="Price too high (Q4)"),
    )
    assert Reason.objects.get(pk=reason.pk).code == "price_too_high_q4"
    with pytest.raises(services.TaxonomyError, match="already used") as taken:
        services.reason_create(
            actor=world.carol,
            kind="loss",
            data=services.ReasonData(category=category, code="price_too_high_q4", label="Y"),
        )
    assert taken.value.field == "code"
    for bad in ("price__too", "_price", "price_", "Price_Too", "price too"):
        with pytest.raises(services.TaxonomyError, match="not a valid code") as refused:
            services.reason_create(
                actor=world.carol,
                kind="loss",
                data=services.ReasonData(category=category, code=bad, label=bad),
            )
        assert refused.value.field == "code"
