from django.urls import path

from surveys import setup_views, views, wording_views

app_name = "surveys"

urlpatterns = [
    # The buyer's pages: reached from the e-mail's signed link, no sign-in.
    path("answer/<str:token>/", views.answer_view, name="answer"),
    path("answer/<str:token>/thanks/", views.thanks_view, name="thanks"),
    path("deals/<int:pk>/send/", views.send_view, name="send"),
    path("figures/", views.figures_view, name="figures"),
    path("setup/", setup_views.survey_setup_view, name="setup"),
    path("wording/", wording_views.wording_view, name="wording"),
    path("wording/categories/<int:pk>/", wording_views.category_wording_view, name="wording-category"),
    path("wording/reasons/<int:pk>/", wording_views.reason_wording_view, name="wording-reason"),
    path("figures/<slug:name>.csv", views.export_view, name="export"),
]
