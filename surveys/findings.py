"""Rep-vs-buyer disagreement as findings (insights.findings asks its CELL_SOURCES; this module is
one, registered in SurveysConfig.ready, so insights imports nothing of surveys).

The unit is a surveyed closure: a standing close of a deal in the dashboard's scope, filters and
period with at least one answered survey, where the rep gave a reason. It counts as a
disagreement when any buyer's main reason falls in another category than the rep's reason (a
buyer's "something else" is another category), as on the feedback page's agreement figures, but
counted once per closure: the answers of one close are not independent of each other.

Candidates, each a proportion tested like the others (Fisher / chi-square, then the request's BH):
- the share disagreeing in the period against the comparison, over the whole scope;
- the same per rep;
- each rep against the rest of their team within the period.
"""

from __future__ import annotations

from insights.findings_stats import Cell
from insights.findings_value import names
from surveys.selectors import answers_by_closure

LINK = {"buyer_category": "any"}  # the deal list's deals with an answered survey


def _closures(dashboard) -> dict:
    """{closure: (team, rep, disagrees)} for the dashboard's deals closed in its period."""
    out: dict = {}
    for row in answers_by_closure(deals=dashboard.closed()):
        if row["rep_category"] is None:  # no reason from the rep: nothing to disagree with
            continue
        differs = row["buyer_category"] != row["rep_category"]
        team, rep, before = out.get(row["closure_id"], (row["deal__team_id"], row["deal__owner_id"], False))
        out[row["closure_id"]] = (team, rep, before or differs)
    return out


def _counts(closures: dict, key) -> dict:
    """{key: [disagreeing, surveyed]}."""
    out: dict = {}
    for team, rep, differs in closures.values():
        entry = out.setdefault(key(team, rep), [0, 0])
        entry[0] += differs
        entry[1] += 1
    return out


def disagreement_cells(dashboard, other) -> list[Cell]:
    now, before = _closures(dashboard), _closures(other)
    if not now and not before:
        return []
    whole_now = _counts(now, lambda team, rep: "all").get("all", [0, 0])
    whole_before = _counts(before, lambda team, rep: "all").get("all", [0, 0])
    cells = [
        Cell(
            dimension="all",
            key="all",
            label="all surveyed closures",
            measure="buyer_disagreement",
            hits=whole_now[0],
            total=whole_now[1],
            compare_hits=whole_before[0],
            compare_total=whole_before[1],
            links=LINK,
        )
    ]
    if dashboard.filters.owner:
        return cells
    reps_now = _counts(now, lambda team, rep: rep)
    reps_before = _counts(before, lambda team, rep: rep)
    by_team_rep = _counts(now, lambda team, rep: (team, rep))
    known = names(dashboard, other)
    people, teams = known["rep"], known["team"]
    for rep in reps_now.keys() | reps_before.keys():
        a, b = reps_now.get(rep, [0, 0]), reps_before.get(rep, [0, 0])
        cells.append(
            Cell(
                dimension="rep",
                key=rep,
                label=people[rep],
                measure="buyer_disagreement",
                hits=a[0],
                total=a[1],
                compare_hits=b[0],
                compare_total=b[1],
                links={"owner": rep, **LINK},
            )
        )
    for (team, rep), own in by_team_rep.items():
        rest = [counts for (t, r), counts in by_team_rep.items() if t == team and r != rep]
        cells.append(
            Cell(
                dimension="rep",
                key=rep,
                label=people[rep],
                measure="buyer_disagreement_vs_team",
                hits=own[0],
                total=own[1],
                compare_hits=sum(c[0] for c in rest),
                compare_total=sum(c[1] for c in rest),
                links={"owner": rep, "team": team, **LINK},
                context=teams[team],
            )
        )
    return cells
