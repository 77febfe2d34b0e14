"""Model instances from the raw rows of a hand-written statement (the close's hot paths)."""

from functools import cache

from django.db import connection


@cache
def attnames(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


@cache
def columns(model) -> list[str]:
    return [field.column for field in model._meta.concrete_fields]


def instance(model, values):
    """The model's instance from its concrete fields' values, in order (extra values ignored)."""
    names = attnames(model)
    return model.from_db(connection.alias, names, list(values[: len(names)]))


def instance_from_json(model, row: dict):
    """The model's instance from a row_to_json object (keys are column names)."""
    return model.from_db(connection.alias, attnames(model), [row[column] for column in columns(model)])
