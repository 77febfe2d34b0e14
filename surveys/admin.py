"""Admins edit the survey's texts, the buyer wording per reason and category, and when it is sent;
they preview the survey page and its e-mail from the settings page."""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from closedlost.admin import ReadOnlyAdmin
from reasons.models import ReasonKind
from surveys import emails
from surveys.forms import SurveyForm
from surveys.models import CategoryWording, ReasonWording, Survey, SurveySettings
from surveys.wording import CATEGORY_DEFAULTS, REASON_DEFAULTS

SAMPLE_URL = "https://example.invalid/surveys/answer/preview/"


class SurveySettingsForm(forms.ModelForm):
    class Meta:
        model = SurveySettings
        fields = ("intro", "email_subject", "email_body", "loss_days", "no_decision_days")

    # A broken or forbidden placeholder stops here (the model fields' validators), not in the
    # worker at sending time.


@admin.register(SurveySettings)
class SurveySettingsAdmin(ReadOnlyAdmin):
    """Read-only (with its previews): the settings change on /surveys/setup/ (surveys.setup)."""

    form = SurveySettingsForm
    list_display = ("__str__", "loss_days", "no_decision_days", "previews")

    def changelist_view(self, request, extra_context=None):
        return redirect("admin:surveys_surveysettings_change", SurveySettings.load().pk)

    @admin.display(description="Preview")
    def previews(self, obj):
        return format_html(
            '<a href="{}">Survey page</a> · <a href="{}">E-mail</a>',
            reverse("admin:surveys_preview_page"),
            reverse("admin:surveys_preview_email"),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        problems = SurveySettings.load().buyer_template_problems()
        if problems and request.method == "GET":
            messages.warning(
                request, f"The stored survey e-mail goes out with these placeholders empty: {problems}"
            )
        extra = {
            "preview_page": reverse("admin:surveys_preview_page"),
            "preview_email": reverse("admin:surveys_preview_email"),
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def get_urls(self):
        own = [
            path("preview/", self.admin_site.admin_view(self.preview_page), name="surveys_preview_page"),
            path(
                "preview/email/", self.admin_site.admin_view(self.preview_email), name="surveys_preview_email"
            ),
        ]
        return own + super().get_urls()

    def preview_page(self, request):
        """The survey a buyer of a lost deal sees, with the current texts and wording."""
        config = SurveySettings.load()
        context = {
            "form": SurveyForm(kind=ReasonKind.LOSS),
            "intro": config.intro,
            "account": "Example Ltd",
            "preview": True,
        }
        return render(request, "surveys/answer.html", context)

    def preview_email(self, request):
        """The survey e-mail's HTML part for a sample contact."""
        config = SurveySettings.load()
        to = "sam@example.invalid"
        subject, body, context = emails.render_email(
            config=config,
            contact_name="Sam Example",
            account_name="Example Ltd",
            url=SAMPLE_URL,
            to=to,
            owner=request.user,
        )
        message = emails.build_message(to=to, subject=subject, body=body, context=context)
        html = message.alternatives[0][0]
        return HttpResponse(html)


@admin.register(CategoryWording)
class CategoryWordingAdmin(ReadOnlyAdmin):
    """Read-only: the wording changes on /surveys/wording/ (surveys.wording_setup)."""

    list_display = ("category", "buyer_label")


@admin.register(ReasonWording)
class ReasonWordingAdmin(ReadOnlyAdmin):
    """Read-only: the wording changes on /surveys/wording/ (surveys.wording_setup)."""

    list_display = ("reason", "buyer_label", "standard_wording", "sending", "send_after_days")
    list_filter = ("sending", "reason__kind")
    search_fields = ("reason__label", "buyer_label")

    @admin.display(description="Standard buyer wording")
    def standard_wording(self, obj):
        return REASON_DEFAULTS.get(obj.reason.code, "") or CATEGORY_DEFAULTS.get(obj.reason.category.code, "")


@admin.register(Survey)
class SurveyAdmin(ReadOnlyAdmin):
    """Read-only: surveys are sent from the deal page or on their own, and answered by buyers."""

    list_display = ("pk", "deal", "contact", "source", "state", "sent_at", "created_at")
    list_filter = ("state", "source")
    list_select_related = ("deal", "contact")
