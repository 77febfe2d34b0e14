"""SCIM 2.0 at /scim/v2/ through django-scim2: Users are people, Groups are teams.

The library parses requests, filters and PATCH paths; these adapters map them onto our models and
hand every change to `signin.provisioning` (the people services). Ids are our primary keys.
Okta's and Entra ID's request shapes are both accepted: Entra sends `"active": "False"` as a
string and PATCHes single attributes by path (`name.givenName`, `emails[type eq "work"].value`);
Okta removes a member with `members[value eq "id"]` and no value.
"""

import re
from urllib.parse import urljoin

from django.db import transaction
from django.urls import reverse
from django_scim import constants, exceptions
from django_scim.adapters import SCIMGroup, SCIMUser

from people.errors import PeopleConflict, PeopleError
from signin import provisioning
from signin.models import ScimAccount, ScimGroup
from signin.scim_filters import TeamFilter, UserFilter
from teams.models import Membership, Team, User

MEMBER_PATH = re.compile(r'^members\[value eq "([^"]+)"\]$', re.IGNORECASE)


def base_location(request=None, *args, **kwargs) -> str:
    return request.build_absolute_uri("/") if request is not None else "/"


def _as_bool(value):
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _refusal(exc: PeopleError) -> exceptions.SCIMException:
    if isinstance(exc, PeopleConflict):
        return exceptions.IntegrityError(exc.message)
    return exceptions.BadRequestError(exc.message, scim_type="invalidValue")


class ScimUser(SCIMUser):
    id_field = "pk"
    ATTR_MAP = UserFilter.attr_map

    def __init__(self, obj, request=None):
        super().__init__(obj, request)
        self.external_id = None  # None: unchanged
        self.wanted_active = obj.is_active if obj.pk else True

    @property
    def location(self):
        return urljoin(base_location(self.request), reverse("scim:users", kwargs={"uuid": self.id}))

    @property
    def groups(self):
        teams = Team.objects.filter(memberships__user=self.obj).order_by("pk")
        return [
            {
                "value": str(team.pk),
                "$ref": urljoin(
                    base_location(self.request), reverse("scim:groups", kwargs={"uuid": team.pk})
                ),
                "display": team.name,
            }
            for team in teams
        ]

    def to_dict(self):
        account = ScimAccount.objects.filter(user_id=self.obj.pk).first()
        return {
            "schemas": [constants.SchemaURI.USER],
            "id": self.id,
            "externalId": account.external_id if account else "",
            "userName": self.obj.username,
            "name": {
                "givenName": self.obj.first_name,
                "familyName": self.obj.last_name,
                "formatted": self.name_formatted,
            },
            "displayName": self.display_name,
            "emails": self.emails,
            "active": self.obj.is_active,
            "groups": self.groups,
            "meta": self.meta,
        }

    def validate_dict(self, d):
        if "active" in d:
            d["active"] = _as_bool(d["active"])
        super().validate_dict(d)

    def from_dict(self, d):
        d = {key: value for key, value in d.items() if key != "password"}  # they sign in through SSO
        active = d.pop("active", None)
        super().from_dict(d)
        self.obj.username = self.obj.username.strip().lower()
        if not self.obj.email and "@" in self.obj.username:
            self.obj.email = self.obj.username
        self.external_id = d.get("externalId") or ""
        if active is not None:
            self.wanted_active = active

    def handle_path_and_value(self, path, value, operation):
        if path is not None and path.first_path[0].lower() == "active":
            value = _as_bool(value)
        super().handle_path_and_value(path, value, operation)

    def handle_replace(self, path, value, operation):
        values = value if path is None and isinstance(value, dict) else {path: value}
        for attr_path, new in values.items():
            attr, sub, _uri = attr_path.first_path if attr_path is not None else (None, None, None)
            attr = (attr or "").lower()
            if attr == "active":
                self.wanted_active = bool(_as_bool(new))
            elif attr == "username":
                self.obj.username = str(new).strip().lower()
            elif attr in ("givenname", "familyname") or (attr == "name" and sub):
                field = "first_name" if (sub or attr).lower() == "givenname" else "last_name"
                setattr(self.obj, field, str(new or "")[:150])
            elif attr == "name" and isinstance(new, dict):
                self.obj.first_name = str(new.get("givenName") or "")[:150]
                self.obj.last_name = str(new.get("familyName") or "")[:150]
            elif attr == "emails":
                if isinstance(new, str):
                    self.validate_email(new)
                    self.obj.email = new
                else:
                    self.parse_emails(new)
            elif attr == "externalid":
                self.external_id = str(new or "")
            # Anything else (displayName, title, the enterprise extension) is not kept here.
        self.save()

    handle_add = handle_replace

    def save(self):
        try:
            with transaction.atomic():
                provisioning.scim_user_save(
                    user=self.obj, external_id=self.external_id, active=self.wanted_active
                )
        except PeopleError as exc:
            raise _refusal(exc) from None

    def delete(self):
        """DELETE deactivates (with the offboarding); nobody is erased, history keeps its actors."""
        if self.obj.is_active:
            self.wanted_active = False
            self.save()


