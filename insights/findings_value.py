"""Lost value as findings: the lost deals' amounts by team, rep, pipeline, industry, company size
and stage lost at, in the period against the comparison (insights.findings_stats.ValueCell).

No read of its own: deals, Σ amount and Σ amount² per dimension and currency come with the reads
the figures make anyway ("base" by rep, team and pipeline; "industry", "size", "stage"), from the
summary (both rollups keep Σ amount² per currency) or, on the live path, from the deals. Amounts
are converted to the organisation currency with the dashboard's stored rates; deals in a
currency without a rate are left out, as on the dashboard's value figures.
"""

from __future__ import annotations

from django.conf import settings

from deals.models import Pipeline, Stage
from deals.selectors import INDUSTRY_UNKNOWN, SIZE_BANDS
from insights.filters import LOST
from insights.findings_stats import ValueCell
from insights.measures import Dashboard
from teams.models import Team, User

# (dimension, column of the read, the filter that makes it one value, the deal list's parameter,
#  the read and its GROUP BY set that carry it)
DIMENSIONS = (
    ("team", "team_id", "team", "team", "base", 1),
    ("rep", "owner_id", "owner", "owner", "base", 0),
    ("pipeline", "pipeline_id", "pipeline", "pipeline", "base", 2),
    ("industry", "industry", "industry", "industry", "industry", 0),
    ("size", "band", "size", "size", "size", 0),
    ("stage", "stage_id", None, "stage", "stage", 0),
)


def _summed(dashboard: Dashboard) -> dict:
    """{(dimension, key): (deals, Σ value, Σ value²)} in the organisation currency."""
    rates = {code: float(rate) for code, rate in dashboard.rates.items()}
    out: dict = {}
    for dimension, column, _filter, _param, read, index in DIMENSIONS:
        for row in dashboard.measures(read)[index]:
            rate = rates.get(row["currency"])
            if rate is None or row.get("status", LOST) != LOST:
                continue
            key = row[column]
            deals, amount, squares = out.get((dimension, key), (0, 0.0, 0.0))
            out[(dimension, key)] = (
                deals + row["deals"],
                amount + float(row["amount"] or 0) * rate,
                squares + float(row["amount_sq"] or 0) * rate * rate,
            )
    return out


def names(dashboard: Dashboard, other: Dashboard) -> dict:
    """Labels of teams, pipelines, stages (all: short tables) and of the reps with closes in either
    period (from the "groups" read both already made), read once per request and shared by every
    kind of finding; only the keys of scoped cells are ever shown."""
    if "finding_names" not in dashboard.__dict__:
        reps = {
            row["owner_id"]
            for rows in (dashboard.measures("groups")[2], other.measures("groups")[2])
            for row in rows
        }
        dashboard.__dict__["finding_names"] = {
            "team": dict(Team.objects.values_list("pk", "name")),
            "pipeline": dict(Pipeline.objects.values_list("pk", "name")),
            "rep": {user.pk: user.display_name for user in User.objects.filter(pk__in=reps or [0])},
            "stage": {
                stage.pk: f"{stage.name} ({stage.pipeline.name})"
                for stage in Stage.objects.select_related("pipeline")
            },
        }
    return dashboard.__dict__["finding_names"]


def _label(known: dict, dimension: str, key) -> str:
    if dimension == "industry":
        return key or "Industry unknown"
    if dimension == "size":
        return SIZE_BANDS[key][0]
    return known[dimension].get(key, str(key))


def _days(dashboard: Dashboard) -> int:
    return (dashboard.filters.date_to - dashboard.filters.date_from).days + 1


def lost_value_cells(dashboard: Dashboard, other: Dashboard) -> list[ValueCell]:
    """Lost value by every dimension the filters leave open, now (`dashboard`) and in the
    comparison (`other`)."""
    filters = dashboard.filters
    now, before = _summed(dashboard), _summed(other)
    open_dimensions = {
        dimension
        for dimension, _column, name, _param, *_read in DIMENSIONS
        if name is None or not getattr(filters, name)
    }
    keys = {key for key in now.keys() | before.keys() if key[0] in open_dimensions}
    known = names(dashboard, other)
    params = {dimension: param for dimension, _column, _name, param, *_read in DIMENSIONS}
    cells = []
    order = [dimension for dimension, *_rest in DIMENSIONS]
    seen = set()  # a dimension with one value (one team, one pipeline) repeats the scope's total
    for dimension, key in sorted(keys, key=lambda k: (order.index(k[0]), str(k[1]))):
        a, b = now.get((dimension, key), (0, 0.0, 0.0)), before.get((dimension, key), (0, 0.0, 0.0))
        if (a, b) in seen:
            continue  # the same deals as a finding already made: tested once
        seen.add((a, b))
        link_key = (key or INDUSTRY_UNKNOWN) if dimension == "industry" else key
        cells.append(
            ValueCell(
                dimension=dimension,
                key=key,
                label=_label(known, dimension, key),
                hits=a[0],
                amount=a[1],
                squares=a[2],
                days=_days(dashboard),
                compare_hits=b[0],
                compare_amount=b[1],
                compare_squares=b[2],
                compare_days=_days(other),
                links={"status": LOST, params[dimension]: link_key},
                context=settings.ORG_CURRENCY,
            )
        )
    return cells
