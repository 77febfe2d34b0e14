"""One export row checked against what we know (users, teams, pipelines, stages, competitors)
without writing anything, and what its close means in our taxonomy."""

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from crm.importing.columns import (
    ID_PATTERN,
    LOST,
    NO_DECISION,
    OPEN,
    WON,
    RowError,
    outcome_of,
    parse_amount,
    parse_size,
    parse_when,
    said_outcome,
    word,
)
from deals.models import Pipeline, Stage
from reasons.models import Competitor, ReasonKind
from teams.models import Team, User


@dataclass
class Lookups:
    users: dict
    pipelines: dict
    stages: dict  # (pipeline id, lower name) -> Stage
    first_stage: dict  # pipeline id -> Stage
    accounts: dict  # name -> Account, filled as the import goes
    teams: dict  # user id -> Team
    team_names: dict  # lower name -> Team
    competitors: dict  # lower name or alias -> active Competitor
    stage_map: dict  # lower CRM stage value -> our stage name (the review page's choices)
    column_names: dict = field(default_factory=dict)  # our field -> the file's column (for warnings)

    def column(self, name: str) -> str:
        return f"“{self.column_names.get(name, name)}”"

    def stage(self, pipeline: Pipeline, value: str) -> Stage | None:
        key = word(value)
        return self.stages.get((pipeline.pk, word(self.stage_map.get(key, value))))


def lookups(stage_map: dict | None = None, column_map: dict | None = None) -> Lookups:
    users = {}
    for user in User.objects.all():
        for key in {user.username, user.email, user.get_full_name()}:
            if key:
                users.setdefault(key.casefold(), user)
    pipelines = {p.name.casefold(): p for p in Pipeline.objects.prefetch_related("stages")}
    stages, first_stage = {}, {}
    for pipeline in pipelines.values():
        ordered = sorted(pipeline.stages.all(), key=lambda s: s.order)
        if ordered:
            first_stage[pipeline.pk] = ordered[0]
        for stage in ordered:
            stages[(pipeline.pk, word(stage.name))] = stage
    team_rows = Team.objects.in_bulk()
    teams = {}
    for user_id, team_id in User.objects.filter(memberships__isnull=False).values_list(
        "pk", "memberships__team_id"
    ).order_by("pk", "memberships__id"):  # fmt: skip
        teams.setdefault(user_id, team_rows[team_id])
    competitors = {}
    for competitor in Competitor.objects.select_related("merged_into"):
        survivor = competitor.merged_into or competitor
        if survivor.active:
            for name in [competitor.name, *(competitor.aliases or [])]:
                if name:
                    competitors.setdefault(word(name), survivor)
    return Lookups(
        users=users,
        pipelines=pipelines,
        stages=stages,
        first_stage=first_stage,
        accounts={},
        teams=teams,
        team_names={word(t.name): t for t in team_rows.values()},
        competitors=competitors,
        stage_map={word(k): v for k, v in (stage_map or {}).items()},
        column_names=dict(column_map or {}),
    )


@dataclass
class Row:
    external_id: str
    name: str
    owner: User
    team: Team
    pipeline: Pipeline
    stage: Stage | None  # open: the current stage; closed: the stage at close
    closed_stage: Stage | None  # closed, or reopened: the stage of the (earlier) close
    outcome: str  # LOST, WON, NO_DECISION or OPEN as the CRM has it
    amount: Decimal
    currency: str
    created: datetime | None
    closed: datetime | None
    reopened: datetime | None  # an open row's reopen of its earlier close
    account_name: str
    industry: str
    employees: int | None
    expected_close: date | None
    reason_text: str
    won_reason_text: str
    competitor: Competitor | None
    # A closed row that says it was reopened before its final close: the reopen's date (history).
    reopened_earlier: datetime | None = None
    # Columns that disagree: what was imported anyway, [(field, problem, value)], shown as warnings.
    warnings: tuple = ()


def _pipeline(values: dict, look: Lookups) -> Pipeline:
    pipeline_name = values.get("pipeline", "").strip()
    if pipeline_name:
        pipeline = look.pipelines.get(pipeline_name.casefold())
        if pipeline is None:
            raise RowError("pipeline", "matches no pipeline", pipeline_name)
        return pipeline
    if len(look.pipelines) == 1:
        return next(iter(look.pipelines.values()))
    raise RowError("pipeline", "is needed: there is more than one pipeline")


def _stage(values: dict, look: Lookups, pipeline: Pipeline, outcome: str) -> Stage | None:
    """Open: the stage column must name a stage. Closed: the stage-at-close column if given (it must
    name a stage), else a stage column that names one (a status column carries the close)."""
    at_close = values.get("stage_at_close", "").strip()
    if outcome != OPEN and at_close:
        stage = look.stage(pipeline, at_close)
        if stage is None:
            raise RowError("stage_at_close", f"matches no stage of pipeline “{pipeline.name}”", at_close)
        return stage
    stage_name = values.get("stage", "").strip()
    stage = look.stage(pipeline, stage_name)
    if stage is None and outcome == OPEN:
        raise RowError("stage", f"matches no stage of pipeline “{pipeline.name}”", stage_name)
    return stage  # closed and not named: a new deal closes at the first stage, a known one where it is


