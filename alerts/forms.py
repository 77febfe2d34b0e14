"""The admins' alert-rule form: it presents the choices; alerts.services decides the rules."""

from django import forms
from django.db.models import Q

from alerts.models import AlertRule, Period, RuleKind, Subject, WebhookKind
from reasons.models import Competitor, Reason, ReasonKind
from teams.models import Membership, Team, User


class AlertRuleForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Shown in the e-mail subject and the message.")
    kind = forms.ChoiceField(
        label="Alert when",
        choices=[
            (RuleKind.FINDING, "A significant finding about a competitor, reason or team"),
            (RuleKind.WIN_RATE_DROP, "The win rate drops significantly by more than N points"),
            (RuleKind.BACKLOG, "The “needs a reason” backlog is over N deals"),
        ],
        widget=forms.RadioSelect,
    )
    subject = forms.ChoiceField(
        label="The finding is about", required=False, choices=[("", "—"), *Subject.choices],
        help_text="For a finding: a competitor, a reason, or any finding in the chosen team.",
    )  # fmt: skip
    competitor = forms.ModelChoiceField(queryset=Competitor.objects.none(), required=False)
    reason = forms.ModelChoiceField(queryset=Reason.objects.none(), required=False, label="Loss reason")
    threshold = forms.IntegerField(
        required=False, min_value=1, label="N",
        help_text="Percentage points for a win-rate drop; deals for the backlog.",
    )  # fmt: skip
    period = forms.ChoiceField(
        choices=Period.choices, label="Check every",
        help_text="Each week (Monday–Sunday) or month against the one before; at most one alert each.",
    )  # fmt: skip
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"), required=False, empty_label="The whole organisation",
        label="Scope",
    )  # fmt: skip
    recipients = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(), required=False, widget=forms.CheckboxSelectMultiple,
        label="E-mail recipients", help_text="Admins, or managers of the scoped team.",
    )  # fmt: skip
    webhook_kind = forms.ChoiceField(choices=WebhookKind.choices, required=False, label="Webhook")
    webhook_url = forms.CharField(
        required=False, max_length=500, label="Incoming-webhook address",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Slack or Microsoft Teams gives it when you add an incoming webhook. Kept encrypted.",
    )  # fmt: skip
    clear_webhook = forms.BooleanField(required=False, label="Remove the stored webhook address")

    def __init__(self, *args, rule: AlertRule | None = None, **kwargs):
        self.rule = rule
        if rule is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": rule.name, "kind": rule.kind, "subject": rule.subject,
                    "competitor": rule.competitor_id, "reason": rule.reason_id,
                    "threshold": rule.threshold, "period": rule.period,
                    "team": rule.team_id, "recipients": [u.pk for u in rule.recipients.all()],
                    "webhook_kind": rule.webhook_kind,
                },
            )  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["competitor"].queryset = Competitor.objects.filter(merged_into__isnull=True).order_by(
            "name"
        )
        self.fields["reason"].queryset = Reason.objects.filter(
            kind=ReasonKind.LOSS, merged_into__isnull=True
        ).order_by("label")
        managers = Membership.objects.filter(role=Membership.Role.MANAGER).values("user")
        self.fields["recipients"].queryset = User.objects.filter(
            Q(role=User.Role.ADMIN) | Q(is_superuser=True) | Q(pk__in=managers), is_active=True
        ).order_by("first_name", "last_name", "username")
        self.fields["recipients"].label_from_instance = lambda user: (
            f"{user.display_name} ({user.get_role_display()})"
        )
        if rule is not None and rule.webhook_url:
            self.fields[
                "webhook_url"
            ].help_text = "An address is set (hidden). Leave blank to keep it, type a new one to replace it."
        else:
            del self.fields["clear_webhook"]

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        address, clear = data.pop("webhook_url", "").strip(), data.pop("clear_webhook", False)
        recipients = list(data.pop("recipients"))
        # A new rule takes the address as typed; a change keeps the stored one when left blank.
        kept = "" if clear else (address or None)
        webhook_url = address if self.rule is None else kept
        data["threshold"] = data.get("threshold")
        return {**data, "recipients": recipients, "webhook_url": webhook_url}
