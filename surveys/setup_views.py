"""The admins' survey settings page (texts, timing) with a preview of the e-mail; 404 for others."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from followups.buyer_templates import ALLOWED_LIST, NotSendable
from surveys import emails, setup
from surveys.models import SurveySettings, SurveySettingsChange

SAMPLE_URL = "https://example.invalid/surveys/answer/preview/"


class SurveySettingsForm(forms.ModelForm):
    class Meta:
        model = SurveySettings
        fields = setup.FIELDS
        labels = {
            "intro": "Introduction on the survey page",
            "email_subject": "E-mail subject",
            "email_body": "E-mail text",
            "loss_days": "Send on its own, days after a loss",
            "no_decision_days": "Send on its own, days after a No Decision",
        }


@require_http_methods(["GET", "POST"])
def survey_setup_view(request):
    if not request.user.is_revops_admin:
        raise Http404("No such page.")
    config = SurveySettings.load()
    form = SurveySettingsForm(request.POST or None, instance=SurveySettings.load())
    if request.method == "POST" and form.is_valid():
        try:
            setup.survey_settings_update(
                actor=request.user, **{name: form.cleaned_data[name] for name in setup.FIELDS}
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "The survey settings are saved.")
            return redirect("surveys:setup")
    try:
        subject, body, _context = emails.render_email(
            config=config, contact_name="Sam Example", account_name="Example Ltd", url=SAMPLE_URL,
            owner=request.user,
        )  # fmt: skip
    except NotSendable as error:
        subject, body = "", str(error)
    context = {
        "form": form,
        "preview": {"subject": subject, "text": body},
        "history": SurveySettingsChange.objects.select_related("actor")[:10],
        "problems": config.buyer_template_problems(),
        "allowed_list": ALLOWED_LIST,
    }
    return render(request, "surveys/setup.html", context, status=400 if form.errors else 200)
