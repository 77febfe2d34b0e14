"""Project-level views: the health check."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from closedlost.celery import app as celery_app
from outbox.selectors import outbox_health, sweep_last_run


@login_not_required
@require_GET
def health(request):
    """503 when the database, the Celery broker or the outbox's sweep (beat) is down; 200
    otherwise, with what waits in the outbox and what failed for good (failures are an admin's
    work, shown on /outbox/ and e-mailed, not a reason to take the site out of a load balancer)."""
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
    extra = {}
    if checks["database"] == "ok":
        last = sweep_last_run()
        age = (timezone.now() - last).total_seconds() if last else None
        if age is None:
            checks["sweep"] = "error: never ran (is beat running?)"
        elif age > settings.OUTBOX_SWEEP_STALE_AFTER:
            checks["sweep"] = f"error: last ran {age:.0f}s ago (is beat running?)"
        else:
            checks["sweep"] = "ok"
        extra = outbox_health()
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "error", **checks, **extra}
    return JsonResponse(body, status=200 if healthy else 503)
