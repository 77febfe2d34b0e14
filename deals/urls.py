from django.urls import path

from deals import contact_views, views
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
    path("contacts/<int:contact_id>/erase/", contact_views.contact_erase_view, name="contact-erase"),
    path("<int:pk>/contacts/add/", contact_views.deal_contact_add_view, name="contact-add"),
    path(
        "<int:pk>/contacts/<int:contact_id>/edit/", contact_views.deal_contact_edit_view, name="contact-edit"
    ),
    path(
        "<int:pk>/contacts/<int:contact_id>/remove/",
        contact_views.deal_contact_remove_view,
        name="contact-remove",
    ),
]
