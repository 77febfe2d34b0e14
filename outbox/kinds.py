"""The registry of hand-off kinds: each app registers its own in AppConfig.ready(), so the
outbox runs their work without importing them and apps never import each other for it."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    """`handle(item)` does one item's work, safe to run twice; it returns None when the item is
    finished (done, ignored or failed for good) or the seconds after which to try it again."""

    name: str
    label: str
    handle: Callable[[Any], float | None]
    failures: Callable[[], int] | None = None  # how many of this kind failed for good
    failures_url: str = ""  # where an operator inspects and replays them
    lease: int | None = None  # seconds a worker holds a message; None: OUTBOX_CLAIM_LEASE
    # For items handed over without an outbox row (handoff_publish_soon), their rows being the
    # intent: `left_over(now=, older_than=, lease=, limit=)` marks and returns those no worker
    # finished (received before `older_than`, or held longer than `lease`); the sweep puts them
    # into outbox rows. It must not return the same item again within `lease`.
    left_over: Callable[..., list] | None = None
    # An item whose handler raises is tried this many times in all (None: OUTBOX_MAX_ATTEMPTS),
    # with growing waits, then it fails for good and waits in the outbox for an admin.
    attempts: int | None = None
    # A kind whose own rows hand items out again (a backstop) marks them failed too, in the same
    # transaction (`on_failed(item, error)`), and ready again when an admin replays one (`on_replay`).
    on_failed: Callable[[Any, str], None] | None = None
    on_replay: Callable[[Any], None] | None = None


class FailedForGood(Exception):
    """Raised by a handler when its item can never succeed as it stands (an address revoked, a
    webhook removed): it fails for good at once, with this error, instead of being tried again."""


KINDS: dict[str, Kind] = {}


def register(name: str, **fields) -> Kind:
    kind = KINDS[name] = Kind(name=name, **fields)
    return kind


def get(name: str) -> Kind:
    return KINDS[name]
