"""Password pages: the invite link (set a first password), reset by e-mail and change, on Django's
auth views with the product's templates. The public ones are limited per address
(PEOPLE_PAGE_RATE_LIMIT); reset e-mails go through the outbox at most
PEOPLE_RESET_EMAILS_PER_HOUR an hour per address, and the reset page answers the same whether
or not the address has an account."""

from axes.utils import reset as axes_reset
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_http_methods

from people import services
from people.errors import InviteLinkError, PeopleError
from people.forms import InviteAcceptForm, ResetRequestForm, ServicePasswordChangeForm, ServiceSetPasswordForm
from people.throttle import page_allowed
from people.tokens import invitation_from_token

LINK_PROBLEMS = {
    "expired": (
        "This invite link has expired",
        "Invite links work for a few days. Ask your admin to send it again.",
    ),
    "used": (
        "This invite link was already used",
        "You have set your password already: sign in with your e-mail.",
    ),
    "invalid": ("This invite link does not work", "It may have been sent again or revoked. Ask your admin."),
}


def too_many(request):
    return render(request, "people/too_many.html", status=429)


@login_not_required
@require_http_methods(["GET", "POST"])
def join_view(request, token: str):
    """The invited person sets their password, once, while the link is valid."""
    if not page_allowed(request, "join"):
        return too_many(request)
    try:
        invitation = invitation_from_token(token)
    except InviteLinkError as exc:
        title, text = LINK_PROBLEMS[exc.reason]
        return render(request, "people/link_problem.html", {"title": title, "text": text}, status=410)
    form = InviteAcceptForm(invitation.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(
                invitation=invitation, password=form.cleaned_data["new_password1"]
            )
        except PeopleError as exc:
            form.add_error("new_password1" if exc.field == "new_password1" else None, exc.message)
        else:
            messages.success(request, f"Your password is set. Sign in as {user.get_username()}.")
            return redirect(f"{reverse_lazy('login')}?username={user.get_username()}")
    status = 400 if request.method == "POST" else 200
    return render(request, "people/join.html", {"form": form, "invitation": invitation}, status=status)


@method_decorator(login_not_required, name="dispatch")  # as Django's own public auth views
class Throttled:
    """A public view that answers 429 once an address is over PEOPLE_PAGE_RATE_LIMIT."""

    throttle_scope = "password"
    throttle_methods = ("POST",)

    def dispatch(self, request, *args, **kwargs):
        if request.method in self.throttle_methods and not page_allowed(request, self.throttle_scope):
            return too_many(request)
        return super().dispatch(request, *args, **kwargs)


class PasswordResetView(Throttled, auth_views.PasswordResetView):
    throttle_scope = "reset-request"
    form_class = ResetRequestForm
    template_name = "people/password_reset_form.html"
    success_url = reverse_lazy("password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "people/password_reset_done.html"


class PasswordResetConfirmView(Throttled, auth_views.PasswordResetConfirmView):
    throttle_scope = "reset-link"
    throttle_methods = ("GET", "POST")
    form_class = ServiceSetPasswordForm
    template_name = "people/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        axes_reset(username=form.user.get_username())  # a new password lifts an earlier lockout
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "people/password_reset_complete.html"


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = ServicePasswordChangeForm
    template_name = "people/password_change_form.html"
    success_url = reverse_lazy("password_change_done")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "people/password_change_done.html"
