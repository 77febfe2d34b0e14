from django.urls import path

from reviews import views

app_name = "reviews"

urlpatterns = [
    path("", views.review_list_view, name="list"),
    path("settings/", views.review_settings_view, name="settings"),
    path("<int:pk>/", views.review_detail_view, name="detail"),
]
