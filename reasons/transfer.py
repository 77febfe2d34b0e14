"""Export and import of the whole taxonomy (categories, reasons, competitors) as JSON or CSV.

Import reads and checks every row first; reasons.services.taxonomy_import writes only when
nothing is wrong, inside one transaction, so a file with one bad row changes nothing. Rows are
matched by their stable keys: category and reason codes, competitor names.
"""

import csv
import io
import json
from dataclasses import dataclass, field

from django.db.models import Q

from closedlost.csvsafe import SafeDictWriter
from reasons.models import Competitor, Reason, ReasonCategory, ReasonKind, TaxonomyChange
from reasons.services import CODE_MAX_LENGTH, CODE_PATTERN, REOPEN_AFTER_DAYS_MAX

FORMAT_NAME = "closedlost-taxonomy"
FORMAT_VERSION = 1
CSV_COLUMNS = [
    "type",
    "code",
    "name",
    "kind",
    "category",
    "help_text",
    "example",
    "order",
    "active",
    "requires_competitor",
    "requires_note",
    "is_catch_all",
    "is_disqualifying",
    "reopen_after_days",
    "merged_into",
    "aliases",
]
ALIAS_SEPARATOR = ";"
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "1", "y"}, {"false", "no", "0", "n", ""}
MAX_ROWS = 5000
# A reason's yes/no flags, declared once for export and import. Flags added after the format's
# first files (catch-all, disqualifying) stay as they are here when a file lacks their column.
REASON_FLAGS = ("active", "requires_competitor", "requires_note", "is_catch_all", "is_disqualifying")
LATER_FLAGS = ("is_catch_all", "is_disqualifying")


# --- export ------------------------------------------------------------------------------------


def taxonomy_export() -> dict:
    """The whole taxonomy as plain data (three queries)."""
    categories = [
        {"code": c.code, "name": c.name, "order": c.order}
        for c in ReasonCategory.objects.order_by("order", "name")
    ]
    reasons = [
        {
            "code": r.code,
            "kind": r.kind,
            "category": r.category.code,
            "label": r.label,
            "help_text": r.help_text,
            "example": r.example,
            "order": r.order,
            **{flag: getattr(r, flag) for flag in REASON_FLAGS},
            "reopen_after_days": r.reopen_after_days,
            "merged_into": r.merged_into.code if r.merged_into_id else None,
        }
        for r in Reason.objects.select_related("category", "merged_into").order_by(
            "kind", "category__order", "order", "id"
        )
    ]
    competitors = [
        {
            "name": c.name,
            "aliases": list(c.aliases),
            "active": c.active,
            "merged_into": c.merged_into.name if c.merged_into_id else None,
        }
        for c in Competitor.objects.select_related("merged_into").order_by("name")
    ]
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "categories": categories,
        "reasons": reasons,
        "competitors": competitors,
    }


def taxonomy_export_json() -> str:
    return json.dumps(taxonomy_export(), indent=2, ensure_ascii=False) + "\n"


def taxonomy_export_csv() -> str:
    data = taxonomy_export()
    out = io.StringIO()
    writer = SafeDictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for c in data["categories"]:
        writer.writerow({"type": "category", "code": c["code"], "name": c["name"], "order": c["order"]})
    for r in data["reasons"]:
        row = {k: v for k, v in r.items() if k in CSV_COLUMNS}
        row.update(type="reason", name=r["label"], merged_into=r["merged_into"] or "")
        for flag in REASON_FLAGS:
            row[flag] = "true" if r[flag] else "false"
        row["reopen_after_days"] = "" if r["reopen_after_days"] is None else r["reopen_after_days"]
        writer.writerow(row)
    for c in data["competitors"]:
        writer.writerow(
            {
                "type": "competitor",
                "name": c["name"],
                "aliases": f"{ALIAS_SEPARATOR} ".join(c["aliases"]),
                "active": "true" if c["active"] else "false",
                "merged_into": c["merged_into"] or "",
            }
        )
    return out.getvalue()


# --- import: parse and check ---------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    where: str
    field: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.where}, field “{self.field}”: {self.message}"
            if self.field
            else f"{self.where}: {self.message}"
        )


