"""The manager dashboard page and its CSV exports; the figures come from insights.selectors."""

from urllib.parse import urlencode

from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from closedlost.csvsafe import SafeWriter
from insights.comparison import COMPARE_MODES, Comparison, compare_figures, figures_both, figures_compared
from insights.exports import DEAL_COLUMNS, cell, deal_rows, figure_table, jsonable
from insights.findings import FIELDS, dashboard_findings
from insights.forms import PERIODS, DashboardFilterForm, teams_visible_to
from insights.selectors import FIGURES, Dashboard


def _dashboard(request) -> tuple[DashboardFilterForm, Dashboard, Comparison]:
    form = DashboardFilterForm(request.GET, user=request.user)
    filters = form.dashboard_filters()
    return form, Dashboard(user=request.user, filters=filters), form.comparison()


def dashboard_query(dashboard: Dashboard, comparison: Comparison) -> str:
    """The dashboard's filters and comparison as URL parameters (CSV, API and findings links)."""
    return urlencode({**dashboard.filters.as_query(), **comparison.as_query()})


FINDINGS_ON_DASHBOARD = 5


def _chart_data(figures: dict) -> dict:
    """What the charts draw (the tables on the page show the same numbers)."""
    reasons = figures["loss-by-reason"]["rows"]
    categories = figures["loss-by-category"]["rows"]
    stages = figures["losses-by-stage"]["rows"]
    competitors = figures["by-competitor"]["rows"]
    return jsonable(
        {
            "reasons": {
                "labels": [r["reason"] for r in reasons],
                "count_share": [r["share"] for r in reasons],
                "value_share": [r["value_share"] for r in reasons],
                "links": [r["links"]["lost"] for r in reasons],
            },
            "categories": {
                "labels": [r["category"] for r in categories],
                "count_share": [r["share"] for r in categories],
                "value_share": [r["value_share"] for r in categories],
                "links": [r["links"]["lost"] for r in categories],
            },
            "trend": _trend_chart(figures["reason-trend"]),
            "stages": {
                "labels": [f"{r['stage']}" for r in stages],
                "data": [r["lost"] for r in stages],
                "links": [r["links"]["lost"] for r in stages],
            },
            "competitors": {
                "labels": [r["competitor"] for r in competitors],
                "won": [r["won"] for r in competitors],
                "lost": [r["lost"] for r in competitors],
                "won_links": [r["links"]["won"] for r in competitors],
                "lost_links": [r["links"]["lost"] for r in competitors],
            },
        }
    )


def _scope_label(user) -> str:
    if user.is_revops_admin:
        return "All teams"
    teams = [team.name for team in teams_visible_to(user)] if user.role == user.Role.MANAGER else []
    return f"Team {', '.join(teams)}" if teams else "Your deals"


@require_safe
def dashboard_view(request):
    form, dashboard, comparison = _dashboard(request)
    figures, others, other = figures_both(dashboard, comparison)
    findings = dashboard_findings(dashboard, comparison, read=(figures, others, other))
    compare_figures(figures, others)
    query = dashboard_query(dashboard, comparison)
    period, start, end = form.period_shown
    by_name = {name.replace("-", "_"): figure for name, figure in figures.items()}
    return render(
        request,
        "insights/dashboard.html",
        {
            "form": form,
            "filters": dashboard.filters,
            "period_label": dict(PERIODS).get(period, ""),
            "scope_label": _scope_label(request.user),
            "period_start": start,
            "period_end": end,
            "comparison": comparison,
            "comparison_label": dict(COMPARE_MODES)[comparison.mode],
            "f": by_name,
            "recovery_panels": [
                {
                    "key": "reason",
                    "title": "By the reason first lost for",
                    "column": "First lost for",
                    "figure": figures["recovery-by-reason"],
                },
                {
                    "key": "sequence",
                    "title": "By nurture sequence",
                    "column": "Nurture sequence",
                    "figure": figures["recovery-by-sequence"],
                },
            ],
            "charts": _chart_data(figures),
            "export_urls": {
                name.replace("-", "_"): f"{reverse('insights:export', args=[name])}?{query}"
                for name in [*FIGURES, "deals"]
            },
            "api_url": f"{reverse('api-figures')}?{query}",
            "findings": findings,
            "win_rate_includes_disqualified": dashboard.includes_disqualified,
            "findings_top": findings["findings"][:FINDINGS_ON_DASHBOARD],
            "findings_url": f"{reverse('insights:findings')}?{query}",
        },
    )


def _trend_chart(trend: dict) -> dict:
    """The top reasons' lines plus one for all the others (the table and CSV list them all)."""
    series = [
        {
            "label": s["reason"],
            "data": [p["lost"] for p in s["points"]],
            "links": [p["link"] for p in s["points"]],
        }
        for s in trend["series"][: trend["top"]]
    ]
    if trend["others"]["reasons"]:
        others = trend["others"]
        series.append(
            {
                "label": f"All other reasons ({others['reasons']})",
                "data": [p["lost"] for p in others["points"]],
                "links": [None for _ in others["points"]],
            }
        )
    return {"labels": trend["months"], "series": series}


class _Echo:
    def write(self, value):
        return value


def _csv_response(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    writer = SafeWriter(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_safe
def export_view(request, name: str):
    """One panel's figures, or the deals behind the dashboard, as CSV."""
    if name != "deals" and name not in FIGURES:
        raise Http404("No such figure.")
    _form, dashboard, comparison = _dashboard(request)
    stamp = f"{dashboard.filters.date_from:%Y%m%d}-{dashboard.filters.date_to:%Y%m%d}"
    if name == "deals":
        return _csv_response(f"closedlost-deals-{stamp}.csv", DEAL_COLUMNS, deal_rows(dashboard))
    header, rows = figure_table(name, figures_compared(dashboard, comparison, [name])[name])
    return _csv_response(f"closedlost-{name}-{stamp}.csv", header, rows)


@require_safe
def findings_view(request):
    """What changed: every significant change against the comparison period, with its numbers."""
    form, dashboard, comparison = _dashboard(request)
    query = dashboard_query(dashboard, comparison)
    period, start, end = form.period_shown
    return render(
        request,
        "insights/findings.html",
        {
            "form": form,
            "period_label": dict(PERIODS).get(period, ""),
            "scope_label": _scope_label(request.user),
            "period_start": start,
            "period_end": end,
            "comparison": comparison,
            "comparison_label": dict(COMPARE_MODES)[comparison.mode],
            "findings": dashboard_findings(dashboard, comparison),
            "csv_url": f"{reverse('insights:findings-export')}?{query}",
            "api_url": f"{reverse('api-findings')}?{query}",
            "dashboard_url": f"{reverse('insights:dashboard')}?{query}",
        },
    )


@require_safe
def findings_export_view(request):
    _form, dashboard, comparison = _dashboard(request)
    stamp = f"{dashboard.filters.date_from:%Y%m%d}-{dashboard.filters.date_to:%Y%m%d}"
    found = dashboard_findings(dashboard, comparison)["findings"]
    rows = ([finding[name] for name in FIELDS] for finding in found)
    return _csv_response(f"closedlost-findings-{stamp}.csv", FIELDS, rows)
