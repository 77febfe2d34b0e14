"""The taxonomy's category pages: create, rename, move."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from reasons import services
from reasons.forms import CategoryForm
from reasons.models import ReasonCategory
from reasons.views.common import (
    admin_required,
    apply_error,
    kind_param,
)

# --- categories ----------------------------------------------------------------------------------


@admin_required
@require_http_methods(["GET", "POST"])
def category_create_view(request):
    kind = kind_param(request.GET.get("kind"))
    form = CategoryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            category = services.category_create(
                actor=request.user, code=form.cleaned_data["code"], name=form.cleaned_data["name"]
            )
        except services.TaxonomyError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, f"Category “{category.name}” created.")
            return redirect(f"{reverse('taxonomy:index')}?kind={kind}#category-{category.pk}")
    return render(
        request,
        "reasons/simple_form.html",
        {"form": form, "title": "New category", "back": f"{reverse('taxonomy:index')}?kind={kind}"},
        status=400 if request.method == "POST" else 200,
    )


@admin_required
@require_http_methods(["GET", "POST"])
def category_edit_view(request, pk: int):
    category = get_object_or_404(ReasonCategory, pk=pk)
    kind = kind_param(request.GET.get("kind"))
    form = CategoryForm(request.POST or None, category=category)
    if request.method == "POST" and form.is_valid():
        try:
            services.category_update(actor=request.user, category=category, name=form.cleaned_data["name"])
        except services.TaxonomyError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, f"Category “{category.name}” saved.")
            return redirect(f"{reverse('taxonomy:index')}?kind={kind}#category-{category.pk}")
    return render(
        request,
        "reasons/simple_form.html",
        {
            "form": form,
            "title": f"Rename “{category.name}”",
            "back": f"{reverse('taxonomy:index')}?kind={kind}",
        },
        status=400 if request.method == "POST" else 200,
    )


@admin_required
@require_POST
def category_move_view(request, pk: int):
    category = get_object_or_404(ReasonCategory, pk=pk)
    kind = kind_param(request.POST.get("kind"))
    direction = request.POST.get("direction", "")
    try:
        services.category_reorder(actor=request.user, category=category, direction=direction)
    except services.TaxonomyError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Category “{category.name}” moved {direction}.")
    return redirect(f"{reverse('taxonomy:index')}?kind={kind}#category-{category.pk}")
