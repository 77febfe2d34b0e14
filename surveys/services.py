"""Every change of a survey goes through one function here.

Sending follows the project's hand-off rule: the Survey row (state pending) is the intent,
written in the caller's transaction; it is published after commit; beat publishes again any
row handed out longer ago than the lease; the worker delivers under a row lock, so a second
message for the same survey sends nothing.
"""

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from deals.models import Closure, Contact, Deal, DealStatus
from followups.buyer_templates import NotSendable
from followups.services import contact_opt_out, opted_out_emails
from reasons.models import Competitor, Reason
from surveys import emails
from surveys.models import ReasonWording, Survey, SurveyResponse, SurveySettings, SurveySource, SurveyState
from teams.models import User

log = logging.getLogger(__name__)

TOKEN_SALT = "surveys.link"  # noqa: S105 - a signing salt, not a password
SURVEYED_OUTCOMES = (DealStatus.LOST, DealStatus.NO_DECISION)
# Turning automatic surveys on must not write to buyers of long-gone deals.
AUTOMATIC_GRACE = timedelta(days=14)
MAX_BACKOFF_SECONDS = 300


class SurveyError(Exception):
    """A rule refused the change; the message is for the user (field: the form field at fault)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


# --- the link --------------------------------------------------------------------------


def survey_token(survey: Survey) -> str:
    """A signed, timestamped token naming this one survey and nothing else."""
    return signing.TimestampSigner(salt=TOKEN_SALT).sign(str(survey.pk))


@dataclass(frozen=True)
class TokenCheck:
    survey_id: int | None
    problem: str = ""  # "", "expired" or "invalid"


def survey_token_check(token: str) -> TokenCheck:
    """Which survey a token names, or why it names none (expired after SURVEYS_LINK_MAX_AGE_DAYS)."""
    signer = signing.TimestampSigner(salt=TOKEN_SALT)
    max_age = timedelta(days=settings.SURVEYS_LINK_MAX_AGE_DAYS)
    try:
        value = signer.unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        return TokenCheck(None, "expired")
    except signing.BadSignature:
        return TokenCheck(None, "invalid")
    return TokenCheck(int(value)) if value.isdigit() else TokenCheck(None, "invalid")


def survey_url(survey: Survey) -> str:
    from django.urls import reverse

    return emails.absolute(reverse("surveys:answer", args=[survey_token(survey)]))


# --- who may get one -------------------------------------------------------------------


def _standing_closure(deal: Deal) -> Closure | None:
    return Closure.objects.filter(deal=deal, reopened_at__isnull=True).select_related("reason").first()


def _reachable_contacts(deal: Deal, opted_out: set[str] | None = None) -> tuple[list[Contact], list[Contact]]:
    """(contacts the survey asks, contacts without an address), by id: the deal's primary contact
    when it has one with an address (none if that one opted out), else every contact with an
    address that has not opted out; `opted_out`: the opt-outs already read."""
    prefetched = "contact_links" in getattr(deal, "_prefetched_objects_cache", {})
    links = deal.contact_links.all() if prefetched else deal.contact_links.select_related("contact")
    links = sorted(links, key=lambda link: (not link.is_primary, link.contact_id))
    if links and links[0].is_primary and links[0].contact.email:
        links = links[:1]
    contacts = sorted((link.contact for link in links), key=lambda c: c.pk)
    if opted_out is None:
        opted_out = opted_out_emails([c.email for c in contacts if c.email])
    reachable = [c for c in contacts if c.email and c.email.lower() not in opted_out]
    return reachable, [c for c in contacts if not c.email]


def _check_can_survey(*, deal: Deal, closure: Closure | None) -> None:
    if deal.status == DealStatus.WON:
        raise SurveyError("A won deal gets no loss survey.")
    if deal.status not in SURVEYED_OUTCOMES or closure is None:
        raise SurveyError("Only a lost or No Decision deal gets a survey.")
    if closure.reason_id is None:
        raise SurveyError("Give the deal its standard reason first, then send the survey.")


NO_ADDRESS = "not sent: no e-mail address"


def _surveys_create(
    *, closure: Closure, deal: Deal, opted_out: set[str] | None, now: datetime, **fields
) -> list[Survey]:
    """A pending survey for each reachable contact of the close not asked yet, and a `failed`
    row (reported on the deal page) for each contact without an address; none when nobody new
    can be asked. Inside the caller's transaction."""
    reachable, no_address = _reachable_contacts(deal, opted_out)
    asked = set(Survey.objects.filter(closure=closure).values_list("contact_id", flat=True))
    to_ask = [c for c in reachable if c.pk not in asked]
    if not to_ask:
        return []
    rows = [Survey(closure=closure, deal=deal, contact=c, created_at=now, **fields) for c in to_ask] + [
        Survey(
            closure=closure,
            deal=deal,
            contact=c,
            created_at=now,
            state=SurveyState.FAILED,
            last_error=NO_ADDRESS,
            source=fields["source"],
            requested_by=fields.get("requested_by"),
        )
        for c in no_address
        if c.pk not in asked
    ]
    return Survey.objects.bulk_create(rows)


