from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.rule_list_view, name="index"),
    path("new/", views.rule_create_view, name="create"),
    path("<int:pk>/", views.rule_detail_view, name="detail"),
    path("<int:pk>/edit/", views.rule_edit_view, name="edit"),
    path("<int:pk>/active/", views.rule_active_view, name="active"),
]
