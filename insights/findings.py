"""What changed: the findings of one dashboard (user, filters) against its comparison period.

The candidates come from the same selectors and summary as the figures (a `Dashboard` over the
period and one over the comparison, plus one per team and per pipeline for the by-team and
by-pipeline rates); the statistics are insights.findings_stats (pure, SciPy/statsmodels). Every
finding carries the deal list of both periods. Settings: FINDINGS_FDR, FINDINGS_MIN_COUNT.
"""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings

from deals.selectors import SIZE_BANDS
from insights.comparison import Comparison, figures_both
from insights.filters import LOST, NO_DECISION
from insights.findings_stats import Cell, Result, evaluate, sentence
from insights.findings_value import lost_value_cells, names
from insights.measures import Dashboard

# Candidates built by apps that build on insights (surveys adds the rep-vs-buyer disagreement in
# its AppConfig.ready): each is called with (dashboard, comparison dashboard) and returns cells, so
# insights imports nothing of them.
CELL_SOURCES: list = []

NEEDED = (
    "headline",
    "loss-by-reason",
    "loss-by-category",
    "losses-by-stage",
    "by-competitor",
    "by-rep",
    "by-segment",
)
FIELDS = [
    "dimension",
    "key",
    "label",
    "measure",
    "value",
    "compare_value",
    "change",
    "count",
    "compare_count",
    "total",
    "compare_total",
    "test",
    "p_value",
    "q_value",
    "effect",
    "direction",
    "text",
    "deals_url",
    "compare_deals_url",
]


def _share_cells(dimension, now, before, key, label, total_now, total_before, link) -> list[Cell]:
    """Share of losses by `dimension`: each row's lost deals of the period's total."""
    rows_now = {row[key]: row for row in now}
    rows_before = {row[key]: row for row in before}
    cells = []
    for pk in rows_now.keys() | rows_before.keys():
        row = rows_now.get(pk) or rows_before[pk]
        cells.append(
            Cell(
                dimension=dimension,
                key=pk,
                label=row[label],
                measure="loss_share",
                hits=rows_now.get(pk, {}).get("lost", 0),
                total=total_now,
                compare_hits=rows_before.get(pk, {}).get("lost", 0),
                compare_total=total_before,
                links={"status": LOST, **link(pk)},
            )
        )
    return cells


def _rate_cells(dimension, now: dict, before: dict, labels: dict, link, measures) -> list[Cell]:
    """Win rate (won of won + lost) and no-decision rate (of all closed) by `dimension`; `now`
    and `before` map a key to {won, lost, no_decision}."""
    cells = []
    for pk in now.keys() | before.keys():
        a, b = now.get(pk, {}), before.get(pk, {})

        def get(row, name):
            return row.get(name, 0) or 0

        if "win_rate" in measures:
            cells.append(
                Cell(
                    dimension=dimension,
                    key=pk,
                    label=labels[pk],
                    measure="win_rate",
                    hits=get(a, "won"),
                    total=get(a, "won") + get(a, "lost"),
                    compare_hits=get(b, "won"),
                    compare_total=get(b, "won") + get(b, "lost"),
                    links=link(pk),
                )
            )
        if "no_decision_rate" in measures:
            closed_a = get(a, "won") + get(a, "lost") + get(a, "no_decision")
            closed_b = get(b, "won") + get(b, "lost") + get(b, "no_decision")
            cells.append(
                Cell(
                    dimension=dimension,
                    key=pk,
                    label=labels[pk],
                    measure="no_decision_rate",
                    hits=get(a, "no_decision"),
                    total=closed_a,
                    compare_hits=get(b, "no_decision"),
                    compare_total=closed_b,
                    links={"status": NO_DECISION, **link(pk)},
                )
            )
    return cells


def _status_counts(rows: list[dict], key) -> dict:
    """{key: {won, lost, no_decision}} from rows of the "groups" read."""
    out: dict = {}
    for row in rows:
        entry = out.setdefault(key(row), {"won": 0, "lost": 0, "no_decision": 0})
        if row["status"] in entry:
            entry[row["status"]] += row["deals"]
    return out


