from django.urls import path

from deals import views
from deals.models import DealStatus

app_name = "deals"

urlpatterns = [
    path("", views.deal_list_view, name="list"),
    path("<int:pk>/", views.deal_detail_view, name="detail"),
    path("<int:pk>/mark-lost/", views.deal_close_view, {"outcome": DealStatus.LOST}, name="mark-lost"),
    path("<int:pk>/mark-won/", views.deal_close_view, {"outcome": DealStatus.WON}, name="mark-won"),
    path(
        "<int:pk>/no-decision/",
        views.deal_close_view,
        {"outcome": DealStatus.NO_DECISION},
        name="mark-no-decision",
    ),
    path("<int:pk>/reopen/", views.deal_reopen_view, name="reopen"),
    path("<int:pk>/crm-links/", views.deal_link_crm_view, name="link-crm"),
]
