"""Every taxonomy change leaves exactly one append-only history row with the right before and after."""

import pytest
from django.db import IntegrityError, InternalError, connection, transaction
from django.urls import reverse

from reasons import services
from reasons.models import Competitor, Reason, ReasonCategory, TaxonomyChange


def _only_new_change(since: int) -> TaxonomyChange:
    changes = list(TaxonomyChange.objects.filter(pk__gt=since).order_by("pk"))
    assert len(changes) == 1, changes
    return changes[0]


def _last_pk() -> int:
    last = TaxonomyChange.objects.order_by("-pk").first()
    return last.pk if last else 0


def test_each_reason_change_writes_one_row_with_before_and_after(world):
    carol = world.carol
    category = ReasonCategory.objects.get(code="price-value")
    mark = _last_pk()
    reason = services.reason_create(
        actor=carol,
        kind="loss",
        data=services.ReasonData(
            category=category, code="too-expensive-to-run", label="Too expensive to run"
        ),
    )
    change = _only_new_change(mark)
    assert (change.action, change.subject, change.reason, change.actor) == ("create", "reason", reason, carol)
    assert change.before is None
    assert change.after["code"] == "too-expensive-to-run" and change.after["active"] is True

    mark = _last_pk()
    services.reason_update(
        actor=carol,
        reason=reason,
        data=services.ReasonData(
            category=category, code="too-expensive-to-run", label="Running cost too high", requires_note=True
        ),
    )
    change = _only_new_change(mark)
    assert change.action == "update"
    assert (change.before["label"], change.after["label"]) == (
        "Too expensive to run",
        "Running cost too high",
    )
    assert (change.before["requires_note"], change.after["requires_note"]) == (False, True)
    assert ("label", "Too expensive to run", "Running cost too high") in change.differences

    mark = _last_pk()
    services.reason_reorder(actor=carol, reason=reason, direction="up")
    change = _only_new_change(mark)
    assert change.action == "reorder"
    assert change.before["order"][-1] == "too-expensive-to-run"
    assert change.after["order"][-2] == "too-expensive-to-run"

    for action, call in [
        ("retire", lambda: services.reason_retire(actor=carol, reason=reason)),
        ("restore", lambda: services.reason_restore(actor=carol, reason=reason)),
        ("merge", lambda: services.reason_merge(actor=carol, reason=reason, into=world.reasons["no-budget"])),
        ("unmerge", lambda: services.reason_unmerge(actor=carol, reason=reason)),
    ]:
        mark = _last_pk()
        call()
        change = _only_new_change(mark)
        assert change.action == action
        assert change.reason == reason
    merge = TaxonomyChange.objects.get(action="merge")
    assert (merge.before["merged_into"], merge.after["merged_into"]) == (None, "no-budget")
    assert (merge.before["active"], merge.after["active"]) == (True, False)


def test_a_refused_or_empty_change_writes_nothing(world):
    reason = world.reasons["no-budget"]
    mark = _last_pk()
    with pytest.raises(services.TaxonomyError):
        services.reason_reorder(actor=world.carol, reason=world.reasons["price-too-high"], direction="up")
    same = services.ReasonData(
        category=reason.category,
        code=reason.code,
        label=reason.label,
        help_text=reason.help_text,
        example=reason.example,
        reopen_after_days=reason.reopen_after_days,
    )
    services.reason_update(actor=world.carol, reason=reason, data=same)
    assert _last_pk() == mark


def test_category_and_competitor_changes_are_recorded(world):
    carol = world.carol
    mark = _last_pk()
    category = services.category_create(actor=carol, code="legal", name="Legal")
    services.category_update(actor=carol, category=category, name="Legal / Compliance")
    services.category_reorder(actor=carol, category=category, direction="up")
    competitor = services.competitor_create(
        actor=carol, data=services.CompetitorData(name="Acme", aliases=["ACME"])
    )
    services.competitor_update(
        actor=carol, competitor=competitor, data=services.CompetitorData(name="Acme Corp", aliases=["ACME"])
    )
    services.competitor_retire(actor=carol, competitor=competitor)
    services.competitor_restore(actor=carol, competitor=competitor)
    rows = list(TaxonomyChange.objects.filter(pk__gt=mark).order_by("pk").values_list("subject", "action"))
    assert rows == [
        ("category", "create"),
        ("category", "update"),
        ("category", "reorder"),
        ("competitor", "create"),
        ("competitor", "update"),
        ("competitor", "retire"),
        ("competitor", "restore"),
    ]
    assert TaxonomyChange.objects.get(subject="competitor", action="update").before["name"] == "Acme"


def test_history_cannot_be_edited_or_deleted(world):
    services.reason_retire(actor=world.carol, reason=world.reasons["no-budget"])
    change = TaxonomyChange.objects.get()
    change.subject_label = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        change.save()
    with pytest.raises(ValueError, match="append-only"):
        change.delete()
    for sql in (
        "UPDATE reasons_taxonomychange SET subject_label = 'rewritten'",
        "DELETE FROM reasons_taxonomychange",
    ):
        with (
            pytest.raises((IntegrityError, InternalError)),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert TaxonomyChange.objects.get().subject_label == "No budget"


def test_history_page_is_filterable_and_read_only(client, world):
    services.reason_retire(actor=world.carol, reason=world.reasons["no-budget"])
    services.competitor_retire(actor=world.carol, competitor=Competitor.objects.get(name="Hooli Deals"))
    client.force_login(world.carol)
    url = reverse("taxonomy:history")
    page = client.get(url).content.decode()
    assert "“No budget”" in page and "“Hooli Deals”" in page
    only_reasons = client.get(url, {"subject": "reason"}).content.decode()
    assert "“No budget”" in only_reasons and "“Hooli Deals”" not in only_reasons
    searched = client.get(url, {"q": "hooli"}).content.decode()
    assert "“No budget”" not in searched and "“Hooli Deals”" in searched
    by_action = client.get(url, {"action": "merge"}).content.decode()
    assert "No changes match" in by_action
    assert '<form method="post"' not in page.split("</nav>", 1)[1].replace('action="/logout/"', "")
    # Django admin shows history but cannot change or delete it.
    world.carol.is_staff = world.carol.is_superuser = True
    world.carol.save()
    change = TaxonomyChange.objects.first()
    response = client.post(
        reverse("admin:reasons_taxonomychange_change", args=[change.pk]), {"subject_label": "x"}
    )
    assert response.status_code in (200, 403)
    assert client.get(reverse("admin:reasons_taxonomychange_delete", args=[change.pk])).status_code == 403
    change.refresh_from_db()
    assert change.subject_label == "Hooli Deals"
    assert Reason.objects.get(code="no-budget").changes.count() == 1
