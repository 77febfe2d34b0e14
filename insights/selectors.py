"""The manager dashboard's figures: one selector per figure, shared by the page, the CSV and the API.

How deals are counted (docs/summary.md, "What it counts"):
- each deal counts once, by its current status, in the period of its latest close date (Deal.closed_at);
- reasons (and competitors) roll up to the survivor of a merge; retired reasons still count;
- reason shares are over lost deals with a standard reason; lost deals without one are "needs a reason";
  No Decision is never lost;
- sales velocity uses the deals open now (every filter but the period) with the period's figures;
- a ratio with nothing under it is None (shown as "—").

Every selector takes a `Dashboard` (the user, the filters, the exchange rates) and runs a fixed
number of queries whatever the number of deals, reasons or reps. Every row carries `links`: the
deal list filtered to the deals behind each number.

The code lives in insights.filters (the filters and helpers), insights.measures (the rows every
figure reads, from the summary or the deals) and insights.figures (one selector per figure); this
module is the public entry point and re-exports them.
"""

from insights.figures import (
    FIGURES,
    dashboard_figures,
    deals_behind,
    figure_by_competitor,
    figure_by_rep,
    figure_by_segment,
    figure_headline,
    figure_loss_by_category,
    figure_loss_by_reason,
    figure_losses_by_stage,
    figure_reason_trend,
    figure_recovery_by_reason,
    figure_recovery_by_sequence,
    figure_taxonomy_health,
)
from insights.filters import (
    LOST,
    MONEY,
    NEEDS_A_REASON,
    NO_DECISION,
    OPEN,
    TREND_TOP_REASONS,
    WON,
    DashboardFilters,
    day_bounds,
    days,
    exchange_rates,
    money,
    month_end,
    month_starts,
    ratio,
)
from insights.measures import (
    MEASURES,
    READS,
    SIGNED,
    Dashboard,
    Grouping,
    Plan,
    Read,
    Tally,
    period_plan,
)

__all__ = [
    "Dashboard",
    "DashboardFilters",
    "FIGURES",
    "Grouping",
    "LOST",
    "MEASURES",
    "MONEY",
    "NEEDS_A_REASON",
    "NO_DECISION",
    "OPEN",
    "Plan",
    "READS",
    "Read",
    "SIGNED",
    "TREND_TOP_REASONS",
    "Tally",
    "WON",
    "dashboard_figures",
    "day_bounds",
    "days",
    "deals_behind",
    "exchange_rates",
    "figure_by_competitor",
    "figure_by_rep",
    "figure_by_segment",
    "figure_headline",
    "figure_loss_by_category",
    "figure_loss_by_reason",
    "figure_losses_by_stage",
    "figure_reason_trend",
    "figure_recovery_by_reason",
    "figure_recovery_by_sequence",
    "figure_taxonomy_health",
    "money",
    "month_end",
    "month_starts",
    "period_plan",
    "ratio",
]
