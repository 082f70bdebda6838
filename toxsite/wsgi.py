"""WSGI entry point: ``gunicorn toxsite.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toxsite.settings")

application = get_wsgi_application()
