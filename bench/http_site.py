"""Settings for bench_http.py: the production settings, with the URLs of bench/http_urls.py.

bench_http.py puts this folder on PYTHONPATH and sets DJANGO_SETTINGS_MODULE=http_site.
"""

from toxsite.settings import *  # noqa: F403

ROOT_URLCONF = "http_urls"
