"""The reps' reason guide (every signed-in user)."""

from django.shortcuts import render
from django.views.decorators.http import require_safe

from reasons.models import ReasonKind
from reasons.selectors import (
    reason_guide,
)

# --- the reason guide (every signed-in user) ------------------------------------------------------


@require_safe
def guide_view(request):
    guide = reason_guide()
    sections = [(value, label, guide[value]) for value, label in ReasonKind.choices]
    return render(request, "reasons/guide.html", {"sections": sections})
