"""Settings for bench_crm.py's gunicorn server: the app's settings with the bench URLs."""

from closedlost.settings import *  # noqa: F403

ROOT_URLCONF = "bench.crm_urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