def candidate_cells(dashboard: Dashboard, comparison: Comparison, read=None) -> tuple[list[Cell], Dashboard]:
    """Every change worth testing for the dashboard's filters against the comparison; `read`: the
    figures already read by insights.comparison.figures_both (the dashboard page)."""
    now, before, other = read or figures_both(dashboard, comparison, NEEDED)
    cells: list[Cell] = []
    pairs = [
        ("reason", "loss-by-reason", "reason_id", "reason", "total", lambda pk: {"reason": pk}),
        ("category", "loss-by-category", "category_id", "category", "total", lambda pk: {"category": pk}),
        ("stage", "losses-by-stage", "stage_id", "stage", "total", lambda pk: {"stage": pk}),
    ]
    for dimension, name, key, label, total, link in pairs:
        cells += _share_cells(
            dimension, now[name]["rows"], before[name]["rows"], key, label,
            now[name][total], before[name][total], link,
        )  # fmt: skip
    competitor = lambda pk: {"competitor": pk}  # noqa: E731
    cells += _share_cells(
        "competitor", now["by-competitor"]["rows"], before["by-competitor"]["rows"], "competitor_id",
        "competitor", now["headline"]["lost"], before["headline"]["lost"], competitor,
    )  # fmt: skip
    names = {
        r["competitor_id"]: r["competitor"]
        for r in now["by-competitor"]["rows"] + before["by-competitor"]["rows"]
    }
    for cell in _rate_cells(
        "competitor",
        {r["competitor_id"]: r for r in now["by-competitor"]["rows"]},
        {r["competitor_id"]: r for r in before["by-competitor"]["rows"]},
        names,
        competitor,
        ("win_rate",),
    ):
        cells.append(replace(cell, measure="competitive_win_rate"))
    reps = {r["owner_id"]: r["rep"] for r in now["by-rep"]["rows"] + before["by-rep"]["rows"]}
    cells += _rate_cells(
        "rep",
        {r["owner_id"]: r for r in now["by-rep"]["rows"]},
        {r["owner_id"]: r for r in before["by-rep"]["rows"]},
        reps,
        lambda pk: {"owner": pk},
        ("win_rate", "no_decision_rate"),
    )
    for dimension in ("industry", "size"):
        rows_now = {r["segment_key"]: r for r in now["by-segment"][dimension]}
        rows_before = {r["segment_key"]: r for r in before["by-segment"][dimension]}
        labels = {r["segment_key"]: r["segment"] for r in [*rows_now.values(), *rows_before.values()]}
        link = (lambda d: lambda pk: {d: pk or "none"})(dimension)
        cells += _rate_cells(dimension, rows_now, rows_before, labels, link, ("win_rate", "no_decision_rate"))
    cells += _group_cells(dashboard, other)
    cells += lost_value_cells(dashboard, other)
    for source in CELL_SOURCES:
        cells += source(dashboard, other)
    return cells, other


def _group_cells(dashboard: Dashboard, other: Dashboard) -> list[Cell]:
    """By team and by pipeline (rates), and each rep against the rest of their team (the period):
    one read per period ("groups"), whatever the number of teams, pipelines or reps."""
    filters = dashboard.filters
    now, before = dashboard.measures("groups"), other.measures("groups")
    teams = _status_counts(now[0], lambda r: r["team_id"]), _status_counts(before[0], lambda r: r["team_id"])
    pipes = (
        _status_counts(now[1], lambda r: r["pipeline_id"]),
        _status_counts(before[1], lambda r: r["pipeline_id"]),
    )
    by_rep = _status_counts(now[2], lambda r: (r["team_id"], r["owner_id"]))
    known = names(dashboard, other)
    team_names, pipeline_names, people = known["team"], known["pipeline"], known["rep"]
    cells: list[Cell] = []
    rates = ("win_rate", "no_decision_rate")
    if not filters.team:
        cells += _rate_cells("team", *teams, team_names, lambda pk: {"team": pk}, rates)
    if not filters.pipeline:
        cells += _rate_cells("pipeline", *pipes, pipeline_names, lambda pk: {"pipeline": pk}, rates)
    if filters.owner:
        return cells
    for (team, owner), own in by_rep.items():
        rest = [counts for (t, o), counts in by_rep.items() if t == team and o != owner]
        rest_won, rest_lost = sum(c["won"] for c in rest), sum(c["lost"] for c in rest)
        cells.append(
            Cell(
                dimension="rep",
                key=owner,
                label=people[owner],
                measure="win_rate_vs_team",
                hits=own["won"],
                total=own["won"] + own["lost"],
                compare_hits=rest_won,
                compare_total=rest_won + rest_lost,
                links={"owner": owner, "team": team},
                context=team_names[team],
            )
        )
    return cells


def _scope_words(dashboard: Dashboard) -> str:
    filters = dashboard.filters
    if filters.size:
        return SIZE_BANDS[filters.size][0]
    if filters.industry:
        return filters.industry
    return ""


def _as_finding(result: Result, dashboard: Dashboard, other: Dashboard) -> dict:
    cell = result.cell
    links = dict(cell.links)
    if cell.measure.endswith("_vs_team"):  # against the rest of the team, within the period
        deals_url = dashboard.link(**links)
        compare_url = dashboard.link(**{name: value for name, value in links.items() if name != "owner"})
    else:
        deals_url, compare_url = dashboard.link(**links), other.link(**links)
    return {
        "dimension": cell.dimension,
        "key": cell.key,
        "label": cell.label,
        "measure": cell.measure,
        "value": cell.value,
        "compare_value": cell.compare_value,
        "change": result.change,
        "count": cell.hits,
        "compare_count": cell.compare_hits,
        "total": cell.total,
        "compare_total": cell.compare_total,
        "test": result.test,
        "p_value": result.p_value,
        "q_value": result.q_value,
        "effect": result.effect,
        "direction": result.direction,
        "text": sentence(result, scope=_scope_words(dashboard)),
        "deals_url": deals_url,
        "compare_deals_url": compare_url,
    }


def dashboard_findings(dashboard: Dashboard, comparison: Comparison, read=None) -> dict:
    """The significant changes, largest effect first, with how many were tested and the settings."""
    cells, other = candidate_cells(dashboard, comparison, read)
    alpha, min_count = settings.FINDINGS_FDR, settings.FINDINGS_MIN_COUNT
    results = evaluate(cells, alpha=alpha, min_count=min_count)
    found = [_as_finding(result, dashboard, other) for result in results if result.significant]
    return {
        "findings": found,
        "tested": len(results),
        "skipped": len(cells) - len(results),
        "fdr": alpha,
        "min_count": min_count,
    }
