"""The admins' pipeline and stage pages: make and edit pipelines, add, edit, reorder, retire and
delete stages, and read their history. Reps and managers get 403. Each change is one call to
deals.pipelines, which records the history row."""

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from deals import pipelines as services
from deals.models import Pipeline, Stage
from deals.pipeline_forms import PipelineForm, StageForm
from deals.selectors import pipeline_history, pipelines_with_stages

RECENT_CHANGES = 8
HISTORY_PAGE_SIZE = 200


def admin_required(view):
    """Only admins (RevOps) reach the pipeline pages; everyone else signed in gets 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_revops_admin:
            raise PermissionDenied("Only admins (RevOps) can change pipelines and stages.")
        return view(request, *args, **kwargs)

    return wrapper


def _back_to(pipeline_id: int, stage_id: int | None = None) -> str:
    anchor = f"stage-{stage_id}" if stage_id else f"pipeline-{pipeline_id}"
    return f"{reverse('pipelines:index')}#{anchor}"


def _apply_error(form, exc: services.PipelineError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _form_page(request, form, *, title: str, back: str, intro: str = ""):
    return render(
        request,
        "deals/pipeline_form.html",
        {"form": form, "title": title, "back": back, "intro": intro},
        status=400 if request.method == "POST" else 200,
    )


@admin_required
@require_safe
def pipeline_index_view(request):
    return render(
        request,
        "deals/pipelines.html",
        {"pipelines": pipelines_with_stages(), "changes": list(pipeline_history()[:RECENT_CHANGES])},
    )


@admin_required
@require_http_methods(["GET", "POST"])
def pipeline_create_view(request):
    form = PipelineForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            pipeline = services.pipeline_create(actor=request.user, **form.cleaned_data)
        except services.PipelineError as exc:
            _apply_error(form, exc)
        else:
            messages.success(request, f"Pipeline “{pipeline.name}” created; now add its stages.")
            return redirect("pipelines:stage-create", pk=pipeline.pk)
    return _form_page(request, form, title="New pipeline", back=reverse("pipelines:index"))


@admin_required
@require_http_methods(["GET", "POST"])
def pipeline_edit_view(request, pk: int):
    pipeline = get_object_or_404(Pipeline, pk=pk)
    form = PipelineForm(request.POST or None, pipeline=pipeline)
    if request.method == "POST" and form.is_valid():
        try:
            services.pipeline_update(actor=request.user, pipeline=pipeline, **form.cleaned_data)
        except services.PipelineError as exc:
            _apply_error(form, exc)
        else:
            messages.success(request, f"Pipeline “{pipeline.name}” saved.")
            return redirect(_back_to(pipeline.pk))
    return _form_page(request, form, title=f"Edit pipeline “{pipeline.name}”", back=_back_to(pipeline.pk))


@admin_required
@require_http_methods(["GET", "POST"])
def stage_create_view(request, pk: int):
    pipeline = get_object_or_404(Pipeline, pk=pk)
    form = StageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            stage = services.stage_create(actor=request.user, pipeline=pipeline, data=form.to_data())
        except services.PipelineError as exc:
            _apply_error(form, exc)
        else:
            messages.success(request, f"Stage “{stage.name}” added to “{pipeline.name}”.")
            if "add_another" in request.POST:
                return redirect("pipelines:stage-create", pk=pipeline.pk)
            return redirect(_back_to(pipeline.pk, stage.pk))
    return render(
        request,
        "deals/pipeline_form.html",
        {
            "form": form,
            "title": f"New stage in “{pipeline.name}”",
            "back": _back_to(pipeline.pk),
            "intro": "The stage is added last; reorder it on the pipelines page.",
            "add_another": True,
            "existing": list(pipeline.stages.order_by("order")),
        },
        status=400 if request.method == "POST" else 200,
    )


@admin_required
@require_http_methods(["GET", "POST"])
def stage_edit_view(request, pk: int):
    stage = get_object_or_404(Stage.objects.select_related("pipeline"), pk=pk)
    form = StageForm(request.POST or None, stage=stage)
    if request.method == "POST" and form.is_valid():
        try:
            services.stage_update(actor=request.user, stage=stage, data=form.to_data())
        except services.PipelineError as exc:
            _apply_error(form, exc)
        else:
            messages.success(request, f"Stage “{stage.name}” saved.")
            return redirect(_back_to(stage.pipeline_id, stage.pk))
    return _form_page(
        request,
        form,
        title=f"Edit stage “{stage.name}” of “{stage.pipeline.name}”",
        back=_back_to(stage.pipeline_id, stage.pk),
        intro="Deals in this stage and closures at it keep it under its new name.",
    )


def _stage_action(request, pk: int, action, done: str, **kwargs):
    stage = get_object_or_404(Stage, pk=pk)
    name, pipeline_id = stage.name, stage.pipeline_id
    try:
        action(actor=request.user, stage=stage, **kwargs)
    except services.PipelineError as exc:
        messages.error(request, exc.message)
        return redirect(_back_to(pipeline_id, pk))
    messages.success(request, done.format(name=name))
    return redirect(_back_to(pipeline_id, None if action is services.stage_delete else pk))


@admin_required
@require_POST
def stage_move_view(request, pk: int):
    direction = request.POST.get("direction", "")
    return _stage_action(
        request, pk, services.stage_move, f"“{{name}}” moved {direction}.", direction=direction
    )


@admin_required
@require_POST
def stage_retire_view(request, pk: int):
    return _stage_action(
        request, pk, services.stage_retire, "“{name}” retired: its deals keep it; no deal moves into it."
    )


@admin_required
@require_POST
def stage_restore_view(request, pk: int):
    return _stage_action(request, pk, services.stage_restore, "“{name}” is offered again.")


@admin_required
@require_POST
def stage_delete_view(request, pk: int):
    return _stage_action(request, pk, services.stage_delete, "Stage “{name}” deleted.")


@admin_required
@require_safe
def pipeline_history_view(request):
    return render(
        request, "deals/pipeline_history.html", {"changes": list(pipeline_history()[:HISTORY_PAGE_SIZE])}
    )
