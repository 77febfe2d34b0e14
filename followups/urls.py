from django.urls import path

from followups import sequence_views, setup_views, views

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
    path("setup/sequences/new/", sequence_views.sequence_new_view, name="setup-sequence-new"),
    path("setup/sequences/<int:pk>/", sequence_views.sequence_edit_view, name="setup-sequence"),
    path(
        "setup/sequences/<int:pk>/remove/", sequence_views.sequence_remove_view, name="setup-sequence-remove"
    ),
    path("setup/sequences/<int:pk>/steps/new/", setup_views.step_new_view, name="setup-step-new"),
    path("setup/steps/<int:pk>/remove/", sequence_views.step_remove_view, name="setup-step-remove"),
    path(
        "setup/steps/<int:pk>/reactivate/", sequence_views.step_reactivate_view, name="setup-step-reactivate"
    ),
]
