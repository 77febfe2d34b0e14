"""What the deal services tell other apps: the one way work caused by a close leaves `deals`.

The dependency runs one way. Apps that act on a close import `deals` and connect here in their
AppConfig.ready; `deals` imports none of them:
- followups schedules the nurture sequence and the reopen reminder on a lost / no-decision close,
  and cancels what is still to come on a win or a reopen (followups/receivers.py);
- crm records the write-back of a close made here (crm/receivers.py).

`deal_closing` and `deal_reopening` are sent inside the change's transaction, under the deal's
row lock, once its rows are written: a receiver's writes commit or roll back with the change.
A receiver refuses the change by raising a ServiceError (closedlost.errors); the deal service
raises it again as a DealError with the same message and field, and nothing is written (e.g.
an inactive nurture sequence refuses the close, naming `nurture_sequence`).

`close_choices` lets an app add a choice to the lost and no-decision closes (the nurture
sequence): a form field, its API fields, and how its value reaches the close service, whose
keyword arguments pass it on to the `deal_closing` receivers untouched.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.dispatch import Signal

# Sent on commit after a deal was closed or its missing reason was given.
# Keyword arguments: deal_id, closure_id, via_crm (True when a CRM made the change).
deal_closed = Signal()

# Sent inside the close's transaction once its rows are written (a close, or a missing reason
# given). Keyword arguments: deal_id, closure_id, via_crm; closure (the standing Closure, its
# `deal` the locked row with owner and account loaded); nurture_sequence and skip_nurture (the
# rep's follow-up choice as given to the service: a sequence or None, and a bool).
deal_closing = Signal()

# Sent inside the reopen's transaction once the deal is open again. Keyword arguments: deal_id,
# closure_id and closure (the closure just marked reopened), reopened_at, via_crm. Follow-ups
# cancel what is still to come; the CRM write-back queues the reopen with it, or not at all.
deal_reopening = Signal()


# Sent inside deal_change_owner's transaction once the deal is the new owner's. Keyword
# arguments: deal_id, previous_owner_id, owner (the User), via_crm (True when a CRM made the
# change). Follow-ups move the previous owner's open tasks and reminders on the deal to the new
# owner; the CRM write-back sends an owner change made here to the CRM.
deal_owner_changing = Signal()


@dataclass(frozen=True)
class CloseChoice:
    """A choice another app adds to the lost and no-decision closes, on the page and in the API.

    `form_field()` builds the form field; `service_kwargs(form, name)` turns the form's value
    into the close service's keyword arguments; `api_fields()` gives the API's fields, named as
    those keyword arguments."""

    form_field: Callable[[], Any]
    service_kwargs: Callable[[Any, str], dict]
    api_fields: Callable[[], dict[str, Any]]


close_choices: dict[str, CloseChoice] = {}


def close_choice_register(name: str, choice: CloseChoice) -> None:
    """Add `choice` to the close form (as field `name`) and API; called from an AppConfig.ready."""
    close_choices[name] = choice


# Sent inside deal_contacts_set's transaction once the links are written. Keyword arguments:
# added and removed, each a list of (deal_id, contact_id). Follow-ups cancel a removed contact's
# pending e-mails and give a contact added to a closed deal the e-mails its close set.
deal_contacts_changed = Signal()


# Which of some addresses asked for no more e-mail (the follow-ups app keeps the opt-outs and
# registers its lookup here), so deal pages and the API show who will not be written to.
_opt_out_lookups: list[Callable[[list[str]], set[str]]] = []


def opt_out_lookup_register(lookup: Callable[[list[str]], set[str]]) -> None:
    _opt_out_lookups.append(lookup)


def opted_out(emails: list[str]) -> set[str]:
    """The lower-cased addresses among `emails` that opted out (empty if no app keeps opt-outs)."""
    found: set[str] = set()
    for lookup in _opt_out_lookups:
        found |= lookup([e for e in emails if e])
    return found


# Sent inside contact_erase's transaction, after the contact's own row is emptied. Keyword
# arguments: contact_id, name and email (what was erased, to find and remove copies; never
# stored), deal_ids (the deals the contact was on). Each app removes what it holds of the person
# and returns {what: count} for the erasure's record (counts only).
contact_erasing = Signal()
