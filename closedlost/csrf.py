"""CSRF_FAILURE_VIEW: a refused form (an expired page, cookies blocked) answers with the product's
own page, never Django's default 403. Buyers (survey and opt-out links, no account) get a page
in their words with a way back to their form; everyone else the app's page."""

from django.shortcuts import render
from django.urls import reverse

BUYER_PREFIXES = ("/surveys/answer/", "/follow-ups/opt-out/")


def is_buyer_path(path: str) -> bool:
    return any(path.startswith(prefix) for prefix in BUYER_PREFIXES)


def csrf_failure(request, reason: str = ""):
    if is_buyer_path(request.path):
        context = {
            "title": "Please send the form again",
            "text": "This page was open for a long time, or your browser did not keep our cookie, "
            "so we could not accept what you sent. Nothing was lost on our side: open the form "
            "again and send it once more.",
            "again_url": request.path,
        }
        return render(request, "surveys/problem.html", context, status=403)
    context = {"again_url": request.path, "home_url": reverse("deals:list")}
    return render(request, "csrf_failure.html", context, status=403)
