"""The outbox page for admins: per kind what waits and since when, what failed for good with its
errors, and replay or discard (one item, or every failed item of a kind)."""

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from outbox import failures, kinds, selectors


def admin_required(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_revops_admin:
            raise PermissionDenied("Only admins (RevOps) run the hand-offs to the worker.")
        return view(request, *args, **kwargs)

    return wrapped


@admin_required
@require_safe
def failures_page(request):
    lines = selectors.outbox_backlog()
    failed = selectors.failed_messages(limit=500)
    by_kind: dict[str, list] = {}
    for message in failed:
        by_kind.setdefault(message.kind, []).append(message)
    context = {
        "lines": [(line, by_kind.get(line.kind, [])) for line in lines],
        "history": selectors.handoff_history(limit=30),
    }
    return render(request, "outbox/failures.html", context)


def _target(request) -> dict:
    """One message (`message`) or every failed item of a kind (`kind`)."""
    if message := request.POST.get("message", ""):
        if not message.isdigit():
            raise Http404("No such hand-off.")
        return {"ids": [int(message)]}
    kind = request.POST.get("kind", "")
    if kind not in kinds.KINDS and not selectors.failed_messages(kind=kind, limit=1):
        raise Http404("No such kind of hand-off.")
    return {"kind": kind}


@admin_required
@require_POST
def replay(request):
    try:
        count = failures.failed_replay(actor=request.user, **_target(request))
    except failures.NothingToDo as exc:
        messages.warning(request, str(exc))
    else:
        messages.success(request, f"{count} hand-off{'s' if count != 1 else ''} sent round again.")
    return redirect("outbox:failures")


@admin_required
@require_POST
def discard(request):
    try:
        count = failures.failed_discard(actor=request.user, **_target(request))
    except failures.NothingToDo as exc:
        messages.warning(request, str(exc))
    else:
        plural = "s" if count != 1 else ""
        messages.success(request, f"{count} hand-off{plural} discarded (kept in the history).")
    return redirect("outbox:failures")