class TaxonomyImportError(Exception):
    """The file cannot be imported; `problems` names each bad row and field."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class Row:
    where: str
    values: dict


@dataclass
class TaxonomyFile:
    categories: list[Row] = field(default_factory=list)
    reasons: list[Row] = field(default_factory=list)
    competitors: list[Row] = field(default_factory=list)


def parse_taxonomy_file(*, filename: str, content: bytes) -> TaxonomyFile:
    """Read a JSON or CSV export (chosen by the file name) into rows; TaxonomyImportError if unreadable."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TaxonomyImportError([Problem("the file", "", "is not UTF-8 text.")]) from None
    if filename.lower().endswith(".json"):
        return _parse_json(text)
    if filename.lower().endswith(".csv"):
        return _parse_csv(text)
    raise TaxonomyImportError([Problem("the file", "", "must be a .json or .csv taxonomy export.")])


def _parse_json(text: str) -> TaxonomyFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaxonomyImportError(
            [Problem(f"line {exc.lineno}", "", f"is not valid JSON ({exc.msg}).")]
        ) from None
    if not isinstance(data, dict):
        raise TaxonomyImportError([Problem("the file", "", "must hold a JSON object with “reasons”.")])
    if (
        data.get("format", FORMAT_NAME) != FORMAT_NAME
        or data.get("version", FORMAT_VERSION) != FORMAT_VERSION
    ):
        raise TaxonomyImportError(
            [Problem("the file", "format", f"must be a {FORMAT_NAME} export, version {FORMAT_VERSION}.")]
        )
    parsed = TaxonomyFile()
    problems = []
    for section in ("categories", "reasons", "competitors"):
        rows = data.get(section, [])
        if not isinstance(rows, list):
            problems.append(Problem(f"“{section}”", "", "must be a list."))
            continue
        for number, values in enumerate(rows, start=1):
            where = f"{section} row {number}"
            if not isinstance(values, dict):
                problems.append(Problem(where, "", "must be an object."))
                continue
            if section == "reasons" and "label" in values:
                values = {**values, "name": values["label"]}
            getattr(parsed, section).append(Row(where=where, values=values))
    if problems:
        raise TaxonomyImportError(problems)
    return parsed


def _parse_csv(text: str) -> TaxonomyFile:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("type", "code", "name") if c not in (reader.fieldnames or [])]
    if missing:
        raise TaxonomyImportError([Problem("line 1", missing[0], "this column is missing from the header.")])
    parsed = TaxonomyFile()
    problems = []
    for values in reader:
        where = f"line {reader.line_num}"
        if None in values:
            problems.append(Problem(where, "", "has more cells than the header has columns."))
            continue
        values = {k: (v or "").strip() for k, v in values.items()}
        kind = values.get("type", "")
        if "aliases" in values:
            values["aliases"] = [a.strip() for a in values["aliases"].split(ALIAS_SEPARATOR) if a.strip()]
        for key in ("order", "reopen_after_days", "merged_into", "active"):
            if values.get(key) == "":
                values.pop(key)
        if kind == "category":
            parsed.categories.append(Row(where, values))
        elif kind == "reason":
            parsed.reasons.append(Row(where, values))
        elif kind == "competitor":
            parsed.competitors.append(Row(where, values))
        else:
            problems.append(Problem(where, "type", f"“{kind}” must be category, reason or competitor."))
    if problems:
        raise TaxonomyImportError(problems)
    return parsed


def _text(
    row: Row, key: str, problems: list, *, required: bool = False, max_length: int | None = None
) -> str:
    value = row.values.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.append(Problem(row.where, key, "must be text."))
        return ""
    value = value.strip()
    if required and not value:
        problems.append(Problem(row.where, key, "is required."))
    if max_length and len(value) > max_length:
        problems.append(Problem(row.where, key, f"is longer than {max_length} characters."))
    return value


def _flag(row: Row, key: str, problems: list, *, default: bool) -> bool:
    value = row.values.get(key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    problems.append(Problem(row.where, key, f"“{value}” must be true or false."))
    return default


def _number(row: Row, key: str, problems: list, *, maximum: int) -> int | None:
    value = row.values.get(key)
    if value is None or value == "":
        return None
    try:
        number = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, float) or not 0 <= number <= maximum:
        problems.append(Problem(row.where, key, f"“{value}” must be a whole number from 0 to {maximum}."))
        return None
    return number


def _code(row: Row, key: str, problems: list, *, max_length: int = CODE_MAX_LENGTH) -> str:
    code = _text(row, key, problems, required=True)
    if code and (len(code) > max_length or not CODE_PATTERN.match(code)):
        problems.append(
            Problem(
                row.where,
                key,
                f"“{code}” must be lowercase letters and digits joined by single dashes or underscores.",
            )
        )
    return code


