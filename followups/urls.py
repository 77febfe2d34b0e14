from django.urls import path

from followups import setup_views, views

app_name = "followups"

urlpatterns = [
    path("", views.my_followups_view, name="mine"),
    path("team/", views.team_followups_view, name="team"),
    path("<int:pk>/done/", views.followup_done_view, name="done"),
    path("<int:pk>/skip/", views.followup_skip_view, name="skip"),
    path("<int:pk>/snooze/", views.followup_snooze_view, name="snooze"),
    path("<int:pk>/reschedule/", views.followup_reschedule_view, name="reschedule"),
    path("opt-out/<str:token>/", views.opt_out_view, name="opt-out"),
    path("setup/", setup_views.setup_view, name="setup"),
    path("setup/steps/<int:pk>/", setup_views.step_view, name="setup-step"),
    path("setup/sequences/<int:pk>/reasons/", setup_views.sequence_reasons_view, name="setup-reasons"),
]
