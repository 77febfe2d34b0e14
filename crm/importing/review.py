"""What the admin confirms before an import starts, read from the file with the chosen columns:
stage values that name none of our stages (to map), and rows that look like deals we already
have (same name and account, not linked to this CRM) to link instead of creating duplicates."""

from collections import Counter
from dataclasses import dataclass, field
from itertools import islice

from crm.importing.columns import OPEN, OUTCOME_WORDS, outcome_of, word
from crm.importing.reading import records, stored_pieces
from crm.models import EXTERNAL_ID_FIELD, ImportJob
from deals.models import Deal, Stage

MAX_STAGE_VALUES = 50
MAX_MATCHES = 200
SCAN_CHUNK = 2000


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
    matched_deals: set = field(default_factory=set)

    @property
    def empty(self) -> bool:
        return not self.stage_values and not self.match_total


def _stage_value(values: dict) -> str:
    outcome = outcome_of(values)
    if outcome == OPEN:
        return values.get("stage", "").strip()
    return values.get("stage_at_close", "").strip()  # a closed row's stage column says only "closed"


def import_review(*, job: ImportJob, column_map: dict[str, str]) -> Review:
    """Scan the stored file once (streamed): unknown stage values and likely existing deals."""
    known = {word(name) for name in Stage.objects.values_list("name", flat=True)}
    closing = set().union(*OUTCOME_WORDS.values())
    review = Review(stage_names=sorted(set(Stage.objects.values_list("name", flat=True))))
    unknown: Counter = Counter()
    rows = records(stored_pieces(job.pk))
    _n, header = next(rows, (1, []))
    index = {c: i for i, c in enumerate(header if isinstance(header, list) else [])}
    columns = {f: index[c] for f, c in column_map.items() if c in index}
    id_field = EXTERNAL_ID_FIELD[job.kind]
    while chunk := list(islice(rows, SCAN_CHUNK)):
        candidates = []
        for line, cells in chunk:
            if not isinstance(cells, list):
                continue
            values = {f: cells[i] if i < len(cells) else "" for f, i in columns.items()}
            value = _stage_value(values)
            if value and word(value) not in known and word(value) not in closing:
                unknown[value] += 1
            name, external_id = values.get("name", "").strip(), values.get("external_id", "").strip()
            if name and external_id:
                candidates.append((line, external_id, name, values.get("account", "").strip() or name))
        _matches(review, candidates, id_field)
    review.stage_values = unknown.most_common(MAX_STAGE_VALUES)
    return review


def _matches(review: Review, candidates: list, id_field: str) -> None:
    """Rows whose id is new here but whose name and account match one unlinked deal."""
    if not candidates:
        return
    linked = set(
        Deal.objects.filter(**{f"{id_field}__in": [c[1] for c in candidates]}).values_list(
            id_field, flat=True
        )
    )
    unlinked = {}
    for pk, name, account in Deal.objects.filter(
        name__in={c[2] for c in candidates}, **{f"{id_field}__isnull": True}
    ).values_list("pk", "name", "account__name").order_by("pk"):  # fmt: skip
        unlinked.setdefault((word(name), word(account)), []).append(pk)
    for line, external_id, name, account in candidates:
        found = unlinked.get((word(name), word(account)), [])
        if external_id in linked or len(found) != 1 or found[0] in review.matched_deals:
            continue  # already linked, or no single deal to link it to (or another row took it)
        review.matched_deals.add(found[0])
        review.match_total += 1
        if len(review.matches) < MAX_MATCHES:
            review.matches.append(Match(line, external_id, found[0], name, account))