def check_taxonomy_file(parsed: TaxonomyFile) -> list[Problem]:
    """Every problem in the file, checked against itself and the database, before anything is written.

    Normalises each row's values in place for taxonomy_import.
    """
    problems: list[Problem] = []
    if sum(len(rows) for rows in (parsed.categories, parsed.reasons, parsed.competitors)) > MAX_ROWS:
        return [Problem("the file", "", f"has more than {MAX_ROWS} rows.")]
    reasons_in_db = {r.code: r for r in Reason.objects.all()}
    category_codes = _check_categories(parsed, problems)
    file_reasons = _check_reasons(parsed, problems, category_codes, reasons_in_db)
    _check_reason_labels(parsed, problems, reasons_in_db, file_reasons)
    _check_reason_merges(parsed, problems, reasons_in_db, file_reasons)
    file_competitors = _check_competitors(parsed, problems)
    _check_competitor_merges(parsed, problems, file_competitors)
    return problems


def _check_categories(parsed: TaxonomyFile, problems: list[Problem]) -> set[str]:
    """The category rows; returns every category code there will be (the file's and ours)."""
    categories_in_db = {c.code: c for c in ReasonCategory.objects.all()}
    seen: dict[str, str] = {}
    names: dict[str, str] = {}
    for row in parsed.categories:
        code = _code(row, "code", problems, max_length=50)
        name = _text(row, "name", problems, required=True, max_length=100)
        order = _number(row, "order", problems, maximum=100_000)
        if code in seen:
            problems.append(Problem(row.where, "code", f"“{code}” is also in {seen[code]}."))
        seen[code] = row.where
        if name.lower() in names:
            problems.append(Problem(row.where, "name", f"“{name}” is also in {names[name.lower()]}."))
        names[name.lower()] = row.where
        clash = next(
            (c for c in categories_in_db.values() if c.name.lower() == name.lower() and c.code != code), None
        )
        if clash is not None and clash.code not in seen:
            problems.append(
                Problem(row.where, "name", f"“{name}” is already the name of category “{clash.code}”.")
            )
        row.values = {"code": code, "name": name, "order": order}
    return set(categories_in_db) | set(seen)


def _reason_values(row: Row, problems: list[Problem], category_codes: set[str]) -> dict:
    """One reason row's values, normalised, with the problems of each value on its own."""
    code = _code(row, "code", problems)
    kind = _text(row, "kind", problems, required=True)
    if kind and kind not in ReasonKind.values:
        problems.append(
            Problem(row.where, "kind", f"“{kind}” must be one of {', '.join(ReasonKind.values)}.")
        )
    category = _text(row, "category", problems, required=True)
    if category and category not in category_codes:
        problems.append(
            Problem(row.where, "category", f"“{category}” is not a category in the file or here.")
        )
    return {
        "code": code,
        "kind": kind,
        "category": category,
        "label": _text(row, "name", problems, required=True, max_length=120),
        "help_text": _text(row, "help_text", problems),
        "example": _text(row, "example", problems),
        "order": _number(row, "order", problems, maximum=100_000),
        **{
            flag: None  # a file from before the flag existed leaves it as it is here
            if flag in LATER_FLAGS and flag not in row.values
            else _flag(row, flag, problems, default=flag == "active")
            for flag in REASON_FLAGS
        },
        "reopen_after_days": _number(row, "reopen_after_days", problems, maximum=REOPEN_AFTER_DAYS_MAX),
        "merged_into": _text(row, "merged_into", problems) or None,
    }


