"""The CRM and follow-up fixtures (fake CRM, real SMTP, real workers), and a way to point this
process's Celery app at another broker address."""

from contextlib import contextmanager

from crm.tests.conftest import (  # noqa: F401 - fixtures
    connections,
    fake_crm,
    hubspot_body,
    pipedrive_body,
    salesforce_body,
)
from followups.tests.conftest import lost_deal, redis_clean, sequence, smtp_inbox, workers  # noqa: F401


@contextmanager
def broker_at(url: str):
    """This process publishes to `url` until the block ends, then to the real broker again."""
    from kombu import pools

    from closedlost.celery import app

    def point(address: str) -> None:
        app.pool.force_close_all()
        app._pool = None  # the next publish opens connections to the new address
        app.amqp._producer_pool = None
        pools.reset()  # kombu's producer pools, keyed by address, closed and forgotten
        app.conf.broker_url = address

    real = app.conf.broker_url
    point(url)
    try:
        yield
    finally:
        point(real)
