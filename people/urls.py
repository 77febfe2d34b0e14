from django.urls import path

from people import crm_views, passwords, views

app_name = "people"

urlpatterns = [
    path("", views.people_list_view, name="list"),
    path("invite/", views.invite_view, name="invite"),
    path("upload/", views.upload_view, name="upload"),
    path("crm/", crm_views.crm_choose_view, name="crm"),
    path("crm/<slug:kind>/", crm_views.crm_import_view, name="crm-import"),
    path("history/", views.history_view, name="history"),
    path("teams/", views.teams_view, name="teams"),
    path("teams/new/", views.team_create_view, name="team-create"),
    path("teams/<int:pk>/", views.team_view, name="team"),
    path("join/<str:token>/", passwords.join_view, name="join"),
    path("<int:pk>/", views.person_view, name="detail"),
    path("<int:pk>/role/", views.role_view, name="role"),
    path("<int:pk>/teams/", views.teams_change_view, name="set-teams"),
    path("<int:pk>/name/", views.name_view, name="name"),
    path("<int:pk>/invite/resend/", views.invite_resend_view, name="invite-resend"),
    path("<int:pk>/invite/revoke/", views.invite_revoke_view, name="invite-revoke"),
    path("<int:pk>/deactivate/", views.deactivate_view, name="deactivate"),
    path("<int:pk>/reactivate/", views.reactivate_view, name="reactivate"),
]