def _check_reasons(
    parsed: TaxonomyFile, problems: list[Problem], category_codes: set[str], reasons_in_db: dict
) -> dict[str, dict]:
    """The reason rows against each other and ours; returns the file's reasons by code."""
    seen: dict[str, str] = {}
    labels: dict[tuple, str] = {}
    file_reasons: dict[str, dict] = {}
    for row in parsed.reasons:
        values = _reason_values(row, problems, category_codes)
        code, kind, label = values["code"], values["kind"], values["label"]
        if code in seen:
            problems.append(Problem(row.where, "code", f"“{code}” is also in {seen[code]}."))
        seen[code] = row.where
        key = (kind, label.lower())
        if key in labels:
            problems.append(Problem(row.where, "label", f"“{label}” is also the label in {labels[key]}."))
        labels[key] = row.where
        existing = reasons_in_db.get(code)
        if existing is not None and kind and existing.kind != kind:
            message = f"“{code}” is a {existing.kind} reason here; a reason's kind never changes."
            problems.append(Problem(row.where, "kind", message))
        if existing is None and code:
            earlier = (
                TaxonomyChange.objects.filter(subject=TaxonomyChange.Subject.REASON)
                .filter(Q(before__code=code) | Q(after__code=code))
                .first()
            )
            if earlier is not None:
                message = f"“{code}” belonged to “{earlier.subject_label}”; codes are never reused."
                problems.append(Problem(row.where, "code", message))
        row.values = values
        file_reasons[code] = values
    return file_reasons


def _check_reason_labels(
    parsed: TaxonomyFile, problems: list[Problem], reasons_in_db: dict, file_reasons: dict
) -> None:
    """Labels must stay unique per kind against reasons the file does not mention."""
    for row in parsed.reasons:
        v = row.values
        for other in reasons_in_db.values():
            if (
                other.code != v["code"]
                and other.code not in file_reasons
                and other.kind == v["kind"]
                and other.label.lower() == v["label"].lower()
            ):
                problems.append(
                    Problem(row.where, "label", f"“{v['label']}” is already the label of “{other.code}”.")
                )


def _check_reason_merges(
    parsed: TaxonomyFile, problems: list[Problem], reasons_in_db: dict, file_reasons: dict
) -> None:
    for row in parsed.reasons:
        target_code = row.values["merged_into"]
        if target_code is None:
            continue
        target = file_reasons.get(target_code)
        if target is None and target_code in reasons_in_db:
            db = reasons_in_db[target_code]
            target = {"kind": db.kind, "merged_into": None if db.merged_into_id is None else "?"}
        if target is None:
            message = f"“{target_code}” is not a reason in the file or here."
        elif target_code == row.values["code"]:
            message = "a reason cannot be merged into itself."
        elif target["kind"] != row.values["kind"]:
            message = f"“{target_code}” is a reason of another kind."
        elif target["merged_into"]:
            message = f"“{target_code}” is merged itself; merge into its survivor."
        elif row.values["active"]:
            problems.append(Problem(row.where, "active", "a merged reason must be retired (active false)."))
            continue
        else:
            continue
        problems.append(Problem(row.where, "merged_into", message))


def _check_competitors(parsed: TaxonomyFile, problems: list[Problem]) -> dict[str, dict]:
    """The competitor rows; returns the file's competitors by lowercased name."""
    seen: dict[str, str] = {}
    file_competitors: dict[str, dict] = {}
    for row in parsed.competitors:
        name = _text(row, "name", problems, required=True, max_length=120)
        aliases = row.values.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            problems.append(Problem(row.where, "aliases", "must be a list of names."))
            aliases = []
        values = {
            "name": name,
            "aliases": aliases,
            "active": _flag(row, "active", problems, default=True),
            "merged_into": _text(row, "merged_into", problems) or None,
        }
        if name.lower() in seen:
            problems.append(Problem(row.where, "name", f"“{name}” is also in {seen[name.lower()]}."))
        seen[name.lower()] = row.where
        row.values = values
        file_competitors[name.lower()] = values
    return file_competitors


def _check_competitor_merges(parsed: TaxonomyFile, problems: list[Problem], file_competitors: dict) -> None:
    competitors_in_db = {c.name.lower(): c for c in Competitor.objects.all()}
    for row in parsed.competitors:
        target_name = row.values["merged_into"]
        if target_name is None:
            continue
        target = file_competitors.get(target_name.lower())
        if target is None and target_name.lower() in competitors_in_db:
            db = competitors_in_db[target_name.lower()]
            target = {"merged_into": None if db.merged_into_id is None else "?"}
        if target is None:
            message = f"“{target_name}” is not a competitor in the file or here."
        elif target_name.lower() == row.values["name"].lower():
            message = "a competitor cannot be merged into itself."
        elif target["merged_into"]:
            message = f"“{target_name}” is merged itself; merge into its survivor."
        elif row.values["active"]:
            problems.append(
                Problem(row.where, "active", "a merged competitor must be retired (active false).")
            )
            continue
        else:
            continue
        problems.append(Problem(row.where, "merged_into", message))
