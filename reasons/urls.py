from django.urls import path

from reasons import views

app_name = "taxonomy"

urlpatterns = [
    path("", views.taxonomy_index_view, name="index"),
    path("guide/", views.guide_view, name="guide"),
    path("history/", views.history_view, name="history"),
    path("export/", views.export_view, name="export"),
    path("import/", views.import_view, name="import"),
    path("reasons/new/", views.reason_create_view, name="reason-create"),
    path("reasons/<int:pk>/edit/", views.reason_edit_view, name="reason-edit"),
    path("reasons/<int:pk>/move/", views.reason_move_view, name="reason-move"),
    path("reasons/<int:pk>/retire/", views.reason_retire_view, name="reason-retire"),
    path("reasons/<int:pk>/restore/", views.reason_restore_view, name="reason-restore"),
    path("reasons/<int:pk>/merge/", views.reason_merge_view, name="reason-merge"),
    path("reasons/<int:pk>/unmerge/", views.reason_unmerge_view, name="reason-unmerge"),
    path("categories/new/", views.category_create_view, name="category-create"),
    path("categories/<int:pk>/edit/", views.category_edit_view, name="category-edit"),
    path("categories/<int:pk>/move/", views.category_move_view, name="category-move"),
    path("competitors/", views.competitor_list_view, name="competitors"),
    path("competitors/new/", views.competitor_create_view, name="competitor-create"),
    path("competitors/<int:pk>/edit/", views.competitor_edit_view, name="competitor-edit"),
    path("competitors/<int:pk>/retire/", views.competitor_retire_view, name="competitor-retire"),
    path("competitors/<int:pk>/restore/", views.competitor_restore_view, name="competitor-restore"),
    path("competitors/<int:pk>/merge/", views.competitor_merge_view, name="competitor-merge"),
    path("competitors/<int:pk>/unmerge/", views.competitor_unmerge_view, name="competitor-unmerge"),
]
