"""The dashboard's filters, read from the URL so that a view can be shared."""

from datetime import date, timedelta

from django import forms
from django.db.models import Q
from django.utils import timezone

from deals.models import Account, Pipeline
from deals.selectors import INDUSTRY_UNKNOWN, SIZE_BANDS
from insights.comparison import COMPARE_MODES, DEFAULT_COMPARE, Comparison, comparison_dates
from insights.selectors import DashboardFilters
from reasons.models import Competitor
from teams.models import Membership, Team, User

PERIODS = [
    ("last-30-days", "Last 30 days"),
    ("last-90-days", "Last 90 days"),
    ("this-quarter", "This quarter"),
    ("last-quarter", "Last quarter"),
    ("this-year", "This year"),
    ("last-12-months", "Last 12 months"),
    ("custom", "Custom dates"),
]
DEFAULT_PERIOD = "last-12-months"
MAX_DAYS = 366 * 10
EARLIEST, LATEST = date(1990, 1, 1), date(2999, 12, 1)


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def period_dates(period: str, today: date) -> tuple[date, date]:
    """The first and last day (inclusive) of a preset period."""
    if period == "last-30-days":
        return today - timedelta(days=29), today
    if period == "last-90-days":
        return today - timedelta(days=89), today
    if period == "this-quarter":
        return _quarter_start(today), today
    if period == "last-quarter":
        end = _quarter_start(today) - timedelta(days=1)
        return _quarter_start(end), end
    if period == "this-year":
        return date(today.year, 1, 1), today
    # last 12 months: this month and the eleven before it, whole months.
    month = today.replace(day=1)
    for _ in range(11):
        month = (month - timedelta(days=1)).replace(day=1)
    return month, today


def owners_visible_to(user: User):
    """The people whose deals `user` may see: themselves and the members of teams they manage."""
    if user.is_revops_admin:
        people = User.objects.filter(memberships__isnull=False)
    else:
        managed = Membership.objects.filter(user=user, role=Membership.Role.MANAGER).values("team_id")
        people = User.objects.filter(Q(pk=user.pk) | Q(memberships__team__in=managed))
    return people.distinct().order_by("first_name", "username")


def teams_visible_to(user: User):
    if user.is_revops_admin:
        return Team.objects.all()
    if user.role == User.Role.MANAGER:
        return Team.objects.filter(memberships__user=user, memberships__role=Membership.Role.MANAGER)
    return Team.objects.filter(memberships__user=user)


