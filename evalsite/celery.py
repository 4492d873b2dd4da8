"""The Celery app `evalsite` (`celery -A evalsite worker`), configured from Django settings."""

import os
import sys

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
# Celery's Django fixup runs Django's system checks when a worker starts; the URL checks import
# the whole URLconf (the API, DRF, drf_spectacular, the report builder with numpy): ~30 MB in
# the worker's main process, inherited by every pool process, for code no task runs. The checks
# still run where they belong: `manage.py check`, `migrate`, `runserver` and the test runner.
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")

app = Celery("evalsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def worker_command(*, pool: str = "prefork", concurrency: int = 2, loglevel: str = "INFO", hostname: str = "") -> list:
    """The command line of a worker that the test suite or a benchmark starts with this Python:
    one worker alone on its broker, so without gossip, mingle and the event heartbeat."""
    command = [sys.executable, "-m", "celery", "-A", "evalsite", "worker", f"--loglevel={loglevel}"]
    command += [f"--pool={pool}", f"--concurrency={concurrency}"]
    if hostname:
        command.append(f"--hostname={hostname}")
    return [*command, "--without-gossip", "--without-mingle", "--without-heartbeat"]
