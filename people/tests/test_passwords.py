"""Password reset and change, and the invite link: the same answer whether or not an address
has an account, e-mails through the outbox, links that work once and expire, Django's password
rules, the sign-in lockout and the per-address limits."""

import re

import pytest
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import mail as django_mail
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from outbox.models import Message
from people import services
from people.mail import people_mail_handoff
from people.models import PeopleMail, PersonEvent
from people.tokens import invite_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_limits(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.AXES_ENABLED = True
    caches["throttle"].clear()
    yield
    caches["throttle"].clear()


def _deliver_all() -> None:
    """What the worker does with each people e-mail's outbox message."""
    for message in Message.objects.filter(kind="people.mail"):
        for item in message.items:
            people_mail_handoff(item)


def _link(message) -> str:
    """The link in the e-mail's text, as a path on this test server."""
    url = re.search(r"https?://\S+/(?:people/join|password/reset)/\S+", message.body).group(0)
    return re.sub(r"^https?://[^/]+", "", url)


def test_reset_answers_the_same_for_known_and_unknown_addresses(client, world):
    known = client.post(reverse("password_reset"), {"email": "ALICE@closedlost.invalid"}, follow=True)
    unknown = client.post(reverse("password_reset"), {"email": "nobody@closedlost.invalid"}, follow=True)
    assert known.redirect_chain == unknown.redirect_chain == [(reverse("password_reset_done"), 302)]
    strip = lambda r: re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", r.content.decode())  # noqa: E731
    assert strip(known) == strip(unknown)
    assert list(PeopleMail.objects.values_list("kind", "user__username")) == [("password_reset", "alice")]
    assert Message.objects.filter(kind="people.mail").count() == 1
    assert django_mail.outbox == []  # nothing is sent by the request itself
    _deliver_all()
    _deliver_all()  # a message delivered twice sends once
    assert len(django_mail.outbox) == 1 and django_mail.outbox[0].to == ["alice@closedlost.invalid"]


def test_reset_link_works_once_and_applies_the_password_rules(client, world):
    client.post(reverse("password_reset"), {"email": "alice@closedlost.invalid"})
    _deliver_all()
    message = django_mail.outbox[0]
    assert message.subject == "Reset your closedlost password"
    html = message.alternatives[0][0]
    link = _link(message)
    assert link in html and "works once, for 2 hours" in message.body
    form_page = client.get(link, follow=True)
    set_url = form_page.redirect_chain[-1][0]
    weak = client.post(set_url, {"new_password1": "password", "new_password2": "password"})
    assert weak.status_code == 200 and "This password is too common" in weak.content.decode()
    similar = client.post(set_url, {"new_password1": "alice-closedlost", "new_password2": "alice-closedlost"})
    assert "too similar" in similar.content.decode()
    done = client.post(
        set_url, {"new_password1": "quiet-harbour-7781", "new_password2": "quiet-harbour-7781"}
    )
    assert done.status_code == 302 and done.url == reverse("password_reset_complete")
    world.alice.refresh_from_db()
    assert world.alice.check_password("quiet-harbour-7781")
    event = PersonEvent.objects.get(person=world.alice)
    assert (event.action, event.actor) == ("password_reset", world.alice)
    again = Client().get(link, follow=True)
    assert "This link does not work" in again.content.decode()


def test_an_expired_reset_link_is_refused(client, world, settings):
    generator = PasswordResetTokenGenerator()
    old = generator._num_seconds(generator._now()) - settings.PASSWORD_RESET_TIMEOUT - 60
    token = generator._make_token_with_timestamp(world.alice, old, generator.secret)
    uid = urlsafe_base64_encode(force_bytes(world.alice.pk))
    page = client.get(reverse("password_reset_confirm", args=[uid, token]), follow=True)
    assert "This link does not work" in page.content.decode()


def test_reset_emails_are_limited_per_address_and_requests_per_network(client, world, settings):
    for _ in range(5):
        client.post(reverse("password_reset"), {"email": "alice@closedlost.invalid"})
    assert PeopleMail.objects.count() == settings.PEOPLE_RESET_EMAILS_PER_HOUR == 3
    settings.PEOPLE_PAGE_RATE_LIMIT = "5/min"  # five asked already
    limited = client.post(reverse("password_reset"), {"email": "erin@closedlost.invalid"})
    assert limited.status_code == 429 and "Too many requests" in limited.content.decode()
    assert not PeopleMail.objects.filter(user=world.erin).exists()
    other_network = Client(REMOTE_ADDR="198.51.100.7")
    assert (
        other_network.post(reverse("password_reset"), {"email": "erin@closedlost.invalid"}).status_code == 302
    )


def test_password_change_counts_wrong_passwords_towards_the_lockout(world):
    browser = Client()
    browser.force_login(world.alice)
    form = {
        "old_password": "wrong",
        "new_password1": "quiet-harbour-7781",
        "new_password2": "quiet-harbour-7781",
    }
    for _ in range(4):
        wrong = browser.post(reverse("password_change"), form)
        assert (
            wrong.status_code == 200 and "Your old password was entered incorrectly" in wrong.content.decode()
        )
    locked = browser.post(reverse("password_change"), form)
    assert locked.status_code == 429 and "Sign-in paused" in locked.content.decode()
    right = browser.post(reverse("password_change"), {**form, "old_password": "a-long-test-password"})
    assert right.status_code == 429  # locked for this account from this address
    world.alice.refresh_from_db()
    assert world.alice.check_password("a-long-test-password")


def test_password_change_keeps_this_session_and_ends_the_others(world):
    here, elsewhere = Client(), Client()
    for browser in (here, elsewhere):
        assert (
            browser.post(
                reverse("login"), {"username": "alice", "password": "a-long-test-password"}
            ).status_code
            == 302
        )
    form = {"old_password": "a-long-test-password", "new_password1": "quiet-harbour-7781",
            "new_password2": "quiet-harbour-7781"}  # fmt: skip
    assert here.post(reverse("password_change"), form).url == reverse("password_change_done")
    assert here.get(reverse("deals:list")).status_code == 200
    assert elsewhere.get(reverse("deals:list")).status_code == 302
    assert PersonEvent.objects.get(person=world.alice).action == "password_changed"


def test_invite_link_sets_a_password_once(client, world, settings):
    invitation = services.user_invite(
        email="noor@example.com", name="Noor Birch", role="rep", team=world.east, actor=world.carol
    )
    _deliver_all()
    message = django_mail.outbox[0]
    assert message.to == ["noor@example.com"] and message.subject == "Carol invited you to closedlost"
    assert "team East" in message.body
    link = _link(message)
    assert link == reverse("people:join", args=[invite_token(invitation)])
    page = client.get(link)
    assert (
        page.status_code == 200
        and "You will sign in as <strong>noor@example.com</strong>" in page.content.decode()
    )
    weak = client.post(link, {"new_password1": "noor", "new_password2": "noor"})
    assert weak.status_code == 400 and "too short" in weak.content.decode()
    done = client.post(link, {"new_password1": "quiet-harbour-7781", "new_password2": "quiet-harbour-7781"})
    assert done.status_code == 302
    assert (
        client.post(
            reverse("login"), {"username": "noor@example.com", "password": "quiet-harbour-7781"}
        ).status_code
        == 302
    )
    used = Client().get(link)
    assert used.status_code == 410 and "already used" in used.content.decode()
    forged = Client().get(link[:-3] + "xyz/")
    assert forged.status_code == 410 and "does not work" in forged.content.decode()
    settings.PEOPLE_PAGE_RATE_LIMIT = "2/min"
    stranger = Client(REMOTE_ADDR="203.0.113.5")
    assert [stranger.get(link).status_code for _ in range(3)] == [410, 410, 429]


def test_a_revoked_or_resent_invite_email_is_not_sent(world):
    invitation = services.user_invite(
        email="noor@example.com", name="Noor Birch", role="rep", team=world.east, actor=world.carol
    )
    services.invitation_resend(invitation=invitation, actor=world.carol)
    _deliver_all()
    assert len(django_mail.outbox) == 1  # the first e-mail's link was replaced before it went
    assert _link(django_mail.outbox[0]).endswith(invite_token(invitation.__class__.objects.get()) + "/")
