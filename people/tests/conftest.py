"""The follow-ups' real SMTP server and Celery workers, for the people journeys."""

from followups.tests.conftest import redis_clean, sequence, smtp_inbox, workers  # noqa: F401
