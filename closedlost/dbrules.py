"""Database rules that Django's own constraints cannot declare, for a model's Meta.

- `CompositeForeignKey` (in Meta.constraints): (a, b) -> (id, b) of another table, so that a
  copied column (a reason's kind, a stage's pipeline) always equals the referenced row's.
- `append_only(name)` (in Meta.triggers, django-pgtrigger): UPDATE and DELETE are refused.

Both exist on PostgreSQL only; SQLite (the `make run` default) relies on the services. Their
errors are integrity errors (SQLSTATE class 23), as Django's own constraints raise.
"""

import pgtrigger
from django.db import models


class CompositeForeignKey(models.BaseConstraint):
    """FOREIGN KEY (fields) REFERENCES to (to_fields), created at the end of the migration (as
    Django's own foreign keys are), so the referenced table and its unique key exist by then."""

    def __init__(self, *, name: str, fields: list[str], to: str, to_fields: list[str]):
        super().__init__(name=name)
        self.fields, self.to, self.to_fields = list(fields), to, list(to_fields)

    def _sql(self, model, schema_editor) -> str:
        target = model._meta.apps.get_model(self.to)
        quote = schema_editor.quote_name

        def columns(of, names):
            return ", ".join(quote(of._meta.get_field(name).column) for name in names)

        return (
            f"ALTER TABLE {quote(model._meta.db_table)} ADD CONSTRAINT {quote(self.name)}"
            f" FOREIGN KEY ({columns(model, self.fields)})"
            f" REFERENCES {quote(target._meta.db_table)} ({columns(target, self.to_fields)})"
        )

    def constraint_sql(self, model, schema_editor):
        # Inside CREATE TABLE the referenced table may not exist yet: add it afterwards.
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.deferred_sql.append(self._sql(model, schema_editor))
        return None

    def create_sql(self, model, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return None
        return self._sql(model, schema_editor)

    def remove_sql(self, model, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return None
        quote = schema_editor.quote_name
        return f"ALTER TABLE {quote(model._meta.db_table)} DROP CONSTRAINT IF EXISTS {quote(self.name)}"

    def validate(self, model, instance, exclude=None, using=None):
        """Held by the database (and the services), not by form validation."""

    def deconstruct(self):
        path, args, kwargs = super().deconstruct()
        kwargs.update(fields=self.fields, to=self.to, to_fields=self.to_fields)
        return path, args, kwargs

    def __eq__(self, other):
        if isinstance(other, CompositeForeignKey):
            return self.deconstruct() == other.deconstruct()
        return super().__eq__(other)

    def __repr__(self) -> str:
        return f"<CompositeForeignKey {self.name}: {self.fields} -> {self.to} {self.to_fields}>"


def append_only(name: str) -> pgtrigger.Trigger:
    """A trigger that refuses every UPDATE and DELETE of the model's rows."""
    return pgtrigger.Trigger(
        name=name,
        when=pgtrigger.Before,
        operation=pgtrigger.Update | pgtrigger.Delete,
        func=pgtrigger.Func(
            "RAISE EXCEPTION '{meta.db_table} is append-only' USING ERRCODE = 'restrict_violation';"
        ),
    )