class DashboardFilterForm(forms.Form):
    period = forms.ChoiceField(required=False, choices=PERIODS, initial=DEFAULT_PERIOD)
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    pipeline = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    team = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    owner = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Rep")
    industry = forms.ChoiceField(required=False)
    size = forms.ChoiceField(
        required=False,
        label="Account size",
        choices=[("", "Any size")] + [(key, label) for key, (label, _a, _b) in SIZE_BANDS.items()],
    )
    competitor = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    compare = forms.ChoiceField(required=False, choices=COMPARE_MODES, label="Compare with")
    compare_from = forms.DateField(
        required=False, label="Compare from", widget=forms.DateInput(attrs={"type": "date"})
    )
    compare_to = forms.DateField(
        required=False, label="Compare to", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, data, *, user: User, today: date | None = None):
        # The URL uses short names: ?period=custom&from=2026-01-01&to=2026-03-31.
        data = data.copy() if data is not None else {}
        for short, name in (("from", "date_from"), ("to", "date_to")):
            if short in data and name not in data:
                data[name] = data[short]
        super().__init__(data)
        self.today = today or timezone.localdate()
        self.fields["pipeline"].choices = [("", "Any pipeline")] + [
            (p.pk, p.name) for p in Pipeline.objects.all()
        ]
        self.fields["team"].choices = [("", "Any team")] + [(t.pk, t.name) for t in teams_visible_to(user)]
        self.fields["owner"].choices = [("", "Any rep")] + [
            (u.pk, u.display_name) for u in owners_visible_to(user)
        ]
        industries = (
            Account.objects.exclude(industry="")
            .order_by("industry")
            .values_list("industry", flat=True)
            .distinct()
        )
        self.fields["industry"].choices = (
            [("", "Any industry")]
            + [(i, i) for i in sorted(industries)]
            + [(INDUSTRY_UNKNOWN, "Industry unknown")]
        )
        self.fields["competitor"].choices = [("", "Any competitor")] + [
            (c.pk, c.name) for c in Competitor.objects.filter(merged_into__isnull=True)
        ]
        if user.role == User.Role.REP and not user.is_revops_admin:
            # A rep's version covers their own deals: no team or rep to choose.
            del self.fields["team"], self.fields["owner"]

    def clean(self):
        cleaned = super().clean()
        period = cleaned.get("period") or ""
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if not period:
            period = "custom" if (start or end) else DEFAULT_PERIOD
        out_of_range = False
        for name, day in (("date_from", start), ("date_to", end)):
            if day and not (EARLIEST <= day <= LATEST):
                self.add_error(name, f"Choose a date between {EARLIEST:%Y} and {LATEST:%Y}.")
                out_of_range = True
        if period == "custom" and not out_of_range:
            if not start:
                self.add_error("date_from", "Choose the first day of the period.")
            if not end:
                self.add_error("date_to", "Choose the last day of the period.")
            if start and end and start > end:
                self.add_error("date_to", "“To” must be on or after “From”.")
            if start and end and (end - start).days > MAX_DAYS:
                self.add_error("date_to", "Choose a period of at most ten years.")
        cleaned["period"] = period
        self._clean_comparison(cleaned)
        return cleaned

    def _clean_comparison(self, cleaned: dict) -> None:
        start, end = cleaned.get("compare_from"), cleaned.get("compare_to")
        mode = cleaned.get("compare") or ("custom" if (start or end) else DEFAULT_COMPARE)
        for name, day in (("compare_from", start), ("compare_to", end)):
            if day and not (EARLIEST <= day <= LATEST):
                self.add_error(name, f"Choose a date between {EARLIEST:%Y} and {LATEST:%Y}.")
                return
        if mode == "custom":
            if not start:
                self.add_error("compare_from", "Choose the first day of the comparison period.")
            if not end:
                self.add_error("compare_to", "Choose the last day of the comparison period.")
            if start and end and start > end:
                self.add_error("compare_to", "“Compare to” must be on or after “Compare from”.")
            if start and end and (end - start).days > MAX_DAYS:
                self.add_error("compare_to", "Choose a comparison period of at most ten years.")
        cleaned["compare"] = mode

    def comparison(self) -> Comparison:
        """The comparison period (after dashboard_filters): previous by default; a custom one with
        an error falls back to the previous period (and the error is shown)."""
        start, end = self.period_shown[1], self.period_shown[2]
        data = getattr(self, "cleaned_data", {})
        mode = data.get("compare") or DEFAULT_COMPARE
        if "compare" in self.errors or (
            mode == "custom" and {"compare_from", "compare_to"} & set(self.errors)
        ):
            mode = DEFAULT_COMPARE
        if mode == "custom":
            return Comparison(mode, data["compare_from"], data["compare_to"])
        return Comparison(mode, *comparison_dates(mode, start, end))

    def dashboard_filters(self) -> DashboardFilters:
        """The valid filters; an invalid field is ignored (and shown with its error)."""
        self.is_valid()
        data = self.cleaned_data
        period = data.get("period") or DEFAULT_PERIOD
        dates_ok = not ({"date_from", "date_to", "period"} & set(self.errors))
        if period == "custom" and dates_ok:
            start, end = data["date_from"], data["date_to"]
        else:
            start, end = period_dates(DEFAULT_PERIOD if period == "custom" else period, self.today)
        self.period_shown = (period if dates_ok else DEFAULT_PERIOD, start, end)
        ok = self.cleaned_data

        def valid(name):
            return ok.get(name) if name not in self.errors else None

        return DashboardFilters(
            date_from=start,
            date_to=end,
            pipeline=valid("pipeline"),
            team=valid("team"),
            owner=valid("owner"),
            industry=valid("industry") or "",
            size=valid("size") or "",
            competitor=valid("competitor"),
        )
