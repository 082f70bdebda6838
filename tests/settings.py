"""Settings for the test run: the production settings, with a key that signs nothing outside the tests.

pytest-django imports the settings before any conftest runs, so the key is set here.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-key-not-used-anywhere-else")

from toxsite.settings import *  # noqa: F403

# Serve static files from the source folders: no collectstatic (and no manifest) before a test run.
WHITENOISE_AUTOREFRESH = True
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