def _owner_and_team(values: dict, look: Lookups) -> tuple[User, Team]:
    owner_key = values.get("owner", "").strip()
    owner = look.users.get(owner_key.casefold())
    if owner is None:
        raise RowError("owner", "matches no user (by user name, e-mail or full name)", owner_key)
    team_name = values.get("team", "").strip()
    if team_name:
        team = look.team_names.get(word(team_name))
        if team is None:
            raise RowError("team", "matches no team", team_name)
        return owner, team
    team = look.teams.get(owner.pk)
    if team is None:
        raise RowError("owner", "is in no team", owner_key)
    return owner, team


def parse_row(values: dict, look: Lookups) -> Row:
    """Check one row without touching the database; raises RowError naming the field."""
    external_id = values.get("external_id", "").strip()
    if not external_id:
        raise RowError("external_id", "is empty")
    if not ID_PATTERN.match(external_id):
        raise RowError("external_id", "may hold only letters, digits, - and _", external_id)
    name = values.get("name", "").strip()
    if not name:
        raise RowError("name", "is empty")
    owner, team = _owner_and_team(values, look)
    pipeline = _pipeline(values, look)
    outcome = outcome_of(values)
    warnings = []
    status_says, stage_says = said_outcome(values.get("status", "")), said_outcome(values.get("stage", ""))
    if status_says and stage_says and status_says != stage_says:  # the status column decides
        problem = f"says {stage_says.replace('_', ' ')} but the status says {status_says.replace('_', ' ')}"
        warnings.append(("stage", problem + ": imported as the status says", values["stage"]))
    try:
        stage = _stage(values, look, pipeline, outcome)
    except RowError as exc:
        if exc.field != "stage_at_close":
            raise
        stage = _stage({**values, "stage_at_close": ""}, look, pipeline, outcome)
        warnings.append((exc.field, exc.problem + ": imported closed without its stage at close", exc.value))
    closed_stage = stage if outcome != OPEN else None
    try:
        amount = parse_amount(values.get("amount", ""))
    except RowError as exc:  # the deal keeps everything else; its amount is left empty (0)
        amount = Decimal("0")
        warnings.append((exc.field, exc.problem + ": imported without an amount", exc.value))
    currency = (values.get("currency", "").strip() or "USD").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise RowError("currency", "is not a three-letter currency code", currency)
    created = parse_when(values.get("created", ""), "created")
    closed = parse_when(values.get("closed", ""), "closed")
    reopened = parse_when(values.get("reopened", ""), "reopened")
    if values.get("won_date", "").strip() or values.get("lost_date", "").strip():
        closed = _outcome_date(values, look, outcome, closed, reopened is not None, warnings)
    if outcome != OPEN and closed is None:
        raise RowError("closed", "is needed for a closed deal")
    if created is not None and closed is not None and outcome != OPEN and created > closed:
        # The close date is the outcome's date (the figures count it): the create date gives way.
        warnings.append(("created", "is after the close date: imported as created on the close date",
                         values["created"]))  # fmt: skip
        created = closed
    reopened_earlier = None
    if reopened is not None and outcome != OPEN:
        # Closed now: reopened before its final close (kept in its history), or the columns disagree
        # (a reopen after the close): the deal imports in the state its status and close date give.
        if reopened <= closed:
            reopened_earlier = reopened
        else:
            problem = "is after the close date of a closed deal: imported closed, as its status and close "
            warnings.append(("reopened", problem + "date say, without the reopen", values["reopened"]))
        reopened = None
    if reopened is not None and (closed is None or reopened < closed):
        raise RowError("reopened", "needs an open deal with an earlier close date", values["reopened"])
    expected = parse_when(values.get("expected_close", ""), "expected_close")
    if reopened is not None and values.get("stage_at_close", "").strip():
        closed_stage = _stage(values, look, pipeline, LOST)
    if expected is None and outcome == OPEN and reopened is None:
        expected = closed  # HubSpot's "Close Date" of an open deal is its expected close
    competitor_name = values.get("competitor", "").strip()
    competitor = look.competitors.get(word(competitor_name)) if competitor_name else None
    if competitor_name and competitor is None:
        raise RowError("competitor", "matches no competitor (add it, or an alias, first)", competitor_name)
    return Row(
        external_id=external_id,
        name=name,
        owner=owner,
        team=team,
        pipeline=pipeline,
        stage=stage,
        closed_stage=closed_stage,
        outcome=outcome,
        amount=amount,
        currency=currency,
        created=created,
        closed=closed,
        reopened=reopened,
        account_name=values.get("account", "").strip() or name,
        industry=values.get("industry", "").strip(),
        employees=parse_size(values.get("company_size", "")),
        expected_close=expected.date() if expected else None,
        reason_text=values.get("reason", "").strip(),
        won_reason_text=values.get("won_reason", "").strip(),
        competitor=competitor,
        reopened_earlier=reopened_earlier,
        warnings=tuple(warnings),
    )


