"""The app's URLs plus a trivial webhook-shaped view (no login, no CSRF, no database), so the
webhook benchmark compares against the same middleware stack and server."""

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@login_not_required
@require_POST
def trivial_webhook(request):
    return JsonResponse({"stored": 0, "bytes": len(request.body)})


urlpatterns = [
    path("bench/trivial-webhook/", trivial_webhook),
    path("", include("closedlost.urls")),
]
