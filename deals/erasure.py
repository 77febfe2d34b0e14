"""Erasing a person who asked to be forgotten: `contact_erase(*, contact, actor)`.

In one transaction:
1. the contact row (and any other contact row with the same address: the same person from another
   source) keeps its ids but loses its name, address and title, and is marked erased — surveys,
   follow-ups and deals keep pointing at it, so figures do not move;
2. each app removes what it holds of the person (deals.signals.contact_erasing): follow-ups cancel
   the pending e-mails and keep an opt-out only as a fingerprint; surveys cancel what was not sent;
3. every text column of every table is swept for the name and the address (raw CRM deliveries,
   uploaded files, error texts, titles, answers' free text): each is replaced by "[erased]", and in
   a row that named the person, so are the parts of the name;
4. one ContactErasure row records who, when and how many rows of each kind (no personal data).

The CRM's contact deletion calls the same function (`source="crm"`).
"""

import hashlib
import logging
import re

from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from closedlost.errors import Conflict
from deals.errors import DealError
from deals.models import Contact, ContactErasure, DealContact
from deals.signals import contact_erasing

log = logging.getLogger(__name__)

ERASED = "[erased]"
FINGERPRINT_PREFIX = "sha256:"
FINGERPRINT_SALT = "closedlost-opt-out:"  # also in followups.scheduling's SQL
# Rows whose history must not change (append-only) and the people who use closedlost: not swept.
NOT_SWEPT = {
    "deals.dealevent",
    "deals.pipelinechange",
    "deals.contacterasure",
    "reasons.taxonomychange",
    "followups.nurturechange",  # the admins' step texts, no buyer's data
    "crm.connectionchange",  # connection settings and owner map, no buyer's data
    "deals.contact",  # emptied field by field above
    "sessions.session",
    "contenttypes.contenttype",
    "auth.permission",
    "migrations.migration",
}
NAME_PART_MIN = 3  # shorter parts of a name ("Li", "Al") are not looked for on their own


class ContactAlreadyErased(DealError, Conflict):
    pass


def email_fingerprint(email: str) -> str:
    """What is kept of an address that opted out once its person is erased: enough to honour the
    opt-out if the address comes back, not the address."""
    digest = hashlib.sha256(f"{FINGERPRINT_SALT}{email.strip().lower()}".encode()).hexdigest()
    return f"{FINGERPRINT_PREFIX}{digest}"


def _text_fields(model) -> list[models.Field]:
    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, (models.CharField, models.TextField, models.JSONField)) and not f.primary_key
    ]


def _sweepable_models():
    user_model = settings.AUTH_USER_MODEL.lower()
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in NOT_SWEPT or label == user_model or not model._meta.managed or model._meta.proxy:
            continue
        if _text_fields(model):
            yield model


def _sweep_postgresql(model, strong: str, parts: str | None) -> int:
    """One UPDATE per table: rows with the name or address lose them (and, there, the name's parts)."""
    quote = connection.ops.quote_name
    sets, wheres, params_set, params_where = [], [], [], []
    for field in _text_fields(model):
        column = quote(field.column)
        as_text = f"{column}::text" if isinstance(field, models.JSONField) else column
        expression = f"regexp_replace({as_text}, %s, %s, 'gi')"
        params = [strong, ERASED]
        if parts:
            expression = f"regexp_replace({expression}, %s, %s, 'gi')"
            params += [parts, ERASED]
        if isinstance(field, models.JSONField):
            expression = f"({expression})::jsonb"
        sets.append(f"{column} = CASE WHEN {as_text} ~* %s THEN {expression} ELSE {column} END")
        params_set += [strong, *params]
        wheres.append(f"{as_text} ~* %s")
        params_where.append(strong)
    # Table and column names come from the models (quoted); every value is a parameter.
    sql = f"UPDATE {quote(model._meta.db_table)} SET {', '.join(sets)} WHERE {' OR '.join(wheres)}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params_set + params_where)
        return cursor.rowcount


def _sweep_portable(model, needles: list[str]) -> int:
    """SQLite (`make run`): exact and lower-case copies, replaced in Python."""
    fields = [f for f in _text_fields(model) if not isinstance(f, models.JSONField)]
    match = Q()
    for field in fields:
        for needle in needles:
            match |= Q(**{f"{field.name}__icontains": needle})
    changed = 0
    pattern = re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)
    for row in model._default_manager.filter(match):
        updates = {f.name: pattern.sub(ERASED, getattr(row, f.name) or "") for f in fields}
        model._default_manager.filter(pk=row.pk).update(**updates)
        changed += 1
    return changed


def _sweep(*, name: str, email: str) -> dict[str, int]:
    needles = [value for value in (name.strip(), email.strip()) if value]
    if not needles:
        return {}
    counts = {}
    if connection.vendor == "postgresql":
        strong = "|".join(re.escape(n) for n in needles)
        words = [w for w in re.split(r"\W+", name) if len(w) >= NAME_PART_MIN]
        parts = r"\m(" + "|".join(re.escape(w) for w in words) + r")\M" if words else None
        for model in _sweepable_models():
            rows = _sweep_postgresql(model, strong, parts)
            if rows:
                counts[f"{model._meta.verbose_name_plural} with the name or address"] = rows
    else:
        for model in _sweepable_models():
            rows = _sweep_portable(model, needles)
            if rows:
                counts[f"{model._meta.verbose_name_plural} with the name or address"] = rows
    return counts


def contact_erase(
    *, contact: Contact, actor=None, source: str = ContactErasure.Source.ADMIN
) -> ContactErasure:
    """Erase the person behind `contact` everywhere (see the module's docstring). Refused (409) if
    the contact is already erased. Returns the erasure's record."""
    now = timezone.now()
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        if locked.erased_at is not None:
            raise ContactAlreadyErased("This contact was already erased.")
        name, email = locked.name or "", (locked.email or "").lower()
        same_person = Contact.objects.filter(pk=locked.pk)
        if email:
            same_person = Contact.objects.filter(
                Q(pk=locked.pk) | Q(email__iexact=email, erased_at__isnull=True)
            )
        rows = list(same_person.select_for_update().order_by("pk").values_list("pk", "name"))
        names = {name} | {other_name for _, other_name in rows if other_name}
        ids = [pk for pk, _ in rows]
        deal_ids = sorted(
            set(DealContact.objects.filter(contact_id__in=ids).values_list("deal_id", flat=True))
        )
        Contact.objects.filter(pk__in=ids).update(name="", email="", title="", erased_at=now, updated_at=now)
        removed = {"contact rows": len(ids)}
        for _receiver, answer in contact_erasing.send(
            sender=Contact, contact_ids=ids, names=sorted(names), email=email, deal_ids=deal_ids, now=now
        ):
            removed.update(answer or {})
        for each in sorted(names):
            for what, count in _sweep(name=each, email=email).items():
                removed[what] = removed.get(what, 0) + count
        erasure = ContactErasure.objects.create(
            contact=locked, actor=actor, source=source, at=now, removed=removed
        )
    # The id only: a log line written from now on never holds the person.
    log.info("contact %s erased (%s rows)", contact.pk, sum(removed.values()))
    contact.refresh_from_db()
    return erasure
