"""The rules declared on the models (Meta.triggers, composite foreign keys) are in the database."""

import pgtrigger
import pytest
from django.apps import apps
from django.db import connection

from closedlost.dbrules import CompositeForeignKey

pytestmark = pytest.mark.django_db


def test_every_declared_trigger_is_installed_as_declared_and_enabled():
    declared = pgtrigger.registered()
    assert {trigger.name for _, trigger in declared} == {
        "dealevent_append_only",
        "taxonomychange_append_only",
        "pipelinechange_append_only",
        "contacterasure_append_only",
        "reason_merge_one_step",
        "reason_code_frozen",
        "competitor_merge_one_step",
        "personevent_append_only",
        "teamchange_append_only",
        "wordingchange_append_only",
        "nurturechange_append_only",
        "connectionchange_append_only",
    }
    for model, trigger in declared:
        assert trigger.get_installation_status(model) == ("INSTALLED", True), trigger.name


def test_every_composite_foreign_key_is_in_the_database():
    declared = {
        (model._meta.db_table, constraint.name)
        for model in apps.get_models()
        for constraint in model._meta.constraints
        if isinstance(constraint, CompositeForeignKey)
    }
    assert len(declared) == 4
    with connection.cursor() as cursor:
        cursor.execute("SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f'")
        foreign_keys = set(cursor.fetchall())
    assert declared <= foreign_keys
