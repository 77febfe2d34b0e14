"""Project-level views: the health check."""

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from closedlost.celery import app as celery_app
from outbox.selectors import outbox_oldest_seconds


@login_not_required
@require_GET
def health(request):
    """Report whether the database and the Celery broker answer (503 if either does not), and
    how long the oldest hand-off has waited in the outbox (`outbox_backlog_seconds`)."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy; say which
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    try:
        oldest = outbox_oldest_seconds()
        checks["outbox_backlog_seconds"] = round(oldest, 1) if oldest is not None else 0
    except Exception as exc:  # the database check above already says why
        checks["outbox_backlog_seconds"] = f"error: {exc.__class__.__name__}"
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)
