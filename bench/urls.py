"""The app's URLs plus a trivial view, so benchmarks compare against the same middleware stack."""

from django.http import HttpResponse
from django.urls import include, path


def trivial(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/trivial/", trivial),
    path("", include("closedlost.urls")),
]
