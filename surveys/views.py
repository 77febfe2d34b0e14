"""The buyer's survey pages (no sign-in), the rep's "Send survey", and the feedback figures."""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.settings import api_settings

from closedlost.throttling import UserRateThrottle
from deals.models import DealStatus
from deals.selectors import deal_get_for_user
from insights.forms import owners_visible_to, teams_visible_to
from surveys import selectors, services
from surveys.exports import figure_table
from surveys.forms import FiguresFilterForm, SurveyForm
from surveys.models import Survey, SurveySettings, SurveyState


class SurveyPageThrottle(UserRateThrottle):
    """The survey pages' limit per address, counted in the shared "throttle" cache."""

    scope = "survey"

    def get_rate(self) -> str:
        from django.conf import settings

        return settings.SURVEYS_RATE_LIMIT

    def get_ident(self, request) -> str:
        # Without a configured proxy count, X-Forwarded-For is the client's own say: not trusted.
        if api_settings.NUM_PROXIES is None:
            return request.META.get("REMOTE_ADDR", "")
        return super().get_ident(request)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _problem(request, *, title: str, text: str, status: int) -> HttpResponse:
    return render(request, "surveys/problem.html", {"title": title, "text": text}, status=status)


EXPIRED = (
    "This link has expired",
    "Survey links work for a limited time. Thank you for your interest all the same.",
)
INVALID = (
    "This link does not work",
    "The address may be incomplete; please copy the whole link from the e-mail.",
)
CLOSED = ("This survey is closed", "Thank you all the same: there is nothing more to answer here.")
ANSWERED = (
    "You have already answered",
    "Thank you: we received your answers. A survey takes one answer only.",
)


def _survey_for(request, token: str) -> tuple[Survey | None, HttpResponse | None]:
    if not SurveyPageThrottle().allow_request(request, None):
        return None, _problem(
            request, title="Too many requests", text="Please wait a minute and try again.", status=429
        )
    check = services.survey_token_check(token)
    if check.problem:
        title, text = EXPIRED if check.problem == "expired" else INVALID
        return None, _problem(
            request, title=title, text=text, status=410 if check.problem == "expired" else 404
        )
    survey = (
        Survey.objects.select_related("closure", "deal__account", "contact", "response")
        .filter(pk=check.survey_id)
        .first()
    )
    if survey is None:
        return None, _problem(request, title=INVALID[0], text=INVALID[1], status=404)
    if hasattr(survey, "response"):
        return None, _problem(request, title=ANSWERED[0], text=ANSWERED[1], status=409)
    if survey.state == SurveyState.CANCELLED or survey.deal.status == DealStatus.WON:
        return None, _problem(request, title=CLOSED[0], text=CLOSED[1], status=410)
    return survey, None


@login_not_required
@require_http_methods(["GET", "POST"])
def answer_view(request, token: str):
    survey, problem = _survey_for(request, token)
    if problem:
        return problem
    form = SurveyForm(request.POST or None, kind=survey.closure.reason_kind)
    if request.method == "POST" and form.is_valid():
        try:
            services.survey_answer(survey_id=survey.pk, answer=form.answer())
        except services.SurveyAlreadyAnswered:
            return _problem(request, title=ANSWERED[0], text=ANSWERED[1], status=409)
        except services.SurveyClosed:
            return _problem(request, title=CLOSED[0], text=CLOSED[1], status=410)
        except services.SurveyError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            return redirect("surveys:thanks", token=token)
    config = SurveySettings.load()
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "intro": config.intro, "account": survey.deal.account.name}
    return render(request, "surveys/answer.html", context, status=status)


@login_not_required
def thanks_view(request, token: str):
    check = services.survey_token_check(token)
    if check.problem or not Survey.objects.filter(pk=check.survey_id, response__isnull=False).exists():
        return _problem(request, title=INVALID[0], text=INVALID[1], status=404)
    return render(request, "surveys/thanks.html")


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


@require_POST
def send_view(request, pk: int):
    """The rep's "Send survey" on the deal page."""
    deal = deal_get_for_user(user=request.user, pk=pk)
    try:
        surveys = services.survey_request(deal=deal, actor=request.user)
    except services.SurveyError as error:
        messages.error(request, error.message)
    else:
        going = [s.contact.name for s in surveys if s.state == SurveyState.PENDING]
        messages.success(request, f"The survey is on its way to {_names(going)}.")
        skipped = [s.contact.name for s in surveys if s.state == SurveyState.FAILED]
        if skipped:
            messages.warning(request, f"Not sent to {_names(skipped)}: no e-mail address.")
    return redirect("deals:detail", pk=deal.pk)


def _figures_filters(request) -> tuple[FiguresFilterForm, selectors.FeedbackFilters]:
    form = FiguresFilterForm(
        request.GET or None, teams=teams_visible_to(request.user), owners=owners_visible_to(request.user)
    )
    return form, selectors.FeedbackFilters(**form.values())


def figures_view(request):
    form, filters = _figures_filters(request)
    user = request.user
    figures = {
        name.replace("-", "_"): figure(user=user, filters=filters)
        for name, figure in selectors.FIGURES.items()
    }
    query = "&".join(f"{k}={v}" for k, v in filters.as_query().items())
    return render(request, "surveys/figures.html", {"form": form, "f": figures, "query": query})


class _Echo:
    def write(self, value):
        return value


def export_view(request, name: str):
    """One feedback figure as CSV (the same selector as the page and the API)."""
    if name not in selectors.FIGURES:
        raise Http404("No such figure.")
    _form, filters = _figures_filters(request)
    header, rows = figure_table(name, selectors.FIGURES[name](user=request.user, filters=filters))
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="closedlost-feedback-{name}.csv"'
    return response