def survey_request(*, deal: Deal, actor: User, now: datetime | None = None) -> list[Survey]:
    """The rep's "Send survey": a survey of its own for each contact of the deal's standing close
    not asked yet, e-mailed by the worker; contacts without an address get a `failed` row saying so.

    Refused for won or open deals, a close without a reason, a close whose every reachable contact
    already has one, and when no contact has an address that has not opted out.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = Deal.objects.select_for_update().get(pk=deal.pk)
        closure = _standing_closure(locked)
        _check_can_survey(deal=locked, closure=closure)
        surveys = _surveys_create(
            closure=closure,
            deal=locked,
            opted_out=None,
            now=now,
            source=SurveySource.REP,
            requested_by=actor,
            queued_at=now,
        )
        if not surveys:
            if Survey.objects.filter(closure=closure).exists():
                raise SurveyError("This close already has a survey.")
            raise SurveyError("No contact of this deal can receive it (no address, or they opted out).")
        pending = [s.pk for s in surveys if s.state == SurveyState.PENDING]
        transaction.on_commit(lambda: _publish(pending), robust=True)
    return surveys


def survey_for_nurture(*, closure: Closure, contact: Contact, now: datetime | None = None) -> Survey | None:
    """The survey a nurture e-mail to `contact` links to (one per close and contact, made on first
    use); None when none may be sent."""
    now = now or timezone.now()
    deal = closure.deal
    if closure.reopened_at is not None or closure.reason_id is None or deal.status not in SURVEYED_OUTCOMES:
        return None
    if not contact.email or opted_out_emails([contact.email]):
        return None
    existing = Survey.objects.filter(closure=closure, contact=contact).first()
    if existing is not None:
        return existing if existing.state != SurveyState.CANCELLED else None
    try:
        with transaction.atomic():
            # The nurture e-mail itself carries the link: this row needs no e-mail of its own.
            return Survey.objects.create(
                closure=closure,
                deal=deal,
                contact=contact,
                source=SurveySource.NURTURE,
                state=SurveyState.SENT,
                created_at=now,
                sent_at=now,
            )
    except IntegrityError:  # a concurrent delivery made it first
        return Survey.objects.filter(closure=closure, contact=contact).first()


# --- automatic sending and dispatch (beat) --------------------------------------------


def _send_after_days(closure: Closure, config: SurveySettings) -> int | None:
    wording = getattr(closure.reason, "buyer_wording", None)
    if wording is not None and wording.sending == ReasonWording.Sending.NEVER:
        return None
    if wording is not None and wording.sending == ReasonWording.Sending.DAYS:
        return wording.send_after_days
    return config.loss_days if closure.outcome == DealStatus.LOST else config.no_decision_days


def surveys_schedule_due(*, now: datetime | None = None) -> int:
    """Create the automatic surveys that are due: standing lost / No Decision closes older than
    their reason's (or kind's) days, closed within the grace window, not surveyed yet."""
    now = now or timezone.now()
    config = SurveySettings.load()
    day_values = [config.loss_days, config.no_decision_days, 0]
    day_values += list(ReasonWording.objects.filter(sending="days").values_list("send_after_days", flat=True))
    longest = max(d for d in day_values if d is not None)
    candidates = (
        Closure.objects.filter(
            reopened_at__isnull=True,
            outcome__in=SURVEYED_OUTCOMES,
            reason__isnull=False,
            closed_at__gte=now - timedelta(days=longest) - AUTOMATIC_GRACE,
            closed_at__lte=now,
            surveys__isnull=True,
        )
        .select_related("reason__buyer_wording", "deal")
        .prefetch_related("deal__contact_links__contact")
        .order_by("closed_at")
    )
    candidates = list(candidates)
    # One read of the opt-outs for every candidate's contacts, not one per close.
    opted_out = opted_out_emails(
        [link.contact.email for c in candidates for link in c.deal.contact_links.all() if link.contact.email]
    )
    created = 0
    for closure in candidates:
        days = _send_after_days(closure, config)
        due = closure.closed_at + timedelta(days=days) if days is not None else None
        if due is None or due > now or due < now - AUTOMATIC_GRACE:
            continue
        try:
            with transaction.atomic():
                surveys = _surveys_create(
                    closure=closure,
                    deal=closure.deal,
                    opted_out=opted_out,
                    now=now,
                    source=SurveySource.AUTOMATIC,
                )
        except IntegrityError:  # another beat tick or a rep made them meanwhile
            continue
        created += sum(1 for s in surveys if s.state == SurveyState.PENDING)
    return created


def _publish(ids: list[int]) -> None:
    from closedlost.celery import app
    from surveys.tasks import send_survey

    try:
        with app.producer_or_acquire() as producer:
            for pk in ids:
                send_survey.apply_async((pk,), producer=producer)
    except Exception:  # broker away: the rows stay pending and beat hands them out again
        log.warning("survey e-mails not handed to the worker; beat retries", exc_info=True)


def surveys_dispatch(*, now: datetime | None = None, limit: int = 500, publish=None) -> int:
    """Beat's work: create due automatic surveys, then hand out every pending one not handed out
    within the lease (never handed out, or lost with a broker or worker). Returns the count."""
    now, publish = now or timezone.now(), publish or _publish
    surveys_schedule_due(now=now)
    lease = now - timedelta(seconds=settings.SURVEYS_CLAIM_LEASE)
    with transaction.atomic():
        ids = list(
            Survey.objects.select_for_update(skip_locked=True)
            .filter(state=SurveyState.PENDING)
            .exclude(queued_at__gte=lease)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Survey.objects.filter(pk__in=ids).update(queued_at=now)
            transaction.on_commit(lambda: publish(ids), robust=True)
    return len(ids)


# --- delivery (the worker) --------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    outcome: str  # sent, skipped, cancelled, retry, failed
    retry_in: int | None = None


def _cancel(survey: Survey, why: str) -> Delivery:
    survey.state, survey.cancelled_reason = SurveyState.CANCELLED, why
    survey.save(update_fields=["state", "cancelled_reason"])
    return Delivery("cancelled")


def survey_deliver(*, survey_id: int, now: datetime | None = None) -> Delivery:
    """E-mail one pending survey and mark it sent; safe to run twice (the row stays locked while
    the e-mail goes out). A won, reopened or opted-out case is cancelled instead."""
    now = now or timezone.now()
    with transaction.atomic():
        survey = (
            Survey.objects.select_for_update(of=("self",))
            .select_related("closure", "deal__account", "contact")
            .filter(pk=survey_id)
            .first()
        )
        if survey is None or survey.state != SurveyState.PENDING:
            return Delivery("skipped")
        if survey.closure.reopened_at is not None or survey.deal.status not in SURVEYED_OUTCOMES:
            return _cancel(survey, "deal no longer lost")
        if not survey.contact.email or opted_out_emails([survey.contact.email]):
            return _cancel(survey, "contact opted out")
        survey.attempts += 1
        try:
            message = emails.survey_message(survey, url=survey_url(survey), config=SurveySettings.load())
        except NotSendable as error:
            # Not as it would render (no address, an empty link, a template reaching past its
            # placeholders): reported on the row, never sent, not retried.
            survey.state, survey.last_error = SurveyState.FAILED, f"Not sent: {error}"[:500]
            survey.save(update_fields=["attempts", "last_error", "state"])
            log.warning("survey %s not sent: %s", survey.pk, error)
            return Delivery("failed")
        try:
            message.send()
        except (smtplib.SMTPException, OSError) as error:
            survey.last_error = str(error)[:500]
            failed = survey.attempts >= settings.SURVEYS_MAX_ATTEMPTS
            survey.state = SurveyState.FAILED if failed else SurveyState.PENDING
            survey.save(update_fields=["attempts", "last_error", "state"])
            if failed:
                return Delivery("failed")
            return Delivery("retry", retry_in=min(30 * 2 ** (survey.attempts - 1), MAX_BACKOFF_SECONDS))
        survey.state, survey.sent_at, survey.last_error = SurveyState.SENT, now, ""
        survey.save(update_fields=["attempts", "state", "sent_at", "last_error"])
    return Delivery("sent")


# --- the buyer's answer ------------------------------------------------------------------


@dataclass
class Answer:
    main_reason: Reason | None
    main_reason_other: str
    secondary_reasons: list[Reason]
    competitor: Competitor | None
    kept_what_they_had: bool
    process_rating: int | None
    comment: str
    may_contact_again: bool


class SurveyAlreadyAnswered(SurveyError):
    pass


class SurveyClosed(SurveyError):
    pass


def _validate_answer(survey: Survey, answer: Answer) -> None:
    kind = survey.closure.reason_kind
    if answer.main_reason is None and not answer.main_reason_other.strip():
        raise SurveyError("Tell us the main reason, or choose one from the list.", field="main_reason_other")
    chosen = [answer.main_reason] if answer.main_reason else []
    for reason in [*chosen, *answer.secondary_reasons]:
        if reason.kind != kind or not reason.active:
            raise SurveyError("Choose a reason from the list.", field="main_reason")
    if answer.competitor is not None and answer.kept_what_they_had:
        raise SurveyError("Choose a provider or “none”, not both.", field="chose_instead")
    if answer.process_rating is not None and not 1 <= answer.process_rating <= 5:
        raise SurveyError("Choose a rating from 1 to 5.", field="process_rating")


def survey_answer(*, survey_id: int, answer: Answer, now: datetime | None = None) -> SurveyResponse:
    """Store the buyer's one answer. A second answer (even a concurrent one) is refused with
    SurveyAlreadyAnswered; "may we contact you again?" No opts the contact out of every e-mail."""
    now = now or timezone.now()
    with transaction.atomic():
        survey = (
            Survey.objects.select_for_update(of=("self",))
            .select_related("closure", "contact")
            .filter(pk=survey_id)
            .first()
        )
        if survey is None or survey.state == SurveyState.CANCELLED:
            raise SurveyClosed("This survey is closed.")
        if SurveyResponse.objects.filter(survey=survey).exists():
            raise SurveyAlreadyAnswered("You have already answered this survey. Thank you!")
        _validate_answer(survey, answer)
        response = SurveyResponse.objects.create(
            survey=survey,
            main_reason=answer.main_reason,
            main_reason_other="" if answer.main_reason else answer.main_reason_other.strip(),
            competitor=answer.competitor,
            kept_what_they_had=answer.kept_what_they_had,
            process_rating=answer.process_rating,
            comment=answer.comment.strip(),
            may_contact_again=answer.may_contact_again,
            answered_at=now,
        )
        extra = [r for r in answer.secondary_reasons if r != answer.main_reason]
        response.secondary_reasons.set(extra)
        if not answer.may_contact_again and survey.contact.email:
            contact_opt_out(email=survey.contact.email, now=now)
    return response
