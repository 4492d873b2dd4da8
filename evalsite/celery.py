"""The Celery app `evalsite` (`celery -A evalsite worker`), configured from Django settings."""

import os

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