class ScimTeam(SCIMGroup):
    id_field = "pk"
    ATTR_MAP = TeamFilter.attr_map

    def __init__(self, obj, request=None):
        super().__init__(obj, request)
        self.external_id = None
        self.member_ids = None

    @property
    def location(self):
        return urljoin(base_location(self.request), reverse("scim:groups", kwargs={"uuid": self.id}))

    @property
    def members(self):
        memberships = Membership.objects.filter(team=self.obj).select_related("user").order_by("user_id")
        return [
            {
                "value": str(m.user_id),
                "$ref": urljoin(
                    base_location(self.request), reverse("scim:users", kwargs={"uuid": m.user_id})
                ),
                "display": m.user.display_name,
            }
            for m in memberships
        ]

    def to_dict(self):
        link = ScimGroup.objects.filter(team_id=self.obj.pk).first()
        return {
            "schemas": [constants.SchemaURI.GROUP],
            "id": self.id,
            "externalId": link.external_id if link else "",
            "displayName": self.display_name,
            "members": self.members,
            "meta": self.meta,
        }

    def from_dict(self, d):
        self.obj.name = str(d.get("displayName") or "").strip()[:100]
        self.external_id = d.get("externalId") or ""
        if "members" in d:
            self.member_ids = [str(m.get("value")) for m in d.get("members") or [] if isinstance(m, dict)]

    def _users(self, value, operation) -> list[User]:
        match = MEMBER_PATH.match(operation.get("path") or "")
        ids = [match.group(1)] if match else [str(m.get("value")) for m in value or [] if isinstance(m, dict)]
        return provisioning.users_by_scim_ids(ids)

    def _run(self, change, **kwargs):
        try:
            change(team=self.obj, **kwargs)
        except PeopleError as exc:
            raise _refusal(exc) from None

    def handle_add(self, path, value, operation):
        if path is not None and path.first_path[0].lower() == "members":
            self._run(provisioning.team_members_add, users=self._users(value, operation))
        else:
            self.handle_replace(path, value, operation)

    def handle_remove(self, path, value, operation):
        if path is None or path.first_path[0].lower() != "members":
            raise exceptions.NotImplementedError("Only members can be removed from a group.")
        if value is None and not MEMBER_PATH.match(operation.get("path") or ""):
            self._run(provisioning.team_members_set, users=[])
        else:
            self._run(provisioning.team_members_remove, users=self._users(value, operation))

    def handle_replace(self, path, value, operation):
        values = value if path is None and isinstance(value, dict) else {path: value}
        for attr_path, new in values.items():
            attr = (attr_path.first_path[0] if attr_path is not None else "").lower()
            if attr == "displayname":
                self.obj.name = str(new or "").strip()[:100]
                self.save()
            elif attr == "externalid":
                self.external_id = str(new or "")
                self.save()
            elif attr == "members":
                ids = [str(m.get("value")) for m in new or [] if isinstance(m, dict)]
                self._run(provisioning.team_members_set, users=provisioning.users_by_scim_ids(ids))

    def save(self):
        try:
            with transaction.atomic():
                provisioning.scim_team_save(
                    team=self.obj, external_id=self.external_id, member_ids=self.member_ids
                )
        except PeopleError as exc:
            raise _refusal(exc) from None

    def delete(self):
        self._run(provisioning.scim_team_unlink)
