"""What every taxonomy page shares: admins only, and the small helpers of their forms."""

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.urls import reverse

from reasons import services
from reasons.models import Reason, ReasonKind

RECENT_CHANGES = 8
HISTORY_PAGE_SIZE = 100
IMPORT_MAX_BYTES = 2 * 1024 * 1024


def admin_required(view):
    """Only admins (RevOps) reach the taxonomy pages; everyone else signed in gets 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_revops_admin:
            raise PermissionDenied("Only admins (RevOps) can change the reason taxonomy.")
        return view(request, *args, **kwargs)

    return wrapper


def kind_param(value: str | None) -> str:
    return value if value in ReasonKind.values else ReasonKind.LOSS


def back_to(reason: Reason) -> str:
    return f"{reverse('taxonomy:index')}?kind={reason.kind}#reason-{reason.pk}"


def apply_error(form, exc: services.TaxonomyError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
