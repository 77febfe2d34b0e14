"""Celery tasks of the dashboards: thin wrappers around insights.rollup, safe to run twice."""

import logging

from celery import shared_task

from insights import rollup

logger = logging.getLogger(__name__)


@shared_task(name="insights.compact_rollup", acks_late=True, ignore_result=True)
def compact_rollup() -> int:
    """Every few minutes (beat): fold the rollup rows the triggers appended."""
    folded = rollup.rollup_compact()
    logger.info("rollup compacted", extra={"folded": folded})
    return folded


@shared_task(name="insights.check_rollup", ignore_result=True)
def check_rollup() -> dict[str, int]:
    """Nightly (beat): compare the summary with the deals; rebuild it if they disagree."""
    drift = rollup.rollup_drift()
    if any(drift.values()):
        logger.error("dashboard summary disagreed with the deals; rebuilding", extra={"drift": drift})
        rollup.rollup_rebuild()
    return drift
