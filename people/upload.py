"""A CSV of people (name, email, role, team): each good row is invited through user_invite, each
bad row reported with its line and what is wrong; one row's error never stops the others."""

import csv
import io
from dataclasses import dataclass

from django.db import transaction

from people.errors import PeopleError
from people.services import user_invite
from teams.models import Team, User

COLUMNS = ("name", "email", "role", "team")
MAX_ROWS = 2000
ROLE_WORDS = {
    **{value: value for value in User.Role.values},
    **{label.lower(): value for value, label in User.Role.choices},
    "sales rep": User.Role.REP, "sales manager": User.Role.MANAGER, "revops": User.Role.ADMIN,
}  # fmt: skip


class UploadError(PeopleError):
    pass


@dataclass
class RowResult:
    line: int
    name: str
    email: str
    role: str
    team: str
    error: str = ""
    field: str = ""


def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError(
            "The file is not UTF-8 text; save it as “CSV UTF-8” and upload again.", field="file"
        ) from None


def people_upload(*, content: bytes, actor: User | None) -> list[RowResult]:
    """Invite everyone the CSV names; the result of every row, in order."""
    reader = csv.DictReader(io.StringIO(_decode(content)))
    header = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise UploadError(f"The header row lacks the column(s): {', '.join(missing)}.", field="file")
    teams = {team.name.lower(): team for team in Team.objects.all()}
    results = []
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            raise UploadError(f"At most {MAX_ROWS} people a file; split it.", field="file")
        values = {column: (row.get(header[column]) or "").strip() for column in COLUMNS}
        if not any(values.values()):
            continue
        result = RowResult(line=number, **values)
        results.append(result)
        role = ROLE_WORDS.get(values["role"].lower())
        team = teams.get(values["team"].lower()) if values["team"] else None
        if role is None:
            result.error, result.field = f"unknown role “{values['role']}” (rep, manager or admin)", "role"
        elif values["team"] and team is None:
            result.error, result.field = f"no team named “{values['team']}”", "team"
        else:
            try:
                with transaction.atomic():
                    user_invite(email=values["email"], name=values["name"], role=role, team=team, actor=actor)
            except PeopleError as exc:
                result.error, result.field = exc.message, exc.field or ""
    return results
