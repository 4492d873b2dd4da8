import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
application = get_wsgi_application()

# Load now what a worker's first request would otherwise load: the URLconf and every view
# module it imports (the API schema generator among them), about half a second of imports.
# gunicorn imports this module in each worker before the worker accepts connections, so a
# fresh or restarted worker does not make the reviewers it is handed wait for that.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018 - the attribute read is the import
