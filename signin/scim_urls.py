"""django-scim2's views under /scim/v2/, with ids that are our numeric keys (anything else: 404)."""

from django.urls import path, re_path
from django_scim import views

app_name = "scim"

urlpatterns = [
    path("", views.SCIMView.as_view(implemented=False), name="root"),
    re_path(r"^Users/\.search$", views.UserSearchView.as_view(), name="users-search"),
    re_path(r"^Users(?:/(?P<uuid>[0-9]{1,18}))?$", views.UsersView.as_view(), name="users"),
    re_path(r"^Groups/\.search$", views.GroupSearchView.as_view(), name="groups-search"),
    re_path(r"^Groups(?:/(?P<uuid>[0-9]{1,18}))?$", views.GroupsView.as_view(), name="groups"),
    re_path(
        r"^ServiceProviderConfig$", views.ServiceProviderConfigView.as_view(), name="service-provider-config"
    ),
    re_path(
        r"^ResourceTypes(?:/(?P<uuid>[^/]+))?$", views.ResourceTypesView.as_view(), name="resource-types"
    ),
    re_path(r"^Schemas(?:/(?P<uuid>[^/]+))?$", views.SchemasView.as_view(), name="schemas"),
    re_path(r"^(?:Me|Bulk|\.search)$", views.SCIMView.as_view(implemented=False), name="not-implemented"),
]
