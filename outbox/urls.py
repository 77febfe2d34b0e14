from django.urls import path

from outbox import views

app_name = "outbox"

urlpatterns = [
    path("", views.failures_page, name="failures"),
    path("replay/", views.replay, name="replay"),
    path("discard/", views.discard, name="discard"),
]
