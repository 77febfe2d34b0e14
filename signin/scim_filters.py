"""SCIM filters (`?filter=`) on people and teams; simple equality by the ORM, the rest by
django-scim2's parser. A module of its own: django-scim2 imports it while defining its adapters."""

import re

from django_scim.filters import GroupFilterQuery, UserFilterQuery

from teams.models import Team, User

EQ_FILTER = re.compile(r'^\s*(userName|displayName|externalId)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)


class UserFilter(UserFilterQuery):
    attr_map = {
        ("userName", None, None): "username",
        ("name", "familyName", None): "last_name",
        ("familyName", None, None): "last_name",
        ("name", "givenName", None): "first_name",
        ("givenName", None, None): "first_name",
        ("active", None, None): "is_active",
        ("emails", "value", None): "email",
        ("emails", None, None): "email",
    }

    @classmethod
    def search(cls, filter_query, request=None):
        """userName and externalId are matched case-insensitively (RFC 7643 §4.1.1) by the ORM;
        other filters go to the library's parser."""
        match = EQ_FILTER.match(filter_query or "")
        if match and match.group(1).lower() == "username":
            return list(User.objects.filter(username__iexact=match.group(2)).order_by("pk"))
        if match and match.group(1).lower() == "externalid":
            return list(User.objects.filter(scim__external_id=match.group(2)).order_by("pk"))
        return super().search(filter_query, request)


class TeamFilter(GroupFilterQuery):
    attr_map = {("displayName", None, None): "name"}

    @classmethod
    def search(cls, filter_query, request=None):
        match = EQ_FILTER.match(filter_query or "")
        if match and match.group(1).lower() == "displayname":
            return list(Team.objects.filter(name__iexact=match.group(2)).order_by("pk"))
        if match and match.group(1).lower() == "externalid":
            return list(Team.objects.filter(scim__external_id=match.group(2)).order_by("pk"))
        return super().search(filter_query, request)