SAID = {WON: "won", LOST: "lost", NO_DECISION: "no decision", OPEN: "open"}


def _outcome_date(values: dict, look: Lookups, outcome: str, closed, reopened: bool, warnings: list):
    """The close date of a row with separate won-date and lost-date columns: the outcome the
    stage (or status) column says decides, and the date that belongs to it (won: the won date;
    lost or no decision: the lost date), else the close date column, else the other outcome's date
    (the only close date the row gives). Every disagreement is a warning naming the columns."""
    dates = {}
    for name in ("won_date", "lost_date"):
        raw = values.get(name, "").strip()
        try:
            dates[name] = parse_when(raw, name)
        except RowError as exc:  # a date we cannot read: the row imports without it
            warnings.append((name, exc.problem + ": imported without it", raw))
            dates[name] = None
    said_by = look.column("status" if said_outcome(values.get("status", "")) else "stage")
    if outcome == OPEN:
        if reopened and closed is None:  # closed once, reopened since: that close's date
            return dates["lost_date"] or dates["won_date"]
        for name, when in dates.items():
            if when is not None and not reopened:
                problem = f"says the deal closed on {when.date()} but {said_by} says open: imported open"
                warnings.append((name, problem, values[name]))
        return closed
    own, other = ("won_date", "lost_date") if outcome == WON else ("lost_date", "won_date")
    said, own_date, other_date = SAID[outcome], dates[own], dates[other]
    chosen = own_date or closed or other_date
    if other_date is not None:
        problem = (
            f"{look.column(other)} says {SAID[WON if other == 'won_date' else LOST]} on {other_date.date()}"
        )
        problem += f" but {said_by} says {said}: imported {said} on {chosen.date()}"
        if own_date is None and closed is None:
            problem += ", the only close date the row gives"
        warnings.append((other, problem, values[other]))
    if own_date is not None and closed is not None and own_date.date() != closed.date():
        problem = f"is {closed.date()} but {look.column(own)} says {own_date.date()}: imported {said} on"
        warnings.append(("closed", f"{problem} {own_date.date()}", values["closed"]))
    return chosen


def earlier_outcome(row: Row) -> str:
    """What a reopened-and-closed-again row was before its reopen: the other outcome whose reason
    column it still carries (HubSpot keeps a won reason after the deal is lost), else its own."""
    if row.outcome != WON and row.won_reason_text:
        return WON
    if row.outcome == WON and row.reason_text:
        return LOST
    return row.outcome


@dataclass(frozen=True)
class Close:
    """What a row's close becomes here: the outcome, reason and competitor, or "needs a reason"."""

    outcome: str
    reason: object  # Reason or None
    competitor: Competitor | None
    needs_reason: bool = False
    unmapped: str = ""  # the CRM text to queue for classification

    @property
    def text_field(self) -> str:
        """The row's field its reason text came from (and the classification queue's outcome)."""
        return "won_reason" if self.outcome == WON else "reason"

    @property
    def unmapped_key(self) -> tuple[str, str] | None:
        """(the CRM field's outcome, "won" or "lost"; the text) to queue for classification."""
        return (WON if self.outcome == WON else LOST, self.unmapped) if self.unmapped else None


class Reasons:
    """Reason lookups of one import run, cached by (kinds, text)."""

    LOST_KINDS = (ReasonKind.LOSS, ReasonKind.NO_DECISION)

    def __init__(self, kind: str):
        from crm.changes import reason_for_crm_text

        self.kind, self.lookup, self.cache = kind, reason_for_crm_text, {}

    def get(self, text: str, kinds=LOST_KINDS):
        key = (kinds, text)
        if key not in self.cache:
            self.cache[key] = self.lookup(kind=self.kind, text=text, kinds=kinds) if text else (None, None)
        return self.cache[key]

    def close_of(self, row: Row, outcome: str | None = None) -> Close:
        """The close a closed row asks for. A loss reason that needs a competitor the row does not
        name, or a win reason that does not map, leaves the deal "needs a reason" (with the CRM's
        text), as a webhook would."""
        outcome = outcome or row.outcome
        if outcome == WON:
            # The CRM decides the outcome: a win whose reason does not map (or is missing where the
            # pipeline asks for one) is won here too, waiting for its reason, as from a webhook.
            reason, competitor = self.get(row.won_reason_text, (ReasonKind.WIN,))
            competitor = row.competitor or competitor
            if reason is not None or not (row.won_reason_text or row.pipeline.win_reason_required):
                return Close(WON, reason, competitor)
            return Close(WON, None, competitor, needs_reason=True, unmapped=row.won_reason_text)
        reason, competitor = self.get(row.reason_text)
        competitor = row.competitor or competitor
        if reason is not None and reason.kind == ReasonKind.NO_DECISION:
            return Close(NO_DECISION, reason, competitor)
        if reason is not None and not (reason.requires_competitor and competitor is None):
            return Close(LOST, reason, competitor)
        unmapped = row.reason_text if reason is None else ""
        return Close(LOST, None, competitor, needs_reason=True, unmapped=unmapped)
