from django.urls import path

from deals import pipeline_views as views

app_name = "pipelines"

urlpatterns = [
    path("", views.pipeline_index_view, name="index"),
    path("new/", views.pipeline_create_view, name="create"),
    path("history/", views.pipeline_history_view, name="history"),
    path("<int:pk>/edit/", views.pipeline_edit_view, name="edit"),
    path("<int:pk>/stages/new/", views.stage_create_view, name="stage-create"),
    path("stages/<int:pk>/edit/", views.stage_edit_view, name="stage-edit"),
    path("stages/<int:pk>/move/", views.stage_move_view, name="stage-move"),
    path("stages/<int:pk>/retire/", views.stage_retire_view, name="stage-retire"),
    path("stages/<int:pk>/restore/", views.stage_restore_view, name="stage-restore"),
    path("stages/<int:pk>/delete/", views.stage_delete_view, name="stage-delete"),
]
