"""The people pages' forms: they present the services' rules, which live in people.services."""

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm, SetPasswordForm

from people import services
from people.models import PersonEvent
from people.throttle import reset_email_allowed
from teams.models import Team, User


class InviteForm(forms.Form):
    name = forms.CharField(max_length=150, help_text="First and last name.")
    email = forms.EmailField(label="E-mail", help_text="They sign in with it; the invite goes there.")
    role = forms.ChoiceField(choices=User.Role.choices, initial=User.Role.REP)
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"), required=False, help_text="A rep sells in one team."
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=User.Role.choices)


class TeamsForm(forms.Form):
    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="A rep sells in one team; a manager manages any number.",
    )


class NameForm(forms.Form):
    name = forms.CharField(max_length=150)


class DeactivateForm(forms.Form):
    successor = forms.ModelChoiceField(
        queryset=User.objects.none(),
        required=False,
        label="Their open deals and follow-ups go to",
        empty_label="— choose a person —",
    )

    def __init__(self, *args, person: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["successor"].queryset = (
            User.objects.filter(is_active=True)
            .exclude(pk=person.pk)
            .order_by("first_name", "last_name", "username")
        )
        self.fields["successor"].label_from_instance = lambda u: f"{u.display_name} ({u.get_role_display()})"


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file", help_text="Columns: name, email, role, team (UTF-8, header row)."
    )


# --- passwords -------------------------------------------------------------------------------


class ResetRequestForm(PasswordResetForm):
    """Django's reset form, whose e-mails go through the outbox (people.mail) at most
    PEOPLE_RESET_EMAILS_PER_HOUR times an hour per address; the page says the same either way."""

    def save(self, **kwargs) -> None:
        email = self.cleaned_data["email"]
        if reset_email_allowed(email):
            services.password_reset_request(users=list(self.get_users(email)))


class ServiceSetPasswordForm(SetPasswordForm):
    """Set a password through people.services (a history row), after Django's validators."""

    action = PersonEvent.Action.PASSWORD_RESET

    def save(self, commit: bool = True) -> User:
        return services.user_set_password(
            user=self.user, password=self.cleaned_data["new_password1"], actor=self.user, action=self.action
        )


class ServicePasswordChangeForm(PasswordChangeForm):
    """The signed-in person's change: the old password is checked through authenticate(), so a
    wrong one counts towards the sign-in lockout (django-axes) like a wrong sign-in."""

    action = PersonEvent.Action.PASSWORD_CHANGED

    def __init__(self, user, *args, request=None, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        checked = authenticate(self.request, username=self.user.get_username(), password=old_password)
        if checked is None or checked.pk != self.user.pk:
            raise forms.ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password

    def save(self, commit: bool = True) -> User:
        return services.user_set_password(
            user=self.user, password=self.cleaned_data["new_password1"], actor=self.user, action=self.action
        )


class InviteAcceptForm(SetPasswordForm):
    """The invited person's first password (Django's validators); saved by invitation_accept."""

    def save(self, commit: bool = True):  # the view calls the service with the invitation
        raise NotImplementedError


class TeamNameForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=100)
