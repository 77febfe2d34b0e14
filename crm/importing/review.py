"""What the admin confirms before an import starts, read from the file with the chosen columns:
stage values that name none of our stages (to map), and rows that look like deals we already
have (same name and account, not linked to this CRM) to link instead of creating duplicates.

The file is scanned once, when the columns are saved (`import_review_scan`); the result is kept
on the job and the review page's GET and POST read it back (`import_review`). The scan reads
the CSV once and asks the database at most twice: which unlinked deals carry one of the file's
names, and (only for rows whose name and account match one) which of their ids are linked.
"""

from collections import Counter
from dataclasses import dataclass, field

from django.db import connection

from crm.importing.columns import OPEN, OUTCOME_WORDS, outcome_of, word
from crm.importing.reading import records, stored_pieces
from crm.models import EXTERNAL_ID_FIELD, ImportJob
from deals.models import Deal, Stage

MAX_STAGE_VALUES = 50
MAX_MATCHES = 200


@dataclass
class Match:
    line: int
    external_id: str
    deal_id: int
    deal_name: str
    account_name: str


@dataclass
class Review:
    stage_values: list[tuple[str, int]] = field(default_factory=list)  # (CRM value, rows)
    stage_names: list[str] = field(default_factory=list)  # our stages, to choose from
    matches: list[Match] = field(default_factory=list)
    match_total: int = 0

    @property
    def empty(self) -> bool:
        return not self.stage_values and not self.match_total


def _stage_value(values: dict) -> str:
    outcome = outcome_of(values)
    if outcome == OPEN:
        return values.get("stage", "").strip()
    return values.get("stage_at_close", "").strip()  # a closed row's stage column says only "closed"


def _columns(job: ImportJob, column_map: dict[str, str]):
    rows = records(stored_pieces(job.pk))
    _n, header = next(rows, (1, []))
    index = {c: i for i, c in enumerate(header if isinstance(header, list) else [])}
    return rows, {f: index[c] for f, c in column_map.items() if c in index}


def import_review_scan(*, job: ImportJob, column_map: dict[str, str]) -> Review:
    """Scan the stored file once (streamed) and keep the result on the job for the review page."""
    known = {word(name) for name in Stage.objects.values_list("name", flat=True)}
    known |= set().union(*OUTCOME_WORDS.values())
    unknown: Counter = Counter()
    names: set[str] = set()
    rows, columns = _columns(job, column_map)
    wanted = {f: columns[f] for f in ("stage", "status", "stage_at_close", "name") if f in columns}
    for _line, cells in rows:
        if not isinstance(cells, list):
            continue
        width = len(cells)
        values = {f: cells[i] if i < width else "" for f, i in wanted.items()}
        value = _stage_value(values)
        if value and word(value) not in known:
            unknown[value] += 1
        if name := values.get("name", "").strip():
            names.add(name)
    review = Review(stage_values=unknown.most_common(MAX_STAGE_VALUES))
    _matches(review, job, column_map, names)
    ImportJob.objects.filter(pk=job.pk).update(column_map=column_map, review=_kept(review, column_map))
    review.stage_names = _stage_names()
    return review


def import_review(*, job: ImportJob, column_map: dict[str, str]) -> Review:
    """The review kept by the scan for these columns (scanning now if there is none)."""
    kept = job.review or {}
    if kept.get("column_map") != column_map:
        return import_review_scan(job=job, column_map=column_map)
    return Review(
        stage_values=[tuple(pair) for pair in kept["stage_values"]],
        stage_names=_stage_names(),
        matches=[Match(*match) for match in kept["matches"]],
        match_total=kept["match_total"],
    )


def _stage_names() -> list[str]:
    return sorted(set(Stage.objects.values_list("name", flat=True)))


def _kept(review: Review, column_map: dict) -> dict:
    return {
        "column_map": column_map,
        "stage_values": [list(pair) for pair in review.stage_values],
        "matches": [[m.line, m.external_id, m.deal_id, m.deal_name, m.account_name] for m in review.matches],
        "match_total": review.match_total,
    }


def _unlinked(id_field: str, names: set[str]) -> dict:
    """(name, account) in word form → pks of deals not linked to this CRM that carry a file's name."""
    column = Deal._meta.get_field(id_field).column
    unlinked: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT d.id, d.name, a.name FROM deals_deal d JOIN deals_account a ON a.id = d.account_id"  # noqa: S608
            f" WHERE d.{column} IS NULL AND d.name = ANY(%s) ORDER BY d.id",
            [list(names)],
        )
        for pk, name, account in cursor.fetchall():
            unlinked.setdefault((word(name), word(account)), []).append(pk)
    return unlinked


def _matches(review: Review, job: ImportJob, column_map: dict, names: set[str]) -> None:
    """Rows whose id is new here but whose name and account match one unlinked deal (in file order;
    a deal goes to the first such row). Nothing to read again when no unlinked deal has the name."""
    id_field = EXTERNAL_ID_FIELD[job.kind]
    unlinked = _unlinked(id_field, names) if names else {}
    if not unlinked:
        return
    candidates = []
    rows, columns = _columns(job, column_map)
    for line, cells in rows:
        if not isinstance(cells, list):
            continue
        values = {f: cells[i] if i < len(cells) else "" for f, i in columns.items()}
        name, external_id = values.get("name", "").strip(), values.get("external_id", "").strip()
        key = (word(name), word(values.get("account", "").strip() or name))
        if name and external_id and len(unlinked.get(key, ())) == 1:
            candidates.append((line, external_id, name, values.get("account", "").strip() or name))
    ids = [c[1] for c in candidates]
    linked = set(Deal.objects.filter(**{f"{id_field}__in": ids}).values_list(id_field, flat=True))
    taken = set()
    for line, external_id, name, account in candidates:
        [deal_id] = unlinked[(word(name), word(account))]
        if external_id in linked or deal_id in taken:
            continue  # already linked, or another row took the deal
        taken.add(deal_id)
        review.match_total += 1
        if len(review.matches) < MAX_MATCHES:
            review.matches.append(Match(line, external_id, deal_id, name, account))
