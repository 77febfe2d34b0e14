"""What a close POST reads before the service runs, in one statement on PostgreSQL.

The page needs the deal (with its pipeline's rules) to check the user may close it, and the
rows its form names: the reason, the secondary reasons and the competitor. On PostgreSQL one
statement returns them all; the form then takes the rows from `CloseRows.known` instead of
asking for each (a value not found there, or not a number, goes the form's usual way and gets
its usual error). Elsewhere (SQLite for `make run`) the deal is read alone and the form reads
its rows itself.
"""

from dataclasses import dataclass, field

from django.db import connection
from django.http import Http404

from deals.models import Deal, Pipeline
from deals.rows import attnames, columns, instance, instance_from_json
from deals.selectors import deal_get_for_user, deal_visible_to_user
from deals.services import SECONDARY_REASONS_MAX
from reasons.models import Competitor, Reason
from teams.models import User

# Off: the deal and the form's rows are read as the form would, query by query.
ONE_STATEMENT = True


@dataclass
class CloseReads:
    deal: Deal
    # The rows the POST names, by the posted value (their id as a string), in the model's order.
    known: dict[str, dict[str, object]] = field(default_factory=dict)


def _ids(values: list[str], limit: int) -> list[int]:
    picked = [int(v) for v in values if v.isascii() and v.isdigit() and len(v) < 19]
    return picked if len(picked) <= limit else []


def _columns(model, alias: str) -> str:
    return ", ".join(f'{alias}."{column}"' for column in columns(model))


def _close_read_sql() -> str:
    # Only column names from the models are formatted in; every value is a parameter.
    return f"""
        SELECT {_columns(Deal, "d")}, {_columns(Pipeline, "p")},
               (SELECT json_agg(row_to_json(r) ORDER BY c."order", r."order", r.label)
                  FROM reasons_reason r JOIN reasons_reasoncategory c ON c.id = r.category_id
                 WHERE r.id = ANY(%(reasons)s::bigint[])),
               (SELECT json_agg(row_to_json(k)) FROM reasons_competitor k
                 WHERE k.id = ANY(%(competitors)s::bigint[]))
          FROM deals_deal d JOIN deals_pipeline p ON p.id = d.pipeline_id
         WHERE d.id = %(deal)s
    """  # noqa: S608


_SQL: list[str] = []  # built once, on first use


def close_reads(*, user: User, pk: int, data) -> CloseReads:
    """The deal `user` may close (else 404, as deal_get_for_user) and the rows `data` (the POST)
    names, in one statement where the database allows it."""
    if not (ONE_STATEMENT and connection.vendor == "postgresql"):
        return CloseReads(deal_get_for_user(user=user, pk=pk, related=("pipeline",)))
    reasons = _ids([data.get("reason", ""), *data.getlist("secondary_reasons")], SECONDARY_REASONS_MAX + 1)
    competitors = _ids([data.get("competitor", "")], 1)
    if not _SQL:
        _SQL.append(_close_read_sql())
    with connection.cursor() as cursor:
        cursor.execute(_SQL[0], {"deal": pk, "reasons": reasons, "competitors": competitors})
        found = cursor.fetchone()
    if found is None:
        raise Http404("No deal matches the given query.")
    deal_width = len(attnames(Deal))
    deal = instance(Deal, found[:deal_width])
    deal.pipeline = instance(Pipeline, found[deal_width:-2])
    if not deal_visible_to_user(deal, user):
        raise Http404("No deal matches the given query.")
    reason_rows, competitor_rows = found[-2:]
    return CloseReads(
        deal,
        {
            "reason": {str(row["id"]): instance_from_json(Reason, row) for row in reason_rows or []},
            "competitor": {str(r["id"]): instance_from_json(Competitor, r) for r in competitor_rows or []},
        },
    )
